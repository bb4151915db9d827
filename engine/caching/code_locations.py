"""Where a part of a code version is in the source (``explain`` shows it): the versioner's own record
of what it versioned in this process, else the definition in the file of its longest importable
module prefix."""

from __future__ import annotations

import sys
from typing import Any


def location(self: Any, qualname: str) -> tuple[str, int, int] | None:
    loc = self._locations.get(qualname)
    if loc is not None:
        return loc
    qualname = qualname.split("#", 1)[0]
    loc = self._locations.get(qualname)
    if loc is not None:
        return loc
    # Not versioned in this process yet: import the longest module prefix and look it up.
    pieces = qualname.split(".")
    for i in range(len(pieces) - 1, 0, -1):
        mod = sys.modules.get(".".join(pieces[:i]))
        if mod is None:
            continue
        file = getattr(mod, "__file__", None)
        info = self.file_info(file) if file else None
        if info is None:
            return None
        entries = info.by_qual.get(".".join(pieces[i:]))
        if not entries:
            return None
        e = entries[-1]
        return (info.path, e["f"], e["e"])
    return None


def source_of(self: Any, qualname: str, lines_of: dict[str, list[str] | None] | None = None) -> str | None:
    """Source now of a ``parts`` component (``explain``), else None; ``lines_of``: file -> lines, read once."""
    loc = self._location(qualname)
    if loc is None:
        return None
    path, start, end = loc
    got = lines_of if lines_of is not None else {}
    lines = got[path] if path in got else got.setdefault(path, self.sources.lines(path))
    return None if lines is None else "".join(lines[start - 1:end])


def location_of(self: Any, qualname: str) -> tuple[str, int] | None:
    """``(file, first line)`` of a component named in ``parts``, else None."""
    loc = self._location(qualname)
    return None if loc is None else (loc[0], loc[1])
