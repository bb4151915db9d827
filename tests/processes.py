"""Helpers for tests that start real processes."""

from __future__ import annotations

import os
import time


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
