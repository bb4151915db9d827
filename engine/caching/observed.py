"""What a node saw while it ran, as records kept with its cache entry, and the check a hit must pass.

Why: a key built from the node's source and its inputs cannot see what is decided at run time. The
read recorder (``engine.core.reads``) and the code trace (``engine.caching.tracing``) observe the
node; this module turns those observations into ``Entry.files`` records and, on the next run,
re-checks them (early exit on the first that changed). Keys:

==============================  ===============================================================
``data/x.csv`` or ``/abs/x``    content version of a data file read (``MISSING_VERSION`` when it
                                was opened but absent); inside the project root the key is
                                relative to it, so a moved project hits and a second checkout
                                is checked against its own files
``@code:<file>:<name>``         code version of the module-level function or class whose code ran
                                (a method or nested function counts as its enclosing definition),
                                when the node's static code version does not already cover it
``@env:<NAME>``                 digest of an environment variable's value (never the value),
                                ``unset`` when it was missing
``@dir:<folder>``               digest of the sorted names in a folder the node listed
``@exists:<path>``              ``file`` / ``dir`` / ``absent`` for an existence check
``@link:<path>``                the target of a symlink the node read through
==============================  ===============================================================
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any

import xxhash

from engine.caching import tracing  # noqa: F401 - registers the code-tracing probe with the read recorder
from engine.caching.data_version import combine
from engine.files import MISSING_VERSION, FileVersions

__all__ = ["data_files", "describe", "first_change", "first_change_for", "node_records", "node_string_reads", "pickling_changes",
           "records_for"]

UNSET = "unset"
ABSENT = "absent"


def subprocess_warning(node: str, location: str, program: str) -> str:
    """The one warning for a node whose subprocess reads are not seen (the README lists it)."""
    return (f"{node} ({location}) started a subprocess ({program}); what it reads is not seen: declare its "
            'files as Path/File parameters or use @cache(behavior="recompute")')


def rel(path: str, root: str) -> str:
    """``path`` relative to ``root`` when inside it (the key form), else absolute."""
    p = os.path.abspath(path)
    base = root.rstrip(os.sep) + os.sep
    return p[len(base):] if p.startswith(base) else p


def resolve(key: str, root: str) -> str:
    """The absolute path a key names in the project at ``root``."""
    return key if os.path.isabs(key) else os.path.join(root, key)


def data_files(records: Mapping[str, str] | None, root: str | os.PathLike[str]) -> dict[str, str]:
    """The data files of entry records as ``{absolute path: version}`` (for lineage and watch)."""
    r = os.fspath(root)
    return {resolve(k, r): v for k, v in (records or {}).items() if not k.startswith("@")}


# ---------------------------------------------------------------------------------------- versions


def listing_version(path: str) -> str:
    try:
        names = sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return ABSENT
    except OSError:
        return "unreadable"
    return xxhash.xxh3_128_hexdigest("\0".join(names).encode("utf-8", "surrogateescape"))


def exists_version(path: str) -> str:
    return "dir" if os.path.isdir(path) else "file" if os.path.exists(path) else ABSENT


def link_version(path: str, root: str) -> str:
    return rel(os.path.realpath(path), root) if os.path.islink(path) else "not-a-link"


def env_version(name: str) -> str:
    value = os.environ.get(name)
    return UNSET if value is None else xxhash.xxh3_128_hexdigest(os.fsencode(value))[:16]


def _module_for(path: str, memo: dict[str, types.ModuleType | None]) -> types.ModuleType | None:
    if path in memo:
        return memo[path]
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if isinstance(f, str):
            memo.setdefault(os.path.abspath(f), mod)
    if path in memo:
        return memo[path]
    found = None
    for entry in sorted((p for p in sys.path if p), key=len, reverse=True):
        base = os.path.abspath(entry) + os.sep
        if path.startswith(base) and path.endswith(".py"):
            parts = path[len(base):-3].split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            if parts and all(p.isidentifier() for p in parts):
                try:
                    found = importlib.import_module(".".join(parts))
                except Exception:  # noqa: BLE001 - not importable by that name: version the source alone
                    found = None
                if found is not None and os.path.abspath(getattr(found, "__file__", "") or "") == path:
                    break
                found = None
    memo[path] = found
    return found


def code_version(versioner: Any, path: str, top: str) -> str:
    """Version of the definition ``top`` in file ``path`` as it is now, memoised per versioner."""
    memo = versioner.traced
    got = memo.get((path, top))
    if got is not None:
        return got
    obj = None
    if top != "<module>":
        mod = _module_for(path, versioner.traced_modules)
        obj = getattr(mod, top, None) if mod is not None else None
        code = getattr(obj, "__code__", None)
        if not (isinstance(obj, type | types.FunctionType) and (
                (code is not None and os.path.abspath(code.co_filename) == path)
                or (code is None and getattr(obj, "__module__", None) == mod.__name__))):
            obj = None
    if obj is not None:
        got = versioner.version(obj).digest  # checks its file itself (a stored version is reused)
    else:
        info = versioner.file_info(path)
        if info is None:
            got = ABSENT
        elif top == "<module>":
            got = info.module_digest
        else:
            entries = info.by_qual.get(top) or []
            got = combine(*(e["hd"] for e in entries)) if entries else ABSENT
    memo[(path, top)] = got
    return got


def _now(key: str, root: str, versioner: Any, files: FileVersions) -> str:
    if key[0] != "@":
        return files.version(resolve(key, root))
    kind, _, rest = key[1:].partition(":")
    if kind == "code":
        file, _, top = rest.rpartition(":")
        return code_version(versioner, resolve(file, root), top)
    if kind == "env":
        return env_version(rest)
    if kind == "dir":
        return listing_version(resolve(rest, root))
    if kind == "exists":
        return exists_version(resolve(rest, root))
    if kind == "link":
        return link_version(resolve(rest, root), root)
    return "unknown"


def first_change(records: Mapping[str, str], root: str, versioner: Any, files: FileVersions) -> str | None:
    """The first record whose current version differs (None: the entry still holds)."""
    for key, version in records.items():
        if _now(key, root, versioner, files) != version:
            return key
    return None


def first_change_for(cache: Any, records: Mapping[str, str]) -> str | None:
    """``first_change`` with the cache's project root, versioner and file versions."""
    return first_change(records, str(cache.project_root), cache.versioner, cache.files)


