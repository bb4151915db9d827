"""Rich rendering of a finished run for the CLI, and a live progress line while it runs."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from . import events as ev
from .render import STATUS_STYLE

#: beyond this many nodes, cached rows are summarised in one line unless ``verbose``
COMPACT_ABOVE = 40


def print_run(console: Console, driver: Any, result: Any, *, verbose: bool = False) -> None:
    table = Table(title=f"run {result.run_id}", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("node")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    table.add_column("why", overflow="fold")
    records = list(result.records.values())
    hidden = 0
    if not verbose and len(records) > COMPACT_ABOVE:
        shown = [r for r in records if r.status != ev.CACHED]
        hidden = len(records) - len(shown)
        records = shown
    for rec in records:
        style = STATUS_STYLE.get(rec.status, "")
        why = rec.why if rec.status != ev.FAILED else _clip(f"{rec.error_type}: {rec.error}", 200)
        table.add_row(rec.name, Text(rec.status, style=style), f"{rec.seconds:.3f}", why)
    if records:
        console.print(table)
    if hidden:
        console.print(Text(f"… {hidden} cached nodes not listed (--verbose lists every node)", style="dim"))
    counts = {s: result.count(s) for s in (ev.RAN, ev.CACHED, ev.FAILED, ev.SKIPPED)}
    total = sum(counts.values())
    rate = counts[ev.CACHED] / total if total else 0.0
    line = Text(f"{result.status.upper()} ", style="bold green" if result.status == "ok" else "bold red")
    line.append(f"in {result.seconds:.2f}s: {counts[ev.RAN]} ran, {counts[ev.CACHED]} cached "
                f"({rate:.0%} hit rate), {counts[ev.FAILED]} failed, {counts[ev.SKIPPED]} skipped")
    console.print(line)
    if result.error is not None:
        rec = result.records[result.failed_node]
        node = driver.graph.nodes.get(result.failed_node)
        console.print(Text(rec.traceback.rstrip(), style="dim"))
        where = f" ({node.location})" if node else ""
        console.print(Text(f"node {result.failed_node}{where} failed: {_clip(f'{rec.error_type}: {rec.error}', 500)}",
                           style="bold red"))
        console.print("Fix the cause and run again: everything that succeeded is cached, only the failed "
                      "node and its dependents will run.")
        return
    from .cli import summarize

    for name, value in result.outputs.items():
        console.print(Text.assemble((f"{name}: ", "bold"), summarize(value, console.width - len(name) - 2)))


def _clip(text: str, width: int) -> str:
    from .cli import _clip as clip

    return clip(str(text), width)


class LiveProgress:
    """A one-line spinner with counts, fed by run events (never reaches into the executor)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.total = 0
        self.done = 0
        self.current = ""
        self.t0 = time.perf_counter()
        self.live = Live(self._render(), console=console, transient=True, refresh_per_second=10)

    def _render(self) -> Text:
        return Text(f"⠿ {self.done}/{self.total} nodes  {time.perf_counter() - self.t0:5.1f}s  {self.current}",
                    style="dim")

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self.total = len(event.nodes)
        elif isinstance(event, ev.NodeStarted):
            self.current = event.node
        elif isinstance(event, ev.NodeFinished | ev.NodeCached | ev.NodeFailed | ev.NodeSkipped):
            if event.task is None if hasattr(event, "task") else True:
                self.done += 1
        self.live.update(self._render())

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)
