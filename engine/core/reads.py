"""Record the files a node opens for reading while it runs (DESIGN §3, "files read without being
declared").

Python's audit hooks see every ``open`` (``open()``, ``io.open``, ``pathlib``, pandas, numpy …).
A hook cannot be removed once added, so one process-wide hook is installed on first use and does
nothing unless the current thread has an active ``ReadRecorder``: the cost when not recording is
one attribute lookup per ``open``. Reads by C code that bypasses Python's ``open`` (e.g. a C
library calling ``fopen``) are not seen; declare such files as ``Path``/``File`` inputs.
"""

from __future__ import annotations

import os
import sys
import threading
from types import TracebackType

_local = threading.local()
_installed: list[bool] = []
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_SKIP_SUFFIXES = (".py", ".pyc", ".pyi", ".so", ".pth", ".dist-info", ".egg-link")
_SKIP_PREFIXES = tuple(
    {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, "/proc", "/dev", "/sys", "/etc")}
)


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event != "open":
        return
    rec = getattr(_local, "rec", None)
    if rec is None:
        return
    path, mode, flags = args
    if isinstance(path, int) or path is None:
        return
    if mode is not None:
        if not isinstance(mode, str) or "r" not in mode or "+" in mode:
            return
    elif isinstance(flags, int) and flags & _WRITE_FLAGS:
        return
    rec.add(path)


def _ensure_hook() -> None:
    if not _installed:
        sys.addaudithook(_hook)
        _installed.append(True)


class ReadRecorder:
    """Context manager collecting real, existing data files opened for reading in this thread."""

    __slots__ = ("_raw", "_prev", "ignore")

    def __init__(self, ignore: tuple[str, ...] = ()) -> None:
        _ensure_hook()
        self._raw: set[object] = set()
        self._prev: object = None
        self.ignore = ignore

    def add(self, path: object) -> None:
        self._raw.add(path)

    def __enter__(self) -> ReadRecorder:
        self._prev = getattr(_local, "rec", None)
        _local.rec = self
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        _local.rec = self._prev
        if isinstance(self._prev, ReadRecorder):
            self._prev._raw |= self._raw

    @property
    def paths(self) -> list[str]:
        """Absolute paths of regular files read, minus interpreter, library and store files."""
        out = set()
        for raw in self._raw:
            try:
                p = os.path.realpath(os.fsdecode(raw))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            if p.endswith(_SKIP_SUFFIXES) or p.startswith(_SKIP_PREFIXES) or p.startswith(self.ignore):
                continue
            if "site-packages" in p or "dist-packages" in p or not os.path.isfile(p):
                continue
            out.add(p)
        return sorted(out)
