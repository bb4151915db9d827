from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from engine import events as ev
from engine.live.loop import WatchLoop
from engine.live.protocol import DATA_LEVELS, GraphDocument, RunOutcome, RunRequest
from engine.live.watcher import ChangeSet
from tui.backend.buffer import EventBuffer
from tui.state.graph import GraphInfo
from tui.state.notices import (
    ChangeDetected,
    GraphLoaded,
    GraphProblem,
    Lifetime,
    NodeHistory,
    RunEnded,
    WatchState,
)


class Controller(Protocol):
    """What the app asks of its engine side; the real one and the replay one both implement it."""

    buffer: EventBuffer
    pipeline: str
    watch_available: bool
    watching: bool

    def start(self) -> None: ...
    def run(self, *, recompute: Sequence[str] = ()) -> bool: ...
    def resume(self) -> bool: ...
    def stop(self) -> None: ...
    def set_watch(self, on: bool) -> bool: ...
    def close(self) -> None: ...


@dataclass
class Settings(RunRequest):
    """The run request as the user gave it on the command line, plus whether to watch."""

    watch: bool = True


# ------------------------------------------------------------------------------------- graph dump

def _history(store_dir: str, order: list[str]) -> tuple[Lifetime | None, dict[str, list[float]],
                                                         dict[str, list[str | None]]]:
    """Lifetime hit counts, recent durations and newest versions from the run history (read-only;
    the history is engine data, reading it never imports user code)."""
    from engine.store import DB_NAME, Store

    if not store_dir or not os.path.exists(os.path.join(store_dir, DB_NAME)):
        return None, {}, {}
    hist: dict[str, list[float]] = {}
    versions: dict[str, list[str | None]] = {}
    with Store(store_dir) as st:
        runs = st.runs(limit=200)
        life = Lifetime(sum(r.ran for r in runs), sum(r.cached for r in runs))
        if len(order) <= 500:
            for name, recs in st.node_histories(order, 20).items():
                secs = [h.seconds for h in recs if h.seconds is not None and not h.hit]
                if secs:
                    hist[name] = secs[::-1]
                if recs and (recs[0].code_version or recs[0].data_version):
                    versions[name] = [recs[0].code_version, recs[0].data_version]
    return life, hist, versions



@dataclass(slots=True)
class GraphDump:
    graph: GraphInfo | None
    problem: GraphProblem | None = None
    lifetime: Lifetime | None = None
    history: dict[str, list[float]] = field(default_factory=dict)


def dump_graph(settings: Settings, timeout: float = 60.0) -> GraphDump:
    """Ask a fresh interpreter for the graph, so the dashboard never holds stale user code."""
    cmd = [sys.executable, "-m", "engine.cli", "graph", settings.pipeline, "--format", "json"]
    for k, v in settings.config.items():
        cmd += ["--config", f"{k}={v}"]
    if settings.cache_dir:
        cmd += ["--cache-dir", settings.cache_dir]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=settings.cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return GraphDump(None, GraphProblem(f"could not load the graph: {exc}"))
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    try:
        doc = json.loads(last)
    except json.JSONDecodeError:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return GraphDump(None, GraphProblem(f"could not load the graph: {tail}"))
    if doc.get("status") == "error":
        err = doc["error"]
        return GraphDump(None, GraphProblem(err["message"], err.get("file") or "", int(err.get("line") or 0)))
    try:
        life, hist, versions = _history(doc.get("store_dir", ""), doc["order"])
    except Exception:  # noqa: BLE001 - a damaged history only costs the sparklines
        life, hist, versions = None, {}, {}
    doc["versions"] = versions
    return GraphDump(GraphInfo.from_dict(doc), None, life, hist)


# ------------------------------------------------------------------------------------- child runs

