"""Replay recorded runs into the dashboard: deterministic tests, demos and benchmarks.

A recording is JSON lines: an optional first line ``{"type": "ripple_tui_graph", ...}`` holding the
graph, then engine events exactly as ``Event.to_json`` wrote them. ``ReplayController`` implements
the same interface as the real ``RunController``, so the app under test is the app users get; only
the source of events differs.

    python -m tui.replay record PIPELINE OUT.jsonl [--runs 2]    # run in-process, write events
    python -m tui.replay play OUT.jsonl                           # watch it; r plays the next run
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from engine import events as ev
from tui.backend.buffer import EventBuffer
from tui.state.graph import GraphInfo
from tui.state.notices import GraphLoaded, WatchState

GRAPH_TYPE = "ripple_tui_graph"


def load_recording(path: str | Path) -> tuple[GraphInfo | None, list[list[ev.Event]]]:
    """(graph, runs): events split into one list per run, each starting at its ``RunStarted``."""
    graph: GraphInfo | None = None
    lines: list[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if graph is None and GRAPH_TYPE in line and line.lstrip().startswith("{\"type\""):
            graph = GraphInfo.from_dict(json.loads(line))
            continue
        lines.append(line)
    return graph, split_runs(ev.read_jsonl(lines))


def split_runs(events: Iterable[ev.Event]) -> list[list[ev.Event]]:
    runs: list[list[ev.Event]] = []
    for e in events:
        if isinstance(e, ev.RunStarted) or not runs:
            runs.append([])
        runs[-1].append(e)
    return runs


class ReplayController:
    """Feeds recorded runs into the buffer; run/resume/recompute play the next recorded run.

    ``feed(n)`` pushes the next ``n`` events of the current run, so a test can freeze the screen in
    the middle of a run. Every action is appended to ``calls`` for assertions.
    """

    def __init__(self, runs: Sequence[Sequence[Any]], *, graph: GraphInfo | None = None, autoplay: bool | int = True,
                 watch_available: bool = True, watching: bool = False, pipeline: str = "") -> None:
        self.buffer = EventBuffer()
        self.runs = [list(r) for r in runs]
        self.graph = graph
        self.pipeline = pipeline or (graph.pipeline if graph else "")
        self.autoplay = autoplay
        self.watch_available = watch_available
        self.watching = watching
        self.calls: list[tuple[str, Any]] = []
        self._run = -1
        self._pos = 0

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> ReplayController:
        graph, runs = load_recording(path)
        return cls(runs, graph=graph, **kwargs)

    # ---------------------------------------------------------------- controller interface
    def start(self) -> None:
        self.calls.append(("start", None))
        if self.graph is not None:
            self.buffer.push(GraphLoaded(self.graph))
        if self.watching:
            self.buffer.push(WatchState(True))
        if self.autoplay is not False:
            self._next_run(None if self.autoplay is True else int(self.autoplay))

    def run(self, *, recompute: Sequence[str] = ()) -> bool:
        self.calls.append(("run", list(recompute)))
        return self._next_run(None)

    def resume(self) -> bool:
        self.calls.append(("resume", None))
        return self._next_run(None)

    def stop(self) -> None:
        self.calls.append(("stop", None))
        self.buffer.push(ev.RunFinished(self.current_run_id, 0.0, status="cancelled"))

    def set_watch(self, on: bool) -> bool:
        self.calls.append(("watch", on))
        self.watching = on
        self.buffer.push(WatchState(on))
        return on

    def close(self) -> None:
        self.calls.append(("close", None))

    # ---------------------------------------------------------------- feeding
    @property
    def current_run_id(self) -> str:
        if 0 <= self._run < len(self.runs) and self.runs[self._run]:
            return self.runs[self._run][0].run_id
        return ""

    def _next_run(self, count: int | None) -> bool:
        if self._run + 1 >= len(self.runs):
            return False
        self._run += 1
        self._pos = 0
        self.feed(count)
        return True

    def feed(self, count: int | None = None) -> int:
        """Push the next ``count`` events of the current run (all that remain if None)."""
        if not 0 <= self._run < len(self.runs):
            return 0
        items = self.runs[self._run]
        end = len(items) if count is None else min(len(items), self._pos + count)
        chunk = items[self._pos:end]
        self._pos = end
        self.buffer.extend(chunk)
        return len(chunk)
