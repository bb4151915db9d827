"""Code versions: what a node's result depends on, as source code, transitively.

Why this is the heart of "never stale": peers hash only the node function's own source, so an edit
to a helper, a module constant or a library upgrade silently returns old results (the #1 complaint
against Hamilton, joblib, redun, Prefect and Dagster). A :class:`CodeVersion` here is built from

* the node's **normalised AST** — docstrings stripped, decorators excluded (their arguments are
  runtime values the caller passes as ``extra``), function-local variables, comprehension
  variables and lambda parameters alpha-renamed — so comments, formatting, quote style,
  docstrings, moving the function or renaming a local never change it, while any real code change (including default values) does;
* every **project-local** function, class and module-level constant it references, transitively
  (through ``helpers.f``, ``from .util import h``, class methods, closure cells, local imports);
* the **distribution version** (``dist:pandas`` → ``2.2.3``) of anything resolved into an
  installed package; the standard library is ignored (the Python minor version is in every key).
* **code held by values**: functions, lambdas, partials, bound methods and classes inside a constant
  (``HANDLERS = {"a": _fa}``, a dataclass holding a function, ``F = Model(2).predict``) are
  versioned as code, and every layer of a ``functools.wraps`` decorator chain counts (the wrapper's
  code and closure — a decorator factory's arguments — as well as the wrapped function).
  Lambdas and functions made inside other functions get parts addressed by code *and* closure
  values (``mod.make.<locals>.inner#1a2b...``), so two closures from one factory, two lambdas or
  two partials of one function can never hide each other's edits.

Seen only at run time (``engine.caching.tracing`` records the code that executes): code
reached by a string (``getattr(obj, "name")`` on a non-module object, ``globals()[name]``,
``importlib.import_module(name)`` with a computed name). ``import_module("literal")`` counts here as
an import. ``getattr(module, "name")`` on a project module counts the whole module. Classes
created inside a function (a class factory) are versioned by their source, not by the values the
factory closed over. A value that neither fingerprints nor pickles is "unversionable": the node
runs every time (``CodeVersion.unversionable`` names it for the warning); no version is a ``repr``.

Each component keeps its own digest in ``CodeVersion.parts`` so ``explain`` can name exactly which
helper or constant changed. Parsing is memoised per file *content* (optionally in a persistent
memo, e.g. the store's SQLite table) so a warm process only reads and hashes files.

Versions come from the source on disk, so a function whose running code is not what its file
compiles to now (its module imported before the file changed: a notebook that does not reload it, a
bytecode cache whose source kept size and mtime) is versioned by the bytecode that runs, with a
warning (``SourceFiles.runs_as_written``).
"""

from __future__ import annotations

import builtins
import functools
import importlib
import importlib.util
import inspect
import os
import sys
import types
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from engine._pickling import dumps as pickle_dumps
from engine._records import Record
from engine.caching.code_helpers import (
    _code_digest,
    _code_names,
    _file_of,
    _is_code,
    _is_library_callable,
    _is_under,
    _layers,
    _path_name_only,
    _qual_of,
    _unwrap,
    class_data,
    diff_parts,
    globals_refs,
    value_digest,
)
from engine.caching.code_locations import location as _location
from engine.caching.code_locations import location_of as _location_of
from engine.caching.code_locations import source_of as _source_of
from engine.caching.data_version import combine, fingerprint
from engine.caching.distributions import dist_version, library_part
from engine.caching.file_index import FileIndex
from engine.caching.source_analysis import _PY, _h
from engine.caching.source_files import SourceFiles
from engine.caching.version_memo import Trail, VersionMemo
from engine.files import in_library

__all__ = ["CodeVersion", "CodeVersioner", "diff_parts", "dist_version", "value_digest"]

_ENGINE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # engine/, not engine/caching/


