from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from engine import events as ev
from engine.live.isolated import IsolatedRun
from engine.live.protocol import RunOutcome, RunRequest
from engine.live.watcher import DEFAULT_DEBOUNCE, ChangeSet, Watcher
from engine.live.worker import WarmWorker

# ============================================================================================ watch loop


class WatchLoop:
    """Watcher + warm worker + one isolated run at a time: the engine of watch mode.

    ``on_event`` receives every run event (including the ``graph``/``files`` data messages, which
    views should skip) plus a ``Message`` per change (run_id ``"watch"``). A save during a run
    cancels it and starts a new one, or with ``let_finish=True`` queues one run after it.
    """

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
        self.watcher = Watcher(self.request.pipeline, self._on_change, debounce, self.request.cwd)
        self.worker: WarmWorker | None = None
        self.current: IsolatedRun | None = None
        self.outcomes: list[RunOutcome] = []
        self._lock = threading.RLock()
        self._pending = False
        self._closed = False
        self._idle = threading.Event()

    def start(self, run_now: bool = True) -> None:
        if self.warm:
            self.worker = WarmWorker(self.request.pipeline, self.request.cwd)
        self.watcher.start()
        if run_now:
            self.trigger()

    def stop(self) -> None:
        """Stop everything; returns when no child process of this loop remains."""
        with self._lock:
            self._closed = True
            self._pending = False
            cur = self.current
        self.watcher.stop()
        if cur is not None:
            cur.stop(timeout=1.0)
        if self.worker is not None:
            self.worker.close()

    def trigger(self) -> None:
        """Run now: cancel (or, with ``let_finish``, queue after) a run that is going."""
        with self._lock:
            if self._closed:
                return
            cur = self.current
            if cur is not None and cur.running:
                self._pending = True
                if self.let_finish:
                    return
            else:
                self._start_locked()
                return
        cur.stop()  # its on_done starts the pending run

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def _start_locked(self) -> None:
        self._idle.clear()
        run = IsolatedRun(self.request, self._on_event, worker=self.worker, on_done=self._on_done)
        self.current = run
        try:
            run.start()
        except OSError as exc:
            self.current = None
            self._idle.set()
            self.on_event(ev.Message("watch", time.time(), level="error", text=f"could not start a run: {exc}"))

    def _on_event(self, event: ev.Event) -> None:
        self.watcher.feed(event)
        self.on_event(event)

    def _on_done(self, outcome: RunOutcome) -> None:
        self.outcomes.append(outcome)
        if outcome.status == "error":
            self.watcher.mark_dirty()
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        with self._lock:
            if self._pending and not self._closed:
                self._pending = False
                self._start_locked()
            else:
                self._idle.set()

    def _on_change(self, cs: ChangeSet) -> None:
        err = cs.error
        self.on_event(ev.Message("watch", time.time(), level="error" if err else "info", text=cs.summary,
                                 file=err.file if err else "", line=err.line if err else 0))
        if self.on_change_cb is not None:
            self.on_change_cb(cs)
        if cs.should_run:
            self.trigger()