def describe(key: str) -> str:
    """A record key in words, for ``explain`` and the run summary."""
    if key[0] != "@":
        return f"file {key}"
    kind, _, rest = key[1:].partition(":")
    if kind == "code":
        file, _, top = rest.rpartition(":")
        return f"code of {top} in {file} (ran last time)"
    return {"env": f"environment variable {rest}", "dir": f"folder listing {rest}",
            "exists": f"existence of {rest}", "link": f"symlink {rest}"}.get(kind, key)


# ----------------------------------------------------------------------------------------- records


def records_for(seen: Mapping[str, Any], paths: Iterable[str], *, root: str, versioner: Any, files: FileVersions,
                static_parts: Mapping[str, str]) -> dict[str, str]:
    """Entry records for what one node saw: traced code and environment first (cheapest to check)."""
    out: dict[str, str] = {}
    for file, top in seen.get("code", ()):
        if top == "<module>":
            continue  # module code runs once per process, on first import: not a property of the node
        mod = _module_for(file, versioner.traced_modules) if top != "<module>" else None
        if mod is not None and f"{mod.__name__}.{top}" in static_parts:
            continue  # the static code version already covers it
        out[f"@code:{rel(file, root)}:{top}"] = code_version(versioner, file, top)
    for name, digest in sorted((seen.get("env") or {}).items()):
        out[f"@env:{name}"] = UNSET if digest is None else digest
    for path in paths:
        out[rel(path, root)] = files.version(path)
    for path in seen.get("absent", ()):
        out[rel(path, root)] = MISSING_VERSION
    for path, _target in (seen.get("links") or {}).items():
        out[f"@link:{rel(path, root)}"] = link_version(path, root)
    for path in seen.get("dirs", ()):
        out[f"@dir:{rel(path, root)}"] = listing_version(path)
    for path in seen.get("probes", ()):
        out[f"@exists:{rel(path, root)}"] = exists_version(path)
    return out


