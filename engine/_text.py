from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def did_you_mean(name: str, options: Iterable[str]) -> str:
    import difflib  # only to word an error

    close = difflib.get_close_matches(name, sorted(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def summarize(value: Any, width: int = 100) -> str:
    """One short line describing a value (shape for frames/arrays, head for text); never raises and
    never builds the full ``repr`` of a huge value."""
    width = max(int(width), 20)
    try:
        return clip(_summarize(value, width), width)
    except Exception as exc:  # noqa: BLE001 - a value whose repr/shape raises must not fail the run's report
        return clip(f"<{type(value).__name__} object; repr failed: {type(exc).__name__}>", width)


def clip(text: str, width: int) -> str:
    text = " ".join(text.split()) if "\n" in text or "\r" in text else text
    return text if len(text) <= width else text[: width - 1] + "…"


def _summarize(value: Any, width: int) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype") or type(value).__name__ == "DataFrame":
        try:
            shp = tuple(shape) if shape is not None else "?"
        except TypeError:
            shp = shape
        return f"{type(value).__name__} shape={shp}"
    if isinstance(value, str):
        head = value[: width * 4].strip()
        first = head.splitlines()[0] if head else ""
        lines = value.strip().count("\n") if len(value) < 50_000_000 else value.count("\n")
        more = f" (+{lines} lines)" if lines else ""
        if not first:
            return "''" if not value.strip() else f"str of {len(value)} characters"
        return clip(first, max(width - len(more), 10)) + more
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother = 3, width, width
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 30
    r.maxdict = 20
    r.maxlong = width
    return r.repr(value)


def listing(names: Iterable[str], limit: int = 8) -> str:
    names = sorted(names)
    if not names:
        return "none"
    more = f", … ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
