from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from engine import events as ev
from engine._text import clip
from engine.core.render import STATUS_STYLE
from engine.live.protocol import DATA_LEVELS, OUTPUT_LEVEL

# ============================================================================================ CLI views


class _JsonView:
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Message) and event.level in DATA_LEVELS:
            return
        with self.lock:
            sys.stdout.write(event.to_json() + "\n")
            sys.stdout.flush()


def _first_line(text: str) -> str:
    """An error message without the traceback an internal error may carry (``RIPPLE_DEBUG=1`` keeps it)."""
    if os.environ.get("RIPPLE_DEBUG") or "\n" not in text:
        return text
    return text.split("\n", 1)[0].rstrip() + " (run with RIPPLE_DEBUG=1 for the traceback)"


class _PlainView:
    """One line per thing worth knowing; cached nodes are counted, not listed. Errors and warnings
    go to stderr (prefixed ``ripple:``), everything else to stdout."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def line(self, text: str, stream: Any = None) -> None:
        with self.lock:
            out = stream or sys.stdout
            out.write(text + "\n")
            out.flush()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Message):
            if event.level in DATA_LEVELS:
                return
            if event.level == OUTPUT_LEVEL:
                self.line(f"  | {event.text}")
                return
            text = _first_line(event.text) if event.level == "error" else event.text
            where = f"{event.file}:{event.line}: " if event.file and event.file not in text else ""
            prefix = {"error": "ripple: error: ", "warning": "ripple: warning: "}.get(event.level, "")
            self.line(f"{prefix}{where}{text}", sys.stderr if prefix else None)
        elif isinstance(event, ev.RunStarted):
            self.line(f"run {event.run_id}: {len(event.nodes)} nodes")
        elif isinstance(event, ev.NodeFinished):
            self.line(f"  ran     {event.node} ({event.seconds:.2f}s)")
        elif isinstance(event, ev.NodeFailed):
            where = f" at {event.file}:{event.line}" if event.file else ""
            self.line(f"  FAILED  {event.node}{where}: {event.error_type}: {event.error}")
        elif isinstance(event, ev.RunFinished):
            err = f" ({event.error})" if event.error else ""
            self.line(f"run {event.status}: {event.ran} ran, {event.cached} cached, {event.failed} failed, "
                      f"{event.skipped} skipped in {event.seconds:.2f}s{err}")


class _LiveView:
    """A rich table of the current run's nodes, with change summaries and output printed above it."""

    GLYPH = {ev.PENDING: ("·", "dim"), ev.RUNNING: ("▶", "yellow"), ev.RAN: ("✓", "green"),
             ev.CACHED: ("●", "cyan"), ev.FAILED: ("✗", "red"), ev.SKIPPED: ("-", "dim")}

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.lock = threading.Lock()
        self.states: dict[str, tuple[str, str]] = {}
        self.status = "starting"
        # redrawn on events only: an idle watch costs nothing (a 12 Hz refresh cost ~16% of a core)
        self.live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)

    def _render(self) -> Any:
        from rich.table import Table

        t = Table(title=f"ripple watch — {self.status}", title_justify="left", expand=False)
        t.add_column("", width=1)
        t.add_column("node")
        t.add_column("", justify="right")
        for name, (state, extra) in list(self.states.items())[-60:]:
            glyph, style = self.GLYPH.get(state, ("?", ""))
            t.add_row(f"[{style}]{glyph}[/]", name, extra)
        return t

    def __call__(self, event: ev.Event) -> None:
        with self.lock:
            if isinstance(event, ev.Message):
                if event.level in DATA_LEVELS:
                    return
                style = {"error": "red", "warning": "yellow"}.get(event.level, "")
                text = event.text if event.level != OUTPUT_LEVEL else f"  | {event.text}"
                where = f"{event.file}:{event.line}: " if event.file and event.file not in text else ""
                self.live.console.print(f"{where}{text}", style=style, markup=False, highlight=False)
                return
            if isinstance(event, ev.RunStarted):
                self.states = {n: (ev.PENDING, "") for n in event.nodes}
                self.status = "running"
            elif isinstance(event, ev.NodeStarted):
                self.states[event.node] = (ev.RUNNING, "")
            elif isinstance(event, ev.NodeFinished):
                self.states[event.node] = (ev.RAN, f"{event.seconds:.2f}s")
            elif isinstance(event, ev.NodeCached):
                self.states[event.node] = (ev.CACHED, "cached")
            elif isinstance(event, ev.NodeFailed):
                self.states[event.node] = (ev.FAILED, f"{event.error_type}: {event.error}"[:60])
            elif isinstance(event, ev.NodeSkipped):
                self.states[event.node] = (ev.SKIPPED, event.reason)
            elif isinstance(event, ev.RunFinished):
                self.status = (f"{event.status}: {event.ran} ran, {event.cached} cached, {event.failed} failed "
                               f"in {event.seconds:.2f}s — watching")
            self.live.update(self._render(), refresh=True)


#: beyond this many nodes, cached rows are summarised in one line unless ``verbose``
COMPACT_ABOVE = 40


def print_run(console: Console, driver: Any, result: Any, *, verbose: bool = False, quiet: bool = False,
              err: Console | None = None) -> None:
    """The run's table, summary line and output previews; a failure's traceback and message go to
    ``err`` (stderr). ``quiet``: just the summary line (and the failure)."""
    err = err or console
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
        why = rec.why if rec.status != ev.FAILED else clip(f"{rec.error_type}: {rec.error}", 200)
        table.add_row(rec.name, Text(rec.status, style=style), f"{rec.seconds:.3f}", why)
    if records and not quiet:
        console.print(table)
    if hidden and not quiet:
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
        err.print(Text(rec.traceback.rstrip(), style="dim"))
        where = f" ({node.location})" if node else ""
        err.print(Text(f"node {result.failed_node}{where} failed: {clip(f'{rec.error_type}: {rec.error}', 500)}",
                       style="bold red"))
        err.print("Fix the cause and run again: everything that succeeded is cached, only the failed "
                      "node and its dependents will run.")
        return
    from engine._text import summarize

    if quiet:
        return
    for name, value in result.outputs.items():
        console.print(Text.assemble((f"{name}: ", "bold"), summarize(value, min(console.width, 120) - len(name) - 2)))


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