def node_string_reads(fn: Any, root: str, folders: Iterable[str] | None = None) -> list[str]:
    """Existing files under ``root`` named by string constants in ``fn``'s code, or by the str and
    path values of its closure and of the module constants it names.

    For reads no hook can see (C libraries such as pyarrow's parquet reader, subprocesses): a node
    that names a file that way is assumed to read it. Relative names are tried against the root, the
    current folder and ``folders`` (by default the folder of ``fn``'s module)."""
    fn = getattr(fn, "__wrapped__", fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    strings: set[str] = set()
    values: list[Any] = []
    _named_by(fn, strings, values, set())
    for v in values:
        if isinstance(v, str | os.PathLike) and isinstance(text := os.fspath(v), str) and _may_name_file(text):
            strings.add(text)
    if not strings:
        return []  # most nodes: nothing that could name a file (no folder looked at)
    if folders is None:
        folders = [os.path.dirname(code.co_filename or root)]
    base = root.rstrip(os.sep) + os.sep
    bases = [root, os.getcwd(), *folders]
    found = set()
    for s in strings:
        for b in bases:
            p = os.path.abspath(os.path.join(b, s))
            if p.startswith(base) and os.path.isfile(p) and not p.endswith((".py", ".pyc")):
                found.add(p)
                break
    return sorted(found)


def _named_by(fn: Any, strings: set[str], values: list[Any], seen: set[tuple[int, bool]], memoised: bool = False,
              collect: bool = True) -> None:
    """What ``fn``'s code, closure and named module constants hold that may name a file (``collect``),
    and so for everything a memoised helper it reaches (``functools.cache``/``lru_cache``, directly or
    through the project functions it calls) would run: such a helper reads its file only for its first
    caller, and every later node that gets its result read it all the same. The functions a node
    calls otherwise run when it does, and what they read is seen then."""
    code = getattr(fn, "__code__", None)
    if code is None or (id(code), collect) in seen:
        return
    seen.add((id(code), collect))
    got = _STRINGS.get(id(code))
    if got is None or got[0] is not code:
        if len(_STRINGS) >= _STRINGS_MAX:
            _STRINGS.clear()
        got = _STRINGS[id(code)] = (code, *_code_strings(code))
    _, consts, names = got
    g = getattr(fn, "__globals__", {})
    named = [g[n] for n in names if n in g]
    if collect:
        strings |= consts
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                values.append(cell.cell_contents)
            except ValueError:
                continue
        values += named  # module constants it names: ``PARQUET = DATA / "t.parquet"``
    for v in named:
        if type(v) is functools._lru_cache_wrapper:  # type: ignore[attr-defined]
            v = v.__wrapped__
            if type(v) is types.FunctionType and tracing.outside_libraries(v.__code__.co_filename):
                _named_by(v, strings, values, seen, True, True)
        elif type(v) is types.FunctionType and tracing.outside_libraries(v.__code__.co_filename):
            _named_by(v, strings, values, seen, memoised, memoised)


def _may_name_file(s: str) -> bool:
    """Whether a string constant could be a file's name (a path or a name with a suffix)."""
    return bool(s) and len(s) <= 400 and "\n" not in s and "\0" not in s and ("/" in s or "." in s)


#: ``id(code)`` -> (the code object, what :func:`_code_strings` found in it); holding the code keeps
#: its id from being reused while it is a key. Bounded: cleared when it holds ``_STRINGS_MAX``.
_STRINGS: dict[int, tuple[types.CodeType, frozenset[str], tuple[str, ...]]] = {}
_STRINGS_MAX = 4096


def _code_strings(code: types.CodeType) -> tuple[frozenset[str], tuple[str, ...]]:
    """The string constants that could name a file and the global names of a code object and the
    code nested in it: a property of the code alone, so worked out once per code object rather
    than every time the node is stored (keyed by identity: hashing a code object hashes its
    bytecode and constants)."""
    strings: set[str] = set()
    names: set[str] = set()

    def walk(c: types.CodeType) -> None:
        names.update(c.co_names)
        for k in c.co_consts:
            if isinstance(k, str):
                if _may_name_file(k):
                    strings.add(k)
            elif isinstance(k, types.CodeType):
                walk(k)

    walk(code)
    return frozenset(strings), tuple(sorted(names))


def produced_files(value: Any) -> list[str]:
    """Files a node returns (``Path``/``File``, also in a list, tuple or dict): recorded with the
    entry so a hit is re-checked against the file as it is now — if someone edited or deleted the
    output, the node runs again instead of handing out a path to different content."""
    from pathlib import PurePath

    from engine.files import File

    items = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else (value,)
    return [os.path.abspath(os.fspath(v)) for v in items if isinstance(v, PurePath | File)]


def node_records(reads: Any, *, fn: Any, root: str, versioner: Any, files: FileVersions,
                 static_parts: Mapping[str, str], produced: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Records for one node's entry, and the programs it started (for the subprocess warning).

    ``reads`` is what the read recorder returned (a ``Reads`` list with ``seen``, or plain paths)."""
    seen: Mapping[str, Any] = getattr(reads, "seen", None) or {}
    # files the code names, minus those it wrote (its output is no input); only for a recorded run
    named = node_string_reads(fn, root) if seen else []
    if named and seen.get("written"):
        written = set(seen["written"])
        named = [p for p in named if p not in written]
    paths = dict.fromkeys([*reads, *produced, *named]) if named or produced else reads
    records = records_for(seen, paths, root=root, versioner=versioner, files=files, static_parts=static_parts)
    return records, list(seen["spawned"]) if seen.get("spawned") else []


#: libraries whose own types pickle faithfully (attrs, freq and dtypes included); their fingerprint
#: can still change through pickle by memory layout alone (a strided column becomes contiguous),
#: which no dependent can see, so they are not checked — their subclasses defined elsewhere are
_FAITHFUL_LIBRARIES = frozenset({"numpy", "pandas", "pyarrow"})
#: exact types whose pickle round trip is known to keep their fingerprint (no check needed)
_SAFE = frozenset({int, float, str, bytes, bool, type(None), list, tuple, dict, set, frozenset, complex})


def pickling_changes(value: Any, fp: str, fingerprint: Any, memo: dict[type, bool]) -> bool:
    """True when a value of this type comes back from pickle with another fingerprint (checked once
    per type): a dependent would see something else from the cache than from a fresh run."""
    t = type(value)
    if t in _SAFE or t.__module__.partition(".")[0] in _FAITHFUL_LIBRARIES:
        return False
    got = memo.get(t)
    if got is None:
        import pickle

        try:
            again = fingerprint(pickle.loads(pickle.dumps(value, protocol=5)))[0]
        except Exception:  # noqa: BLE001 - not picklable: the store reports that itself
            return False
        got = memo[t] = again != fp
    return got
