"""Small file-system helpers of the store: private files and folders, live processes."""

from __future__ import annotations

import os
from pathlib import Path

from engine.store.codec import _write_all


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not Path(f"/proc/{pid}/status").exists() or "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def _mkdir_private(path: Path) -> bool:
    """Create ``path`` 0700 regardless of umask; True if it was created."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return False
    os.chmod(path, 0o700)
    return True


def _create_private(path: Path, content: bytes = b"") -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
        if content:
            _write_all(fd, content)
    finally:
        os.close(fd)
