"""Formatting helpers shared by the dashboard's state and widgets: glyphs, durations, source lines."""

from __future__ import annotations

from collections.abc import Iterator

from engine.events import CACHED, FAILED, PENDING, RAN, RUNNING, SKIPPED, STALE

GLYPHS = {PENDING: "○", CACHED: "●", RAN: "✔", FAILED: "✖", SKIPPED: "⊘", STALE: "◌"}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def glyph(state: str, now: float = 0.0) -> str:
    """The state glyph; a running node's spinner frame comes from the injected clock so snapshots are stable."""
    if state == RUNNING:
        return SPINNER[int(now * 10) % len(SPINNER)]
    return GLYPHS.get(state, "?")


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return ""
    if s < 0.001:
        return "<1ms"
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 60:
        return f"{s:.2f}s"
    m, sec = divmod(int(s), 60)
    return f"{m}m{sec:02d}s"


def fmt_clock(s: float) -> str:
    m, sec = divmod(max(int(s), 0), 60)
    h, m = divmod(m, 60)
    return f"{h:d}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def read_lines(path: str) -> list[str] | None:
    """The file's lines as Python numbers them (``source_lines``: not also split at a form feed), so
    that a node's or a traceback's line number points at its own text; without their ends."""
    from engine.caching.source_analysis import source_lines

    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line.removesuffix("\n") for line in source_lines(fh.read())]
    except OSError:
        return None


def function_span(lines: list[str], line: int) -> tuple[int, int]:
    """1-based inclusive span of the ``def`` at ``line`` (decorators above it included), by indentation."""
    start = max(line, 1)
    while start > 1 and lines[start - 2].lstrip().startswith("@"):
        start -= 1
    i = max(line - 1, 0)
    while i < len(lines) and not lines[i].lstrip().startswith(("def ", "async def ")):
        i += 1
    if i >= len(lines):
        return start, min(start + 20, len(lines))
    indent = len(lines[i]) - len(lines[i].lstrip())
    end = i + 1
    while end < len(lines):
        text = lines[end]
        if text.strip() and len(text) - len(text.lstrip()) <= indent and not text.lstrip().startswith((")", "]", "}")):
            break
        end += 1
    while end > i + 1 and not lines[end - 1].strip():
        end -= 1
    return start, end




def iter_user_frames(traceback_text: str) -> Iterator[tuple[str, int, str]]:
    """(file, line, code) of each frame in a formatted traceback, innermost last."""
    import re

    lines = traceback_text.splitlines()
    pat = re.compile(r'\s*File "([^"]+)", line (\d+), in (\S+)')
    for i, text in enumerate(lines):
        m = pat.match(text)
        if m:
            code = lines[i + 1].strip() if i + 1 < len(lines) and not pat.match(lines[i + 1]) else ""
            yield m.group(1), int(m.group(2)), code


def is_user_file(path: str) -> bool:
    """A frame of the user's code: not an installed library, the standard library or Ripple itself
    (the Failure tab's "probable root cause" points there, not at the pandas line that raised)."""
    import sys
    import sysconfig

    if not path or path.startswith("<"):
        return False
    norm = path.replace("\\", "/")
    if "/site-packages/" in norm or "/dist-packages/" in norm:
        return False
    stdlib = sysconfig.get_paths().get("stdlib", "")
    if stdlib and norm.startswith(stdlib.replace("\\", "/") + "/"):
        return False
    from pathlib import Path

    import engine

    here = str(Path(engine.__file__).resolve().parent).replace("\\", "/")
    return not norm.startswith(here + "/") and not norm.startswith(sys.base_prefix + "/lib/")

