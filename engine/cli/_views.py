"""The table ``ripple run`` prints after a run: the nodes that did not hit, counts and outputs."""

from __future__ import annotations

from typing import Any

from engine import events as ev
from engine._text import clip
from engine.core.render import STATUS_STYLE

#: beyond this many nodes, cached rows are summarised in one line unless ``verbose``
COMPACT_ABOVE = 40


def _say(console: Any, *parts: tuple[str, str]) -> None:
    """One line of ``(text, style)`` parts: styled on a rich console, the bare text on a plain one."""
    if getattr(console, "plain", False):
        console.print("".join(text for text, _ in parts))
        return
    from rich.text import Text

    console.print(Text.assemble(*parts))


def print_run(console: Any, driver: Any, result: Any, *, verbose: bool = False, quiet: bool = False,
              err: Any = None) -> None:
    """The run's table, summary line and output previews; a failure's traceback and message go to
    ``err`` (stderr, by default). ``quiet``: just the summary line (and the failure). ``console``
    may be plain (:class:`engine.cli._common.PlainConsole`): a table is then drawn by rich anyway."""
    from engine.cli._common import _console

    records = list(result.records.values())
    hidden = 0
    if not verbose and len(records) > COMPACT_ABOVE:
        shown = [r for r in records if r.status != ev.CACHED]
        hidden = len(records) - len(shown)
        records = shown
    if records and not quiet:
        from rich.table import Table  # a run with nothing but hits has no table to draw
        from rich.text import Text

        if getattr(console, "plain", False):
            console = _console()
        table = Table(title=f"run {result.run_id}", title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("node")
        table.add_column("status")
        table.add_column("seconds", justify="right")
        table.add_column("why", overflow="fold")
        for rec in records:
            style = STATUS_STYLE.get(rec.status, "")
            why = rec.why if rec.status != ev.FAILED else clip(f"{rec.error_type}: {rec.error}", 200)
            table.add_row(rec.name, Text(rec.status, style=style), f"{rec.seconds:.3f}", why)
        console.print(table)
    if hidden and not quiet:
        _say(console, (f"… {hidden} cached nodes not listed (--verbose lists every node)", "dim"))
    counts = {s: result.count(s) for s in (ev.RAN, ev.CACHED, ev.FAILED, ev.SKIPPED)}
    total = sum(counts.values())
    rate = counts[ev.CACHED] / total if total else 0.0
    _say(console, (f"{result.status.upper()} ", "bold green" if result.status == "ok" else "bold red"),
         (f"in {result.seconds:.2f}s: {counts[ev.RAN]} ran, {counts[ev.CACHED]} cached "
          f"({rate:.0%} hit rate), {counts[ev.FAILED]} failed, {counts[ev.SKIPPED]} skipped", ""))
    if result.error is not None:
        err = err or _console(stderr=True)
        rec = result.records[result.failed_node]
        node = driver.graph.nodes.get(result.failed_node)
        _say(err, (rec.traceback.rstrip(), "dim"))
        where = f" ({node.location})" if node else ""
        _say(err, (f"node {result.failed_node}{where} failed: {clip(f'{rec.error_type}: {rec.error}', 500)}",
                   "bold red"))
        err.print("Fix the cause and run again: everything that succeeded is cached, only the failed "
                  "node and its dependents will run.")
        return
    from engine._text import summarize

    if quiet:
        return
    for name, value in result.outputs.items():
        _say(console, (f"{name}: ", "bold"), (summarize(value, min(console.width, 120) - len(name) - 2), ""))
