"""What ``ripple watch`` prints while it runs: JSON lines, plain lines or a live table of nodes."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from engine import events as ev
from engine.live.protocol import DATA_LEVELS, OUTPUT_LEVEL


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
