"""Settings, resolved in one place: ``[tool.ripple]``, ``RIPPLE_*`` environment variables and flags, with
sizes and ages parsed here for the CLI and the API alike."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import UsageError

#: runs kept in the history unless a setting says otherwise
DEFAULT_HISTORY_LIMIT = 200


def project_settings(root: Path) -> dict[str, Any]:
    """``[tool.ripple]`` of the project's ``pyproject.toml``, if any."""
    py = root / "pyproject.toml"
    if not py.is_file():
        return {}
    import tomllib

    try:
        with py.open("rb") as f:
            return dict(tomllib.load(f).get("tool", {}).get("ripple", {}))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read [tool.ripple] settings: {exc}; fix the file.", file=str(py)) from None


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where the store is and how it is kept, resolved once from (first wins) the flag or API
    argument, the ``RIPPLE_*`` environment variable, ``[tool.ripple]`` in the project's
    ``pyproject.toml``, and the default."""

    cache_dir: Path
    max_size: int | None = None
    history_limit: int = DEFAULT_HISTORY_LIMIT
    default_behavior: str | None = None


def resolve(root: Path, *, cache_dir: str | os.PathLike[str] | None = None, max_size: int | str | None = None,
            history_limit: int | str | None = None, default_behavior: str | None = None,
            environ: Mapping[str, str] | None = None) -> StoreSettings:
    """The one settings resolver: every command and the API read store settings through it."""
    env = os.environ if environ is None else environ
    project = project_settings(root)

    def pick(given: Any, name: str) -> tuple[Any, str]:
        if given not in (None, ""):
            return given, f"the {name} argument"
        var = f"RIPPLE_{name.upper()}"
        if env.get(var):
            return env[var], f"${var}"
        if project.get(name) not in (None, ""):
            return project[name], f"[tool.ripple] {name}"
        return None, ""

    folder, _ = pick(cache_dir, "cache_dir")
    if folder is None:
        path = root / ".ripple"
    else:
        path = Path(folder) if cache_dir or env.get("RIPPLE_CACHE_DIR") else root / str(folder)
    size, size_from = pick(max_size, "max_size")
    limit, limit_from = pick(history_limit, "history_limit")
    behavior, _ = pick(default_behavior, "default_behavior")
    try:
        parsed_size = parse_size(size) if size is not None else None
    except UsageError as exc:
        raise UsageError(f"{size_from}: {exc.message}") from None
    try:
        parsed_limit = int(limit) if limit is not None else DEFAULT_HISTORY_LIMIT
        if parsed_limit < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise UsageError(f"{limit_from}: history_limit {limit!r} is not a positive whole number of runs "
                         "(e.g. 200).") from None
    return StoreSettings(path, parsed_size, parsed_limit, str(behavior) if behavior is not None else None)


def resolve_cache_dir(path: str | os.PathLike[str] | None, root: Path) -> Path:
    """Just the store folder (commands that only read the store)."""
    return resolve(root, cache_dir=path).cache_dir


# --------------------------------------------------------------------------------------------------
# size / age parsing (shared by the CLI and the API)

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(i?b)?\s*", re.IGNORECASE)


_AGE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


_AGE_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """``"500MB"``, ``"2G"``, ``"10k"``, ``"1.5GiB"``, ``4096`` → bytes.

    Units are binary (K = 1024), like ``du -h`` and docker: nobody sizes a cache in decimal.
    """
    if isinstance(text, bool):
        raise UsageError(f"invalid size {text!r}: expected a number of bytes or e.g. 500MB, 2G")
    if isinstance(text, int):
        if text < 0:
            raise UsageError(f"invalid size {text}: must not be negative")
        return text
    if isinstance(text, str):
        m = _SIZE_RE.fullmatch(text)
        if m and not (m.group(3) and m.group(3).lower() == "ib" and not m.group(2)):
            return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    raise UsageError(
        f"invalid size {text!r}: expected a number with an optional unit B, K, M, G or T "
        "(binary, e.g. 500MB, 2G, 10k)"
    )


def parse_age(text: str | float | int) -> float:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"1d12h"``, ``3600`` → seconds (bare number = s)."""
    if isinstance(text, bool):
        raise UsageError(f"invalid age {text!r}: expected e.g. 7d, 12h, 30m or 90s")
    if isinstance(text, int | float):
        if text < 0:
            raise UsageError(f"invalid age {text}: must not be negative")
        return float(text)
    if isinstance(text, str) and text.strip():
        s = text.strip().replace(" ", "")
        pos, total = 0, 0.0
        while pos < len(s):
            m = _AGE_PART.match(s, pos)
            if not m or m.end() == pos:
                break
            total += float(m.group(1)) * _AGE_UNITS[(m.group(2) or "s").lower()]
            pos = m.end()
        else:
            return total
    raise UsageError(
        f"invalid age {text!r}: expected a number with a unit s, m, h, d or w (e.g. 7d, 12h, 30m, 90s)"
    )
