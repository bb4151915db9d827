"""Helpers for tests that start real processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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
