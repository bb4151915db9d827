"""The one watch loop: a watcher, a warm worker and one isolated run at a time.

``ripple watch`` and the dashboard both drive this class, so cancel-on-save, one-run-at-a-time and
error recovery live in one place: a save during a run cancels it and starts a new one (or, with
``let_finish=True``, queues one run after it); a run that could not get going (load or graph error)
marks the watcher dirty, so the next save runs even without a code change; the watcher can be turned
off and on while runs go on, and learns the graph and the files nodes read from every run.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from engine import events as ev
from engine.live.isolated import IsolatedRun
from engine.live.protocol import DATA_LEVELS, MAX_ANALYSES, RunOutcome, RunRequest
from engine.live.watcher import DEFAULT_DEBOUNCE, ChangeSet, Watcher
from engine.live.worker import WarmWorker


class WatchLoop:
    """``on_event`` receives every run event (including the ``graph``/``files`` data messages, which
    views should skip) plus a ``Message`` per change (run_id ``"watch"``). ``on_outcome`` receives
    each run's outcome; ``outcome.superseded`` says a newer run is about to replace it."""

    def __init__(self, request: RunRequest, on_event: Callable[[ev.Event], None], *,
                 debounce: float = DEFAULT_DEBOUNCE, let_finish: bool = False, warm: bool = True,
                 on_change: Callable[[ChangeSet], None] | None = None,
                 on_outcome: Callable[[RunOutcome], None] | None = None) -> None:
        self.request = RunRequest.from_dict({**request.to_dict(), "describe": True,
                                             "cwd": os.path.realpath(request.cwd or os.getcwd())})
        self.on_event = on_event
        self.on_change_cb = on_change
        self.on_outcome = on_outcome
        self.let_finish = let_finish
        self.warm = warm
        self.debounce = debounce
        self.watcher: Watcher | None = None
        #: the watcher turned off last: what it saw is the baseline when watch comes back on
        self._paused: Watcher | None = None
        self.worker: WarmWorker | None = None
        self.current: IsolatedRun | None = None
        self.outcomes: list[RunOutcome] = []
        self._lock = threading.RLock()
        self._pending: list[str] | None = None
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
        self._data_messages: dict[str, ev.Message] = {}
        #: the watcher's analyses of saved files (``RunRequest.analyses``), handed to every run until
        #: one that had them finishes: a run cancelled by the next save has not used them yet
        self._analyses: dict[str, str] = {}

    # ---------------------------------------------------------------- lifecycle
    def start(self, run_now: bool = True, *, watch: bool = True) -> None:
        if self.warm:
            try:
                self.worker = WarmWorker(self.request.pipeline, self.request.cwd)
            except Exception as exc:  # noqa: BLE001 - a warm worker only saves start-up time
                self.on_event(ev.Message("watch", time.time(), level="warning", text=f"no warm worker: {exc}"))
        if watch:
            self.set_watch(True)
        if run_now:
            self.trigger()

    def stop(self) -> None:
        """Stop everything; returns when no child process of this loop remains."""
        with self._lock:
            self._closed = True
            self._pending = None
            cur = self.current
        self.set_watch(False)
        if cur is not None:
            cur.stop(timeout=1.0)
        if self.worker is not None:
            self.worker.close()

    @property
    def watching(self) -> bool:
        return self.watcher is not None

    def set_watch(self, on: bool) -> bool:
        """Start or stop watching; a watcher started late learns the graph and reads of the last run.
        Turned back on, it catches up: saves made while watch was off are analysed (and run) at once."""
        paused = None
        with self._lock:
            if on and self.watcher is None and not self._closed:
                watcher = Watcher(self.request.pipeline, self._on_change, self.debounce, self.request.cwd,
                                  sources=self.request.generated_from, regenerate=self.request.regenerate)
                watcher.start()
                for message in self._data_messages.values():
                    watcher.feed(message)
                self.watcher = watcher
                paused, self._paused = self._paused, None
            elif not on and self.watcher is not None:
                watcher, self.watcher = self.watcher, None
                watcher.stop()
                self._paused = None if self._closed else watcher
            watching = self.watcher is not None
        if paused is not None:
            self._catch_up(paused)
        return watching

    def _catch_up(self, old: Watcher) -> None:
        """What the watcher turned off would have seen: every file it knew, compared with then."""
        try:
            cs = old.analyze(sorted(old.code_files | set(old.data_files)))
        except Exception as exc:  # noqa: BLE001 - catching up is a convenience, never a crash
            self.on_event(ev.Message("watch", time.time(), level="warning", text=f"could not check saves made "
                                                                                 f"while watch was off: {exc}"))
            return
        if cs is not None:
            cs.summary = f"while watch was off: {cs.summary}"
            self._on_change(cs)

    # ---------------------------------------------------------------- runs
    @property
    def running(self) -> bool:
        with self._lock:
            return self.current is not None and self.current.running

    def trigger(self, recompute: Sequence[str] = (), *, reason: str = "stopped by user") -> None:
        """Run now: cancel (or, with ``let_finish``, queue after) a run that is going; ``reason`` is
        what the cancelled run's outcome says."""
        with self._lock:
            if self._closed:
                return
            cur = self.current
            if cur is not None and cur.running:
                self._pending = list(recompute)
                if self.let_finish:
                    return
            else:
                self._start_locked(list(recompute))
                return
        cur.stop(reason=reason)  # its outcome starts the pending run

    def cancel(self) -> None:
        """Stop the current run (and forget a queued one) without closing the loop."""
        with self._lock:
            self._pending = None
            cur = self.current
        if cur is not None:
            cur.stop()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def _start_locked(self, recompute: list[str]) -> None:
        self._idle.clear()
        request = replace(self.request, recompute=recompute or list(self.request.recompute), run_id=None,
                          analyses=dict(self._analyses))
        kwargs = {"worker": self.worker} if self.worker is not None else {}
        run = IsolatedRun(request, self._on_event, on_done=self._on_done, **kwargs)
        self.current = run
        try:
            run.start()
        except OSError as exc:
            self.current = None
            self._idle.set()
            self.on_event(ev.Message("watch", time.time(), level="error", text=f"could not start a run: {exc}"))

    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Message) and event.level in DATA_LEVELS:
            self._data_messages[event.level] = event
            watcher = self.watcher
            if watcher is not None:
                watcher.feed(event)
        self.on_event(event)

    def _on_done(self, outcome: RunOutcome) -> None:
        self.outcomes.append(outcome)
        watcher = self.watcher
        if outcome.status == "error" and watcher is not None:
            watcher.mark_dirty()
        with self._lock:
            pending = self._pending if not self._closed else None
            self._pending = None
            if pending is None and self.current is not None:
                for key in self.current.request.analyses:
                    self._analyses.pop(key, None)
        outcome.superseded = pending is not None
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        with self._lock:
            if pending is not None and not self._closed:
                self._start_locked(pending)
            else:
                self.current = None
                self._idle.set()

    def _on_change(self, cs: ChangeSet) -> None:
        err = cs.error
        self.on_event(ev.Message("watch", time.time(), level="error" if err else "info", text=cs.summary,
                                 file=err.file if err else "", line=err.line if err else 0))
        if self.on_change_cb is not None:
            self.on_change_cb(cs)
        if cs.should_run:
            with self._lock:
                self._analyses.update(cs.analyses)
                while sum(map(len, self._analyses.values())) > MAX_ANALYSES:
                    del self._analyses[next(iter(self._analyses))]  # the oldest
            self.trigger(reason="cancelled by a save")