@dataclass(frozen=True, repr=False)
class CodeVersion(Record):
    """A node's code version: ``digest`` over all ``parts`` plus ``extra`` (decorator arguments)."""

    digest: str
    parts: dict[str, str] = field(default_factory=dict)
    extra: str = ""
    unversionable: tuple[str, ...] = ()  # values neither fingerprint nor pickle can version: always runs


# ---------------------------------------------------------------------------------- the versioner

_SKIP = object()


class _Parts(dict):
    """``parts`` while one version is being computed, with that computation's bookkeeping."""

    __slots__ = ("tokens", "busy", "pin", "unversionable", "trail")

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[int, str] = {}  # id(object) -> token, for objects versioned in this call
        self.busy: set[int] = set()  # ids being versioned right now (cycle guard)
        self.pin: list[Any] = []  # keeps those objects alive so their ids stay unique
        self.unversionable: list[str] = []
        #: what this computation looked at, for ``version_memo`` to persist and check it (None: nothing
        #: here can be checked without computing it again)
        self.trail: Trail | None = Trail()

    def once(self, obj: Any, label: str, compute: Callable[[], str]) -> str:
        """``compute()`` memoised per object for this call, and safe against reference cycles."""
        oid = id(obj)
        tok = self.tokens.get(oid)
        if tok is not None:
            return tok
        if oid in self.busy:
            return "cycle:" + label
        self.busy.add(oid)
        self.pin.append(obj)
        try:
            tok = compute()
        finally:
            self.busy.discard(oid)
        self.tokens[oid] = tok
        return tok


def _class_version(self, cls: type) -> str | None:
    """Code version of a project-local class (folded into its instances' data versions), else None."""
    if cls in self._class_versions:
        return self._class_versions[cls]
    module = getattr(cls, "__module__", "") or ""
    got = None
    if module not in ("builtins", "__main__") and self._kind(module, self._root_for(cls))[0] == "local":
        got = self.version(cls).digest
    self._class_versions[cls] = got
    return got


