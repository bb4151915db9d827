"""Which installed distribution provides an import name, and its version: what a reference into an
installed package contributes to a code version (its name and version, not its source).

Both answers are persisted in the store's memo under the signature of the folders that hold
distributions (:func:`_site_signature`), so a warm run in a new process reads neither the
metadata of its libraries nor ``importlib.metadata`` itself (~10 ms with pandas and numpy);
installing, upgrading or removing anything there changes the signature, and everything is
resolved again."""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

import xxhash

from engine._json import dumps as json_dumps
from engine._json import loads as json_loads
from engine.files import in_library

#: per process: import name -> "dist==version" (or None), and import name -> distributions
_DIST_VERSION_MEMO: dict[str, str | None] = {}
_PACKAGES_DISTRIBUTIONS_MEMO: dict[str, list[str]] = {}
#: per process: memo key -> the versions persisted under it (read once, rewritten when one is added)
_PERSISTED: dict[str, dict[str, str | None]] = {}
_UNSET = object()


def _h(s: str) -> str:
    return xxhash.xxh3_128_hexdigest(s.encode("utf-8", "surrogatepass"))


def _site_signature() -> str:
    """The folders on ``sys.path`` that hold installed distributions, with their mtimes: installing,
    upgrading or removing a distribution adds or removes a ``*.dist-info`` folder, which changes its
    parent folder's mtime. Only ``site-packages``/``dist-packages`` folders count: a module anywhere
    else is versioned by its file's content, never by a distribution's version (``_kind`` in
    ``code_version``), and the project's own folder changes with every atomic save."""
    parts = []
    for entry in sys.path:
        if not in_library(entry):
            continue
        try:
            parts.append(f"{entry}\0{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            continue
    return _h("\n".join(parts))


def _packages_distributions(memo: MutableMapping[str, str] | None) -> dict[str, list[str]]:
    """``importlib.metadata.packages_distributions()``, persisted in the store's memo under the
    signature of ``sys.path``: the scan reads every installed distribution's RECORD (~0.2 s in a
    data-science environment), so it is paid once per environment change, not once per process.
    Versions are still read live, so a stale map could only name a distribution, never its version."""
    if _PACKAGES_DISTRIBUTIONS_MEMO:
        return _PACKAGES_DISTRIBUTIONS_MEMO
    key = "dists:" + _site_signature()
    raw = memo.get(key) if memo is not None else None
    found: dict[str, list[str]] | None = None
    if raw:
        try:
            found = {str(k): [str(d) for d in v] for k, v in json_loads(raw).items()}
        except (ValueError, AttributeError, TypeError):
            found = None
    if found is None:
        import importlib.metadata  # lazy: ~10 ms of imports a warm run with a persisted map never needs

        try:
            found = {k: list(v) for k, v in importlib.metadata.packages_distributions().items()}
        except Exception:  # noqa: BLE001 - broken metadata must not break versioning
            found = {"\0": []}
        if memo is not None:
            memo[key] = json_dumps(found, sort_keys=True)
    _PACKAGES_DISTRIBUTIONS_MEMO.update(found)
    return _PACKAGES_DISTRIBUTIONS_MEMO


def dist_version(top_level: str, memo: MutableMapping[str, str] | None = None) -> str | None:
    """``"name==version"`` of the distribution providing import name ``top_level``, else None.

    Resolved by name first, else through the map of import names to distributions
    (:func:`_packages_distributions`); with ``memo``, the answer is persisted there under the
    signature of the distribution folders and read back by later processes.
    """
    got = _DIST_VERSION_MEMO.get(top_level, _UNSET)
    if got is not _UNSET:
        return got  # type: ignore[return-value]
    key = None
    if memo is not None:
        key = "distv:" + _site_signature()
        persisted = _persisted(memo, key)
        if top_level in persisted:
            _DIST_VERSION_MEMO[top_level] = persisted[top_level]
            return persisted[top_level]
    result = _resolve(top_level, memo)
    _DIST_VERSION_MEMO[top_level] = result
    if key is not None and memo is not None:
        persisted = _PERSISTED[key]
        persisted[top_level] = result
        memo[key] = json_dumps(persisted, sort_keys=True)
    return result


def _persisted(memo: MutableMapping[str, str], key: str) -> dict[str, str | None]:
    known = _PERSISTED.get(key)
    if known is None:
        known = {}
        raw = memo.get(key)
        if raw:
            try:
                got = json_loads(raw)
                if isinstance(got, dict) and all(isinstance(k, str) and (v is None or isinstance(v, str))
                                                 for k, v in got.items()):
                    known = got
            except ValueError:
                pass
        _PERSISTED[key] = known
    return known


def _resolve(top_level: str, memo: MutableMapping[str, str] | None) -> str | None:
    import importlib.metadata

    # Fast path: most distributions are named after their import package (numpy, pandas, ...);
    # the full packages_distributions() scan costs ~100 ms per process, paid only when needed.
    try:
        dist = importlib.metadata.distribution(top_level)
        top = dist.read_text("top_level.txt")
        if top is None or top_level in top.split():
            return f"{dist.metadata['Name']}=={dist.version}"
    except Exception:  # noqa: BLE001 - not found or odd metadata: use the full scan
        pass
    dists = _packages_distributions(memo).get(top_level) or []
    versions = []
    for d in sorted(set(dists)):
        try:
            versions.append(f"{d}=={importlib.metadata.version(d)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ",".join(versions) if versions else None


def library_part(module_name: str, kind: tuple[str, str], memo: MutableMapping[str, str]) -> tuple[str, str] | None:
    """``(part name, version)`` a library module stands for in a code version: its distribution's
    version, Ripple's own, or an editable install's file version; None for other kinds."""
    if kind[0] == "dist":
        return f"dist:{kind[1]}", dist_version(kind[1], memo) or "unknown"
    if kind[0] == "ripple":
        return "dist:ripple", dist_version("engine", memo) or "ripple"
    if kind[0] == "ext":
        from engine.files import file_version

        return f"module:{module_name}", file_version(kind[1])
    return None