class RunController:
    """The dashboard's side of :class:`engine.live.loop.WatchLoop`: it only translates the loop's events,
    changes and outcomes into notices for the buffer, and loads the graph for the first paint."""

    def __init__(self, settings: Settings, buffer: EventBuffer | None = None) -> None:
        self.settings = settings
        self.pipeline = settings.pipeline
        self.buffer = buffer or EventBuffer()
        self._graph: GraphInfo | None = None
        self.watch_available = True
        request = RunRequest.from_dict({**settings.to_dict(), "capture_output": True})
        self.loop = WatchLoop(request, self._on_event, on_change=self._on_change, on_outcome=self._on_outcome)

    @property
    def watching(self) -> bool:
        return self.loop.watching

    @property
    def running(self) -> bool:
        return self.loop.running

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Load the graph, start watching and the first run, all off the UI thread."""
        threading.Thread(target=self._start, daemon=True, name="ripple-tui-start").start()

    def _start(self) -> None:
        self.loop.start(run_now=True, watch=False)
        self.refresh_graph(with_history=True)
        if self.settings.watch:
            self._set_watch(True)

    def refresh_graph(self, *, with_history: bool = False) -> bool:
        dump = dump_graph(self.settings)
        if dump.graph is None:
            self.buffer.push(dump.problem or GraphProblem("could not load the graph"))
            return False
        self._graph = dump.graph
        self.buffer.push(GraphLoaded(dump.graph))
        if with_history:
            if dump.lifetime is not None:
                self.buffer.push(dump.lifetime)
            if dump.history:
                self.buffer.push(NodeHistory(dump.history))
        return True

    def close(self) -> None:
        try:
            self.loop.stop()
        except Exception:  # noqa: BLE001 - closing on exit is best effort
            pass

    # ---------------------------------------------------------------- runs
    def run(self, *, recompute: Sequence[str] = ()) -> bool:
        threading.Thread(target=self.loop.trigger, args=(list(recompute),), daemon=True, name="ripple-tui-run").start()
        return True

    def resume(self) -> bool:
        """A failed run resumes by running again: everything that succeeded is a cache hit now."""
        return self.run()

    def stop(self) -> None:
        threading.Thread(target=self.loop.cancel, daemon=True, name="ripple-tui-stop").start()

    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Message) and event.level in DATA_LEVELS:
            if event.level == "graph":
                self._described(event.text)
            return
        if isinstance(event, ev.Message) and event.run_id == "watch" and (event.level == "info" or event.file):
            return  # the loop's change summaries arrive as ChangeDetected (and GraphProblem)
        self.buffer.push(event)

    def _described(self, text: str) -> None:
        """Each run describes the graph it loaded: fresher than any dump, and free."""
        try:
            doc = GraphDocument.from_json(text)
        except ValueError:
            return
        graph = GraphInfo.from_describe(doc, self._graph)
        if graph is not None:
            self._graph = graph
            self.buffer.push(GraphLoaded(graph))

    def _on_outcome(self, outcome: RunOutcome) -> None:
        if not outcome.superseded:
            self.buffer.push(RunEnded(outcome.run_id, outcome.status, outcome.reason))

    # ---------------------------------------------------------------- watching
    def set_watch(self, on: bool) -> bool:
        """Asynchronous (indexing the code takes a moment); the outcome arrives as ``WatchState``."""
        threading.Thread(target=self._set_watch, args=(on,), daemon=True, name="ripple-tui-watch").start()
        return True

    def _set_watch(self, on: bool) -> bool:
        try:
            watching = self.loop.set_watch(on)
        except Exception as exc:  # noqa: BLE001 - watching is optional; say why it is off
            self.buffer.push(ev.Message("", 0.0, level="warning", text=f"watch unavailable: {exc}"))
            watching = False
        self.buffer.push(WatchState(watching))
        return watching

    def _on_change(self, change: ChangeSet) -> None:
        """Called on the watcher's thread: report; the loop re-runs what the save affected."""
        err = change.error
        self.buffer.push(ChangeDetected(change.summary, [str(f) for f in change.files],
                                        list(change.changed_functions or ()), change.affected_nodes))
        if err is not None:
            self.buffer.push(GraphProblem(err.message, err.file, err.line))
