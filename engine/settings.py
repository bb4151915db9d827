"""Settings, resolved in one place: ``[tool.ripple]``, ``RIPPLE_*`` environment variables and flags, with
sizes and ages parsed here for the CLI and the API alike."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine._records import Record
from engine.errors import UsageError

#: runs kept in the history unless a setting says otherwise
DEFAULT_HISTORY_LIMIT = 200


def project_settings(root: Path) -> dict[str, Any]:
    """``[tool.ripple]`` of the project's ``pyproject.toml``, if any.

    A file that never spells ``ripple`` holds no such table (short of a quoted key written with
    escapes), so it is not parsed: that spares every run of a project without Ripple settings
    importing ``tomllib`` (~2.4 ms, a tenth of a warm run's own cost)."""
    py = root / "pyproject.toml"
    try:
        data = py.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read [tool.ripple] settings: {exc}; fix the file.", file=str(py)) from None
    if b"ripple" not in data:
        return {}
    import tomllib

    try:
        return dict(tomllib.loads(data.decode("utf-8")).get("tool", {}).get("ripple", {}))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read [tool.ripple] settings: {exc}; fix the file.", file=str(py)) from None


@dataclass(frozen=True, slots=True, repr=False)
class StoreSettings(Record):
    """Where the store is and how it is kept, resolved once from (first wins) the flag or API
    argument, the ``RIPPLE_*`` environment variable, ``[tool.ripple]`` in the project's
    ``pyproject.toml``, and the default."""

    cache_dir: Path
    max_size: int | None = None
    history_limit: int = DEFAULT_HISTORY_LIMIT
    default_behavior: str | None = None


def resolve(root: Path, *, cache_dir: str | os.PathLike[str] | None = None, max_size: int | str | None = None,
            history_limit: int | str | None = None, default_behavior: str | None = None,
            environ: Mapping[str, str] | None = None, project: Mapping[str, Any] | None = None) -> StoreSettings:
    """The one settings resolver: every command and the API read store settings through it.
    ``project``: ``project_settings(root)``, when the caller has read it already."""
    env = os.environ if environ is None else environ
    project = project_settings(root) if project is None else project

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


def store_security(settings: Mapping[str, Any], root: Path) -> tuple[Path | None, bool]:
    """``(key_file, encrypt)``: ``[tool.ripple] key_file`` (relative to the project) and
    ``encrypt = true``, or ``RIPPLE_ENCRYPT=1`` for one command. The key itself is resolved by
    :func:`engine.store.keys.load_key` (``RIPPLE_CACHE_KEY`` and ``RIPPLE_CACHE_KEY_FILE`` win)."""
    key_file = settings.get("key_file")
    if key_file is not None and not isinstance(key_file, str):
        raise UsageError(f"[tool.ripple] key_file must be a path string, not {key_file!r}; fix pyproject.toml.")
    encrypt = settings.get("encrypt", False)
    if not isinstance(encrypt, bool):
        raise UsageError(f"[tool.ripple] encrypt must be true or false, not {encrypt!r}; fix pyproject.toml.")
    env = os.environ.get("RIPPLE_ENCRYPT", "").strip().lower()
    if env:
        if env not in ("1", "0", "true", "false", "yes", "no"):
            raise UsageError(f"RIPPLE_ENCRYPT={env!r}: use 1 or 0.")
        encrypt = env in ("1", "true", "yes")
    path = Path(os.path.expanduser(key_file)) if key_file else None
    return (root / path if path is not None and not path.is_absolute() else path), encrypt


# --------------------------------------------------------------------------------------------------
# size / age parsing (shared by the CLI and the API)

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


_SIZE_RE = r"(?i)\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(i?b)?\s*"  # compiled on first use (re caches it)


_AGE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


_AGE_PART = r"(?i)(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)"


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
        m = re.fullmatch(_SIZE_RE, text)
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
            m = re.compile(_AGE_PART).match(s, pos)
            if not m or m.end() == pos:
                break
            total += float(m.group(1)) * _AGE_UNITS[(m.group(2) or "s").lower()]
            pos = m.end()
        else:
            return total
    raise UsageError(
        f"invalid age {text!r}: expected a number with a unit s, m, h, d or w (e.g. 7d, 12h, 30m, 90s)"
    )


# --------------------------------------------------------------------------------------------------
# the project a command runs in, and its defaults (``[tool.ripple] pipeline/outputs/config/lineage``)

DEFAULT_KEYS = ("pipeline", "outputs", "config", "lineage")


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the current folder) whose ``pyproject.toml``
    has a ``[tool.ripple]`` table, else the nearest holding a ``.ripple/`` store; None if neither."""
    here = (start or Path.cwd()).resolve()
    chain = [here, *here.parents]
    for folder in chain:
        py = folder / "pyproject.toml"
        with contextlib.suppress(OSError):
            if py.is_file() and re.search(r"^\s*\[tool\.ripple[\].]", py.read_text(encoding="utf-8", errors="replace"), re.M):
                return folder
    for folder in chain:
        if (folder / ".ripple").is_dir():
            return folder
    return None


def project_defaults(root: Path) -> dict[str, Any]:
    """``[tool.ripple]`` defaults for commands given no pipeline: ``pipeline`` (text), ``outputs`` (a
    list of names or one comma list), ``config`` (a table) and ``lineage`` (text), checked."""
    settings = project_settings(root)
    out: dict[str, Any] = {}
    where = f"[tool.ripple] in {root / 'pyproject.toml'}"
    pipeline = settings.get("pipeline")
    if pipeline is not None:
        if not isinstance(pipeline, str) or not pipeline.strip():
            raise UsageError(f"{where}: pipeline must be a module name or path string, e.g. pipeline = \"demo_pipeline\".")
        out["pipeline"] = pipeline.strip()
    outputs = settings.get("outputs")
    if outputs is not None:
        if isinstance(outputs, str):
            outputs = [o.strip() for o in outputs.split(",") if o.strip()]
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            raise UsageError(f"{where}: outputs must be a list of node names, e.g. outputs = [\"report\"].")
        out["outputs"] = list(outputs)
    config = settings.get("config")
    if config is not None:
        if not isinstance(config, dict):
            raise UsageError(f"{where}: config must be a table, e.g. config = {{ holdout_weeks = 6 }}.")
        out["config"] = dict(config)
    lineage = settings.get("lineage")
    if lineage is not None:
        if not isinstance(lineage, str) or not lineage.strip():
            raise UsageError(f"{where}: lineage must be console, file:PATH or a URL, e.g. lineage = \"console\".")
        out["lineage"] = lineage.strip()
    return out
