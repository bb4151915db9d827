from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from engine import events as ev
from engine.live.isolated import IsolatedRun
from engine.live.protocol import RunRequest
from engine.live.worker import WarmWorker
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
    """Owns the isolated runs, the watcher and the warm worker; reports only through the buffer."""

    def __init__(self, settings: Settings, buffer: EventBuffer | None = None) -> None:
        self.settings = settings
        self.pipeline = settings.pipeline
        self.buffer = buffer or EventBuffer()
        self._lock = threading.RLock()
        self._run: Any = None
        self._run_id: str | None = None
        self._recompute: list[str] = []
        self._watcher: Any = None
        self._worker: Any = None
        self._graph: GraphInfo | None = None
        self._data_messages: dict[str, ev.Message] = {}
        self._closed = False
        self.watching = False
        try:
            import engine.live.watcher  # noqa: F401
        except ImportError:
            self.watch_available = False
        else:
            self.watch_available = True

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Load the graph, start watching and the first run, all off the UI thread."""
        threading.Thread(target=self._start, daemon=True, name="ripple-tui-start").start()

    def _start(self) -> None:
        try:
            self._worker = WarmWorker(self.settings.pipeline, cwd=self.settings.cwd)
        except Exception as exc:  # noqa: BLE001 - a warm worker only saves start-up time
            self.buffer.push(ev.Message("", 0.0, level="warning", text=f"no warm worker: {exc}"))
            self._worker = None
        self._start_run([])
        self.refresh_graph(with_history=True)
        if self.settings.watch and self.watch_available:
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
        self._closed = True
        self._set_watch(False)
        with self._lock:
            run, self._run = self._run, None
        if run is not None:
            run.stop(timeout=1.0)
        if self._worker is not None:
            try:
                self._worker.close()
            except Exception:  # noqa: BLE001 - closing on exit is best effort
                pass

    # ---------------------------------------------------------------- runs
    def run(self, *, recompute: Sequence[str] = ()) -> bool:
        threading.Thread(target=self._start_run, args=(list(recompute),), daemon=True, name="ripple-tui-run").start()
        return True

    def resume(self) -> bool:
        """A failed run resumes by running again: everything that succeeded is a cache hit now."""
        return self.run()

    def stop(self) -> None:
        with self._lock:
            run = self._run
        if run is not None:
            threading.Thread(target=run.stop, daemon=True, name="ripple-tui-stop").start()

    @property
    def running(self) -> bool:
        with self._lock:
            return self._run is not None and bool(self._run.running)

    def _start_run(self, recompute: list[str]) -> None:
        with self._lock:
            if self._closed:
                return
            old = self._run
            if old is not None and old.running:
                old.stop()  # a newer request makes the running one outdated
            run_id = uuid.uuid4().hex[:12]
            request = replace(RunRequest.from_dict(self.settings.to_dict()), recompute=list(recompute),
                              run_id=run_id, describe=True, capture_output=True)
            self._run_id = run_id

            def on_event(event: ev.Event, run_id: str = run_id) -> None:
                if self._run_id != run_id:
                    return  # a superseded run: its late events would repaint the new run's rows
                if isinstance(event, ev.Message) and event.level in ("graph", "files"):
                    self._data_messages[event.level] = event
                    watcher = self._watcher
                    if watcher is not None:
                        watcher.feed(event)  # it learns the graph and the files nodes read
                    if event.level == "graph":
                        self._described(event.text)
                    return
                self.buffer.push(event)

            kwargs = {"worker": self._worker} if self._worker is not None else {}
            run = IsolatedRun(request, on_event, **kwargs)
            self._run = run
            try:
                run.start()
            except Exception as exc:  # noqa: BLE001 - show why the run could not start
                self.buffer.push(RunEnded(run_id, "error", f"could not start the run: {exc}"))
                self._run = None
                return
        threading.Thread(target=self._await, args=(run, run_id), daemon=True, name="ripple-tui-wait").start()

    def _described(self, text: str) -> None:
        """Each run describes the graph it loaded: fresher than any dump, and free."""
        try:
            doc = json.loads(text)
        except ValueError:
            return
        graph = GraphInfo.from_describe(doc, self._graph)
        if graph is not None:
            self._graph = graph
            self.buffer.push(GraphLoaded(graph))

    def _await(self, run: Any, run_id: str) -> None:
        outcome = run.wait()
        watcher = self._watcher
        if outcome.status == "error" and watcher is not None:
            watcher.mark_dirty()  # the run did not get going: the next save must run even without a code change
        if self._run_id == run_id:
            self.buffer.push(RunEnded(run_id, outcome.status, outcome.reason))

    # ---------------------------------------------------------------- watching
    def set_watch(self, on: bool) -> bool:
        """Asynchronous (indexing the code takes a moment); the outcome arrives as ``WatchState``."""
        if not self.watch_available:
            return False
        threading.Thread(target=self._set_watch, args=(on,), daemon=True, name="ripple-tui-watch").start()
        return True

    def _set_watch(self, on: bool) -> bool:
        if not self.watch_available:
            return False
        with self._lock:
            if on and self._watcher is None and not self._closed:
                from engine.live.watcher import Watcher

                try:
                    watcher = Watcher(self.settings.pipeline, self._on_change, cwd=self.settings.cwd)
                    watcher.start()
                    for message in self._data_messages.values():
                        watcher.feed(message)
                    self._watcher = watcher
                except Exception as exc:  # noqa: BLE001 - watching is optional; say why it is off
                    self._watcher = None
                    self.buffer.push(ev.Message("", 0.0, level="warning", text=f"watch unavailable: {exc}"))
                    return False
            elif not on and self._watcher is not None:
                watcher, self._watcher = self._watcher, None
                try:
                    watcher.stop()
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
            self.watching = self._watcher is not None
            self.buffer.push(WatchState(self.watching))
            return self.watching

    def _on_change(self, change: Any) -> None:
        """Called on the watcher's thread: report, refresh the graph, re-run what the save affected."""
        err = getattr(change, "error", None)
        self.buffer.push(ChangeDetected(change.summary, [str(f) for f in change.files],
                                        list(change.changed_functions or ()), change.affected_nodes))
        if err is not None:
            self.buffer.push(GraphProblem(getattr(err, "message", str(err)), getattr(err, "file", ""),
                                          getattr(err, "line", 0)))
            return
        should_run = getattr(change, "should_run", None)
        if should_run is None:
            should_run = change.affected_nodes is None or bool(change.affected_nodes)
        if should_run:
            self._start_run([])  # the run describes the new graph; no separate dump needed