class CodeVersioner:
    """Computes :class:`CodeVersion` s; one instance per run (or per watch session) is enough.

    ``project_root``: code under it is versioned by source. When None, the root is derived from
    the node's module: walk up from its file while the directory has an ``__init__.py`` (the
    top-level package), and take that package's parent directory — so sibling packages and
    modules next to the pipeline count as project code. Code inside ``site-packages`` /
    ``dist-packages`` is never project code, and Ripple's own ``engine`` package counts as the
    ``ripple`` distribution. ``memo``: persistent string->string mapping for parsed-file indexes.
    """

    def __init__(self, project_root: Path | None = None, memo: MutableMapping[str, str] | None = None,
                 persisted: VersionMemo | None = None) -> None:
        self.project_root = Path(project_root).resolve() if project_root is not None else None
        self._root = str(self.project_root) if self.project_root is not None else None
        self.memo: MutableMapping[str, str] = memo if memo is not None else {}
        self.sources = SourceFiles(self.memo)
        self._root_cache: dict[str, str] = {}
        self._kind_cache: dict[tuple[str, str], tuple[str, str]] = {}
        self._locations: dict[str, tuple[str, int, int]] = {}
        self.traced: dict[tuple[str, str], str] = {}  # (file, name) -> version, for ``caching.observed``
        self.traced_modules: dict[str, Any] = {}
        self._class_versions: dict[type, str | None] = {}
        #: types whose pickle round trip changes their fingerprint (checked once per type, caching.session)
        self.roundtrip: dict[type, bool] = {}
        #: code versions of earlier processes, reused when everything they looked at is unchanged
        self.persisted = (persisted or VersionMemo(self.memo)).bind(self)
        self._work: _Parts | None = None  # the computation in progress, whose trail file_info extends

    # -- public ----------------------------------------------------------------------------------
    def version(self, fn: Callable[..., Any], extra: str = "") -> CodeVersion:
        """Code version of ``fn`` and everything project-local it reaches; never None."""
        root = self._root_for(fn)
        if (known := self.persisted.recall(fn, extra, root)) is not None:
            return CodeVersion(known[0], known[1], extra)
        work = _Parts()
        outer, self._work = self._work, work
        try:
            self._version_callable(fn, work, root, is_node=True)
        finally:
            self._work = outer
        parts = dict(work)
        # Part names are qualified identifiers and values are digests/version strings, so neither
        # contains NUL or \x01; ``extra`` is length-prefixed. One hash call keeps this cheap.
        payload = "\0".join([f"ripple-code\0{_PY}\0{len(extra)}:{extra}", *(f"{k}\1{parts[k]}" for k in sorted(parts))])
        cv = CodeVersion(digest=_h(payload), parts=parts, extra=extra, unversionable=tuple(dict.fromkeys(work.unversionable)))
        if work.trail is not None and not cv.unversionable:
            self.persisted.remember(fn, root, cv, work.trail)
        return cv

    class_version = _class_version
    _location = _location
    source_of = _source_of
    location_of = _location_of

    def refresh(self) -> None:
        """Look at the files on disk again. Until then each source file is read once per versioner:
        the modules were imported once too, so the code that runs is the code first read."""
        self.sources.refresh()
        self.persisted.refresh()
        self.traced.clear()
        self.traced_modules.clear()

    # -- files -----------------------------------------------------------------------------------
    def file_info(self, path: str, fact: Callable[[FileIndex], list[Any]] | None = None) -> FileIndex | None:
        """Analysed index of a source file; parses at most once per content (memo-backed). The
        computation in progress notes the file in its trail: by ``fact(info)``, what it takes from
        the file, so that an edit elsewhere in it keeps the version (``VersionMemo``); without one,
        by the whole content."""
        info = self.sources.info(path)
        work = self._work
        if work is not None and work.trail is not None:
            if info is None:
                work.trail = None
            else:
                work.trail.took(path, info.content_digest, fact(info) if fact is not None else None)
        return info

    # -- classification --------------------------------------------------------------------------
    def _root_for(self, fn: Any) -> str:
        if self._root is not None:
            return self._root
        code = getattr(fn, "__code__", None)
        if code is not None:
            hit = self._root_cache.get(code.co_filename)
            if hit is not None:
                return hit
        fn = _unwrap(fn)
        file = _file_of(fn)
        if file is None:
            return os.getcwd()
        d = os.path.dirname(os.path.abspath(file))
        cached = self._root_cache.get(d)
        if cached is not None:
            return cached
        cur = d
        while os.path.exists(os.path.join(cur, "__init__.py")) and os.path.dirname(cur) != cur:
            cur = os.path.dirname(cur)
        self._root_cache[d] = cur
        if code is not None:
            self._root_cache[code.co_filename] = cur
        return cur

    def _kind(self, module_name: str, root: str) -> tuple[str, str]:
        """('local', file) | ('dist', top) | ('ripple', '') | ('stdlib', '') | ('ext', file)."""
        ck = (module_name, root)
        hit = self._kind_cache.get(ck)
        if hit is not None:
            return hit
        top = module_name.split(".", 1)[0]
        mod = sys.modules.get(module_name)
        file = getattr(mod, "__file__", None) if mod is not None else None
        if file is None and mod is None:
            try:
                spec = importlib.util.find_spec(module_name)
            except (ImportError, ValueError, AttributeError):
                spec = None
            file = spec.origin if spec is not None and spec.has_location else None
        result: tuple[str, str]
        if top in sys.stdlib_module_names or top == "builtins" or top.startswith("_frozen"):
            result = ("stdlib", "")
        elif file is not None and os.path.abspath(file).startswith(_ENGINE_DIR + os.sep):
            result = ("ripple", "")
        elif file is not None and _is_under(file, root):
            result = ("local", os.path.abspath(file))
        elif module_name == "__main__" and file is None:
            result = ("local", "")
        elif file is not None and not in_library(file):
            result = ("ext", os.path.abspath(file))  # an editable install (pip install -e ../lib): by content
        elif dist_version(top, self.memo) is not None or file is None:
            result = ("dist", top)
        else:
            result = ("ext", os.path.abspath(file))
        self._kind_cache[ck] = result
        return result

    def _add_dist(self, module_name: str, kind: tuple[str, str], parts: dict[str, str]) -> None:
        value = self._dist_part(module_name, kind, parts)
        trail = getattr(parts, "trail", None)
        if trail is not None and value is not None:
            trail.dists.append([module_name, *kind, value])

    def _dist_part(self, module_name: str, kind: tuple[str, str], parts: dict[str, str]) -> str | None:
        got = library_part(module_name, kind, self.memo)
        if got is not None:
            parts[got[0]] = got[1]
        return None if got is None else got[1]

    def _fresh_token(self, val: Any, qual: str, root: str) -> str | None:
        """The token ``_include_value`` gives ``val`` now; None when that meant walking code inside it."""
        work = _Parts()
        tok = self._include_value(val, qual, work, root)
        return tok if work.trail is not None else None

    # -- components ------------------------------------------------------------------------------
    # Every ``_version_*`` / ``_include_value`` call returns a *token*: a string that identifies the
    # object it versioned (a part key for code, a digest for data). Tokens let a container or a
    # closure name the code it holds by content, so two closures made by one factory, two lambdas
    # or two partials of one function never share a part and hide each other's changes.

    def _token(self, obj: Any, parts: dict[str, str], root: str) -> str:
        """``_include_value`` memoised per object for this call, and safe against reference cycles."""
        if isinstance(obj, type | types.ModuleType | types.FunctionType | types.MethodType | functools.partial) \
                or isinstance(_unwrap(obj), types.FunctionType):
            return self._include_value(obj, "", parts, root)  # guarded in _version_callable
        memo: _Parts = parts  # type: ignore[assignment]
        return memo.once(obj, _qual_of(type(obj)), lambda: self._include_value(obj, "", parts, root))

    def _version_callable(self, fn: Any, parts: dict[str, str], root: str, is_node: bool = False) -> str:
        memo: _Parts = parts  # type: ignore[assignment]

        def compute() -> str:
            # Decorator layers: every function of the ``__wrapped__`` chain runs, so each counts —
            # the innermost as the node (or helper) itself, each wrapper as a helper whose code and
            # closure (the decorator's own arguments) are versioned like any closure.
            layers = _layers(fn)
            if len(layers) > 1:
                memo.trail = None
            toks = [self._version_object(layers[-1], parts, root, is_node)]
            toks += [self._version_object(layer, parts, root, False) for layer in reversed(layers[:-1])]
            return toks[0] if len(toks) == 1 else "wrapped:" + combine(*toks)

        return memo.once(fn, _qual_of(fn), compute)

    def _version_object(self, fn: Any, parts: dict[str, str], root: str, is_node: bool) -> str:
        """One layer: a function, partial, bound method, class, callable instance or library callable."""
        if not isinstance(fn, type | types.FunctionType):
            parts.trail = None  # type: ignore[attr-defined]  # state of an object: computed each time
        if isinstance(fn, functools.partial):
            func = self._version_callable(fn.func, parts, root)
            args = self._data_part(("partial", fn.args, fn.keywords), parts, root)
            key = f"{func}.<partial>#{_h(args)[:16]}"
            parts[key] = args
            return key
        if isinstance(fn, types.MethodType):
            func = self._version_callable(fn.__func__, parts, root, is_node)
            owner = self._token(fn.__self__, parts, root)
            key = f"{func}.<bound>#{_h(owner)[:16]}"
            parts[key] = owner
            return key
        if isinstance(fn, type):
            return self._version_class(fn, parts, root)
        if isinstance(fn, types.FunctionType):
            return self._version_function(fn, parts, root, is_node)
        call = inspect.getattr_static(type(fn), "__call__", None)
        if isinstance(call, types.FunctionType):
            cls = self._version_class(type(fn), parts, root)
            state = self._data_part(fn, parts, root)
            key = f"{cls}.<instance>#{_h(state)[:16]}"
            parts[key] = state
            return key
        mod = getattr(fn, "__module__", None)
        mod = mod if isinstance(mod, str) else type(fn).__module__
        self._add_dist(mod, self._kind(mod, root), parts)
        return _qual_of(fn)

    def _version_function(self, fn: types.FunctionType, parts: dict[str, str], root: str, is_node: bool) -> str:
        code = fn.__code__
        g = fn.__globals__
        # The code object knows where the function really lives; ``functools.wraps`` copies the
        # wrapped function's ``__module__``/``__qualname__`` onto a wrapper.
        module = name if isinstance(name := g.get("__name__"), str) else (fn.__module__ or "")
        cq = code.co_qualname
        qual = f"{module or '?'}.{cq}"
        if not is_node:
            kind = self._kind(module, root) if module else ("", "")
            if kind[0] != "local" and not (not module and _is_under(code.co_filename, root)):
                if module:
                    self._add_dist(module, kind, parts)
                return qual
        entry, info = self._find_function(code, cq)
        if entry is not None and not self.sources.runs_as_written(info, code, qual):
            entry = None  # what runs is not the file's code: it is versioned by its bytecode
        body = (entry["d"] if is_node else entry["hd"]) if entry is not None else _code_digest(code, fn)
        cells: list[tuple[str, str]] = []
        if fn.__closure__ or entry is None or "<" in cq:
            parts.trail = None  # type: ignore[attr-defined]  # values of this very object: computed each time
        for var, cell in zip(code.co_freevars, fn.__closure__ or ()):
            if var == "__class__":
                continue  # zero-arg super(): the class is versioned when referenced
            try:
                val = cell.cell_contents
            except ValueError:
                cells.append((var, "empty"))
                continue
            cells.append((var, self._token(val, parts, root)))
        if "<" in cq:
            # Defaults of a lambda or nested function are evaluated when it is made (``lambda v, k=k:``
            # in a comprehension, ``def f(x, k=k)`` in a factory): values its source does not show.
            defaults = [*enumerate(fn.__defaults__ or ()), *sorted((fn.__kwdefaults__ or {}).items())]
            cells += [(f"<default:{k}>", self._token(v, parts, root)) for k, v in defaults]
            # A lambda or a function made inside another one: many objects can share this name
            # (one per factory call), so the part is addressed by its code *and* closure values.
            ident = _h("\0".join([body, *(f"{v}\1{t}" for v, t in cells)]))[:16]
            key = f"{qual}#{ident}" + ("" if entry is not None else "#bytecode")
            if key in parts:
                return key
            parts[key] = combine(body, *(f"{v}={t}" for v, t in cells)) if cells else body
        else:
            key = qual if entry is not None else qual + "#bytecode"
            if key in parts:
                return key
            parts[key] = body
            for var, t in cells:
                parts[f"{qual}.<closure>.{var}"] = t
        if entry is not None:
            self._locations.setdefault(key, (info.path, entry["f"], entry["e"]))
            self._locations.setdefault(qual, (info.path, entry["f"], entry["e"]))
            refs = [*entry["r"], *([] if is_node else entry["dr"]), *globals_refs(code, g)]
            for ref in refs:
                self._resolve_ref(ref, g, module, parts, root)
        else:
            for name in sorted(_code_names(code)):
                if name in g:
                    self._resolve_ref(["g", name], g, module, parts, root)
        return key

    def _version_class(self, cls: type, parts: dict[str, str], root: str) -> str:
        key = _qual_of(cls)
        if key in parts or key + "#nosource" in parts:
            return key
        module = cls.__module__ or ""
        kind = self._kind(module, root)
        if kind[0] != "local":
            self._add_dist(module, kind, parts)
            return key
        mod = sys.modules.get(module)
        qual = cls.__qualname__
        info = self.file_info(kind[1], lambda i: i.class_fact(qual)) if kind[1] else None
        entries = info.classes(qual) if info is not None else []
        if entries and self.sources.class_as_written(info, cls, self._find_function, mod):
            # Several defs with one qualname (redefinition, if/else): all of them count.
            hd = entries[0]["hd"] if len(entries) == 1 else combine(*(e["hd"] for e in entries))
            data = class_data(cls, lambda v: self._data_part(v, parts, root, strict=False))
            parts[key] = combine(hd, data) if data else hd
            self._locations.setdefault(key, (info.path, entries[-1]["f"], entries[-1]["e"]))
            g = vars(mod) if mod is not None else {}
            for e in entries:
                for ref in (*e["r"], *e["dr"]):
                    self._resolve_ref(ref, g, module, parts, root)
        else:
            parts.trail = None  # type: ignore[attr-defined]
            parts[key + "#nosource"] = "pending"
            digests = []
            for name, member in sorted(vars(cls).items()):
                target = _unwrap(member.__func__ if isinstance(member, classmethod | staticmethod) else member)
                if isinstance(target, types.FunctionType):
                    digests.append(f"{name}:{_code_digest(target.__code__, target)}")
                    self._version_callable(target, parts, root)
                elif not name.startswith("__"):
                    digests.append(f"{name}:{self._data_part(member, parts, root)}")
            parts[key + "#nosource"] = combine(*digests)
        return key

    def _find_function(self, code: types.CodeType, qualname: str) -> tuple[dict[str, Any] | None, FileIndex | Any]:
        name, line = code.co_name, code.co_firstlineno
        info = self.file_info(code.co_filename, lambda i: i.function_fact(name, line, qualname))
        if info is None:
            return None, None
        return info.function(name, line, qualname), info

    def _resolve_ref(self, ref: list[Any], g: dict[str, Any], module: str, parts: dict[str, str], root: str) -> None:
        got = self._lookup_ref(ref, g, module, parts, root)
        trail: Trail | None = getattr(parts, "trail", None)
        if isinstance(got, str):
            if trail is not None and not trail.probe(module, ref, g, got):
                parts.trail = None  # type: ignore[attr-defined]
            return
        tok = self._include_value(got[1], got[0], parts, root)
        trail = getattr(parts, "trail", None)  # _include_value may have found something uncheckable
        if trail is not None and not trail.probe(module, ref, g, self.persisted.identity(got[1], tok, root)):
            parts.trail = None  # type: ignore[attr-defined]

    def _lookup_ref(self, ref: list[Any], g: dict[str, Any], module: str, parts: dict[str, str],
                    root: str) -> tuple[str, Any] | str:
        """What a reference names now: ``(part name, value)``, or how it ended (a builtin, a library
        import, unresolved: the parts it set say which)."""
        if ref[0] == "g":
            name = ref[1]
            qual = f"{module}.{name}"
            if name in g:
                val = g[name]
            else:
                b = g.get("__builtins__", builtins)
                b = b if isinstance(b, dict) else vars(b)
                if name in b:
                    return "builtin"
                parts[qual] = "unresolved"
                return "unresolved"
            chain = ref[2:]
        else:  # local import: ["i", level, module, (name,) attrs...]
            _, level, modname = ref[0], ref[1], ref[2]
            try:
                absname = importlib.util.resolve_name("." * level + modname, g.get("__package__") or "") \
                    if level else modname
            except (ImportError, ValueError):
                parts[f"import:{modname}"] = "unresolved"
                return "unresolved"
            kind = self._kind(absname, root)
            if kind[0] != "local":
                self._add_dist(absname, kind, parts)
                return "library:" + absname
            try:
                val = importlib.import_module(absname)
            except Exception:
                parts[f"import:{absname}"] = "unresolved"
                return "unresolved:" + absname
            qual = absname
            chain = ref[3:]
        for attr in chain:
            if not isinstance(val, types.ModuleType) or self._kind(val.__name__, root)[0] != "local":
                break  # into a library: its distribution version stands for everything inside
            nxt = getattr(val, attr, _SKIP)
            if nxt is _SKIP:
                sub = f"{val.__name__}.{attr}"
                if self._kind(sub, root)[0] == "local":
                    try:
                        nxt = importlib.import_module(sub)
                    except Exception:
                        nxt = _SKIP
                if nxt is _SKIP:
                    parts[sub] = "unresolved"
                    return "unresolved:" + sub
            qual = f"{val.__name__}.{attr}"
            val = nxt
        return qual, val

    def _include_value(self, val: Any, qual: str, parts: dict[str, str], root: str) -> str:
        """Version a value a piece of code references; ``qual`` names its part when it is data."""
        if val is os.environ or val is getattr(os, "environb", None):
            return "os.environ"  # not data of the code: each variable read is recorded at run time
        if isinstance(val, types.ModuleType):
            kind = self._kind(val.__name__, root)
            key = f"module:{val.__name__}"
            if kind[0] == "local":
                if key not in parts:
                    info = self.file_info(kind[1], FileIndex.module_fact) if kind[1] else None
                    parts[key] = info.module_digest if info is not None else self._data_part(val.__name__)
            else:
                self._add_dist(val.__name__, kind, parts)
            return key
        if isinstance(val, type | types.FunctionType | types.MethodType | functools.partial) \
                or isinstance(_unwrap(val), types.FunctionType):
            return self._version_callable(val, parts, root)
        if _is_library_callable(val):
            # Library callables (ufuncs, builtins, C functions): their distribution is the version.
            mod = getattr(val, "__module__", None)
            if isinstance(mod, str) and mod:
                kind = self._kind(mod, root)
                if kind[0] != "local":
                    self._add_dist(mod, kind, parts)
                    return _qual_of(val)
        if qual and qual in parts:
            return parts[qual]
        tok = self._data_part(val, parts, root, qual)
        if qual:
            parts[qual] = tok
        t = type(val)
        if t.__module__ not in ("builtins", "__main__"):
            kind = self._kind(t.__module__, root)
            if kind[0] == "local":
                self._version_class(t, parts, root)
            else:
                self._add_dist(t.__module__, kind, parts)  # a library object: its library's version
        return tok

    def _data_part(self, val: Any, parts: dict[str, str] | None = None, root: str = "", label: str = "",
                   strict: bool = True) -> str:
        # A Path constant in code is versioned by its *name*: the files a node actually reads are
        # versioned by content at run time (audit hooks), and hashing a data directory on every
        # code-version computation would be ruinous.
        hook = None
        if parts is not None:
            # Code inside a value (``HANDLERS = {"a": _fa}``, a dataclass holding a function, a
            # class in a list) is versioned as code; the value's digest names it by its token.
            def hook(obj: Any) -> str | None:
                if not _is_code(obj):
                    return None
                parts.trail = None  # type: ignore[union-attr]  # code inside a value: walked each time
                return "code:" + self._token(obj, parts, root)

        fp = fingerprint(val, file_version=_path_name_only, code_ref=hook, path_root=root or None)
        if fp is not None:
            return fp
        # Not fingerprintable: its pickle bytes (never a lossy repr), else unversionable (``unversionable``: runs always).
        try:
            return "pickle:" + xxhash.xxh3_128_hexdigest(pickle_dumps(val, protocol=4))
        except Exception:  # noqa: BLE001 - whatever pickling raises, the value cannot be versioned
            if strict and isinstance(parts, _Parts):  # not strict: what cannot be versioned is left out
                parts.unversionable.append(f"{label or _qual_of(type(val))} cannot be versioned (neither fingerprinted nor pickled)")
            return "unversionable:" + _h(_qual_of(type(val)))
