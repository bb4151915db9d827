"""Helpers for tests that start real processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine import events as ev


def gone(pid: int, timeout: float = 3.0) -> bool:
    """True once ``pid`` no longer exists (a zombie still exists: it was not reaped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        time.sleep(0.01)
    return False


def default_sigint() -> None:
    """``preexec_fn`` for a child that must react to Ctrl-C like one started from a terminal: a shell
    starts background jobs (e.g. a test run launched with ``&``) with SIGINT ignored, and Python
    keeps an inherited SIG_IGN instead of raising KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def kill_batched_writer(root: object, body: str) -> subprocess.CompletedProcess[str]:
    """A child that opens the store at ``root`` and runs ``body`` (indented, ``st`` is the store)
    inside ``st.batch()``, then SIGKILLs itself before the batch is flushed; it must have died so."""
    code = (
        "import os, signal\n"
        "from engine.store import Store\n"
        f"st = Store({str(root)!r})\n"
        "with st.batch():\n"
        f"{body}"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == -9, out.stderr
    return out


@contextlib.contextmanager
def warm_worker(script: Path) -> Iterator[Any]:
    """A warm worker for ``script`` (run in its folder, nothing preloaded), closed and reaped after."""
    from engine.live.worker import WarmWorker

    w = WarmWorker(str(script), cwd=str(script.parent), preload=[])
    assert w.wait_ready(30)
    try:
        yield w
    finally:
        pid = w.pid
        w.close()
    assert pid is not None and gone(pid)


class Recorder:
    """Events and change sets from a watch loop or an isolated run, with condition-based waits."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.changes: list[Any] = []  # the loop's ChangeSets
        self.cond = threading.Condition()

    def on_event(self, event: ev.Event) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def on_outcome(self, outcome: object) -> None:
        with self.cond:
            self.cond.notify_all()

    def on_change(self, cs: Any) -> None:
        with self.cond:
            self.changes.append(cs)
            self.cond.notify_all()

    def wait(self, pred: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; changes={[c.summary for c in self.changes]} "
                                         f"events={[e.kind for e in self.events][-30:]}")
                self.cond.wait(left)

    def finished_runs(self) -> list[ev.RunFinished]:
        return [e for e in self.events if isinstance(e, ev.RunFinished)]

    def runs_started(self) -> int:
        return sum(1 for e in self.events if isinstance(e, ev.RunStarted))

    def since(self, n: int, kind: str) -> set[str]:
        return {e.node for e in self.events[n:] if e.kind == kind}  # type: ignore[attr-defined]
