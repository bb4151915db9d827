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
