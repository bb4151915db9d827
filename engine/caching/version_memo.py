"""Code versions persisted across processes, reused only when everything they were made of still is.

Why: a new process (every ``ripple run``, every run of the watch child) used to recompute every
node's code version: load each file's analysis, walk every helper and constant. That walk is most of
a warm run. Here a computed version is stored with its *trail* — what the walk looked at:

* every source file it read, by content digest, checked through ``engine.files.FileVersions`` (its
  stat fast path trusts a signature only outside the racy window; otherwise the file is re-hashed),
  and what it took from the file (its *facts*: each def it reached, by qualname where the file has
  one def of that name, else by first line and qualname, with its digests and references; a class's
  defs; a module's whole digest): a file that changed elsewhere keeps the version, which is then
  pinned to the new content (``_refit``);
* every reference it resolved (a name in a module's globals, a local import), with what it named
  then: a function by module, qualified name, file and first line; a module by name and file; a
  class by name, file and its data as it is now (``code_helpers.class_data``); a constant by its
  fingerprint, which is computed again (a constant may come from the environment at import time, so
  its file alone does not pin it);
* every library it reached, with the distribution version (or file version) it used.

A stored version is reused when all of these are still so, and this process imported the files'
current content (``engine.core.bytecode.imports_current``: a module imported before its file changed
runs other code than the file's, which the version describes); otherwise it is computed again (which
compares the code that runs with the file's) and stored anew. Anything whose state cannot be
checked without the walk itself — closures, lambdas, decorator chains, partials, bound methods,
callable instances, code held inside a value (a class's too), a function whose source was not
found — is never stored: those nodes are versioned every time, as before. Records live in the store's memo (MAC-sealed like every memo value), one per pipeline file
and project root.
"""

from __future__ import annotations

import functools
import os
import sys
import types
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from engine._gc import paused
from engine._json import dumps as json_dumps
from engine._json import loads as json_loads
from engine.core.bytecode import imports_current
from engine.files import FileVersions

if TYPE_CHECKING:
    from engine.caching.code_version import CodeVersion, CodeVersioner

#: bump when what a record holds, or what a version is made of, changes
RECORD_FORMAT = "6"  # 2: by content digest; 3: what was taken; 4: by qualname; 5, 6: class data (probe, version)

_UNSET = object()


class Trail:
    """What one version computation looked at (see the module docstring)."""

    __slots__ = ("files", "facts", "probes", "dists")

    def __init__(self) -> None:
        self.files: dict[str, str] = {}  # path -> content digest
        #: path -> what was taken from it (``CodeVersioner.file_info``'s facts); None: its whole content
        self.facts: dict[str, list[list[Any]] | None] = {}
        self.probes: list[list[Any]] = []
        self.dists: list[list[str]] = []

    def took(self, path: str, digest: str, fact: list[Any] | None) -> None:
        """The walk read ``path`` (content ``digest``) and took ``fact`` from it (None: all of it)."""
        self.files[path] = digest
        if fact is None:
            self.facts[path] = None
        else:
            got = self.facts.setdefault(path, [])
            if got is not None and fact not in got:
                got.append(fact)

    def probe(self, module: str, ref: list[Any], g: dict[str, Any], outcome: Any) -> bool:
        """Note what ``ref`` in ``module``'s globals named; False when that cannot be checked later
        (a namespace that is not a module's, or a value only the walk can version)."""
        mod = sys.modules.get(module)
        if outcome is None or mod is None or getattr(mod, "__dict__", None) is not g:
            return False
        self.probes.append([module, ref, outcome])
        return True


def code_identity(val: Any) -> list[Any] | None:
    """How code a reference names is recognised in another process without versioning it again;
    None for everything else, which is checked by its token (``_fresh_token``) instead."""
    if val is os.environ or val is getattr(os, "environb", None):
        return ["env"]
    if isinstance(val, types.ModuleType):
        return ["m", val.__name__, getattr(val, "__file__", None)]
    if isinstance(val, type):
        mod = sys.modules.get(val.__module__)
        return ["c", val.__module__, val.__qualname__, getattr(mod, "__file__", None)]
    if type(val) is types.FunctionType:
        code = val.__code__
        return ["f", val.__globals__.get("__name__"), code.co_qualname, code.co_filename, code.co_firstlineno,
                bool(val.__closure__), hasattr(val, "__wrapped__")]
    if isinstance(val, types.MethodType | functools.partial) or hasattr(val, "__wrapped__"):
        return ["opaque"]  # never stored (the walk drops the trail); differs from whatever was
    return None


class VersionMemo:
    """The versioner's persisted versions: ``recall`` before computing, ``remember`` after.

    It is made before its versioner, which ``make`` makes on first need (its ``bind`` makes the tie
    when the versioner comes first): a replayed warm run of a pure pipeline checks files alone, and
    then never loads the analysis a versioner's module imports (``tests/test_startup.py``)."""

    def __init__(self, memo: MutableMapping[str, str],
                 make: Callable[[VersionMemo], CodeVersioner] | None = None) -> None:
        self._memo = memo
        self._make = make
        self._versioner: CodeVersioner | None = None
        self._blobs: dict[tuple[str, str], dict[str, Any]] = {}
        self._files_ok: dict[tuple[str, str], bool] = {}  # (path, digest): still so? until refresh()
        self._live: dict[tuple[str, str], bool] = {}  # (path, digest): the content imported here? until refresh()
        self._dirty: set[tuple[str, str]] = set()
        self._files = FileVersions(memo)
        #: versions taken from an earlier process in this one (the tests read it)
        self.reused = 0
        self._now: dict[tuple[Any, ...], Any] = {}  # what a reference or library is now, until refresh()

    def bind(self, versioner: CodeVersioner) -> VersionMemo:
        self._versioner = versioner
        return self

    @property
    def versioner(self) -> CodeVersioner:
        if self._versioner is None:
            if self._make is None:
                raise RuntimeError("a VersionMemo made without a versioner nor a way to make one")
            self._versioner = self._make(self)
        return self._versioner

    # ------------------------------------------------------------------ reuse
    def recall(self, fn: Any, extra: str, root: str) -> tuple[str, dict[str, str]] | None:
        """``(digest, parts)`` stored for ``fn`` when all it was made of is unchanged, else None."""
        rec = self._record(fn, extra, root, imported_here=True)
        if rec is None:
            return None
        try:
            digest, parts, _files, probes, dists, _module, _facts, _line = rec
            for d in dists or ():  # loops, not all(...): this runs for every node of a warm run
                if not self._same_dist(d, root):
                    return None
            for p in probes or ():
                if not self._same_probe(p, root):
                    return None
        except (TypeError, ValueError, IndexError, KeyError):
            return None  # a record of another shape: computed again, and replaced
        self.reused += 1
        return digest, parts

    def hint(self, fn: Any, extra: str, root: str) -> str | None:
        """The digest stored for ``fn`` if its files are unchanged, its references not checked: what
        ``recall`` will most likely give, for a run to read ahead by (never to key a value by)."""
        rec = self._record(fn, extra, root)
        return rec[0] if rec is not None and isinstance(rec[0], str) else None

    def _record(self, fn: Any, extra: str, root: str, *, imported_here: bool = False) -> list[Any] | None:
        """``fn``'s stored record if it is of ``fn``'s module and its files hold what they held (and,
        ``imported_here``, that is what this process imported from them: see ``_current``)."""
        if type(fn) is not types.FunctionType or fn.__closure__ or hasattr(fn, "__wrapped__"):
            return None
        code = fn.__code__
        where = (root, code.co_filename)
        blob = self._blobs.get(where) or self._blob(where)
        rec = blob["r"].get(f"{code.co_qualname}\0{extra}")
        if rec is None:
            return None
        try:
            if len(rec) != 8 or fn.__globals__.get("__name__") != rec[5]:
                return None
            moved = rec[7] != code.co_firstlineno
            if moved and not imported_here:
                return None
            table = blob["f"]
            check = self._current if imported_here else self._still
            refitted = set()
            for k, i in enumerate(rec[2]):
                if not check(table[i]):
                    now = self._refit(table[i], rec[6][k]) if imported_here else None
                    if now is None:
                        return None
                    rec[2][k] = _row_index(table, now)
                    refitted.add(now[0])
                    self._dirty.add(where)
            if moved:
                # lines were added or removed above it: the same def if its qualname is the file's
                # only one, it is found at the line it starts at now, and (its fact) is as it was
                info = self.versioner.sources.info(code.co_filename) if code.co_filename in refitted else None
                if info is None or not info.locates(code.co_name, code.co_firstlineno, code.co_qualname):
                    return None
                rec[7] = code.co_firstlineno
                self._dirty.add(where)
        except (TypeError, ValueError, IndexError, KeyError):
            return None
        return rec

    def _refit(self, row: list[Any], facts: list[list[Any]] | None) -> list[Any] | None:
        """The file's row now, when it changed but not in what a version took from it (``facts``;
        None: its whole content was taken): the same defs (by qualname where the file has one def of
        that name, else at the same line), with the same digests and references, so the version made
        again would be the same. An edit to one function of a file keeps the versions of the others."""
        if facts is None:
            return None
        info = self.versioner.sources.info(row[0])
        if info is None:
            return None
        now = [row[0], info.content_digest]
        if not self._current(now):
            return None
        for fact in facts:
            if info.fact_now(fact) != fact:
                return None
        return now

    def trail(self, fn: Any, extra: str, root: str) -> tuple[str, list[list[Any]], list[Any], list[Any]] | None:
        """``(digest, files, probes, dists)`` of ``fn``'s stored record when its files still hold:
        what a recorded run (:mod:`engine.caching.warm_runs`) checks once for all its nodes."""
        rec = self._record(fn, extra, root)
        if rec is None:
            return None
        table = self._blobs[(root, fn.__code__.co_filename)]["f"]
        return rec[0], [table[i] for i in rec[2]], rec[3] or [], rec[4] or []

    def holds(self, root: str, files: list[list[Any]], probes: list[Any], dists: list[Any]) -> bool:
        """Whether files, references and libraries are as a trail found them: ``recall``'s checks,
        for the union of many records at once."""
        try:
            for row in files:
                if not self._current(row):
                    return False
            for d in dists:
                if not self._same_dist(d, root):
                    return False
            for p in probes:
                if not self._same_probe(p, root):
                    return False
        except (TypeError, ValueError, IndexError, KeyError):
            return False
        return True

    def _same_dist(self, d: list[str], root: str) -> bool:
        module_name, kind, detail, value = d
        key = ("dist", module_name, root)
        now = self._now.get(key, _UNSET)
        if now is _UNSET:
            got = self.versioner._kind(module_name, root)
            now = self._now[key] = [*got, self.versioner._dist_part(module_name, got, {})]
        return now == [kind, detail, value]

    def _same_probe(self, p: list[Any], root: str) -> bool:
        module, ref, outcome = p
        key = (module, root, *ref)
        now = self._now.get(key, _UNSET)
        if now is _UNSET:
            now = self._now[key] = self._outcome_now(module, ref, root)
        return now == outcome

    def _outcome_now(self, module: str, ref: list[Any], root: str) -> Any:
        """What ``ref`` in ``module`` names now, in the form a probe records (None: nothing checkable).
        Many nodes share a reference (a helper, a constant): it is looked at once per ``refresh``."""
        g = getattr(sys.modules.get(module), "__dict__", None)
        if g is None:
            return None
        got = self.versioner._lookup_ref(ref, g, module, {}, root)
        if isinstance(got, str):
            return got
        qual, val = got
        ident = code_identity(val)
        if ident is not None:
            return self._with_data(ident, val, root)
        token = self.versioner._fresh_token(val, qual, root)
        return None if token is None else ["d", _type_name(val), token]

    # ------------------------------------------------------------------ storing
    def identity(self, val: Any, token: str, root: str) -> list[Any]:
        """What a probe expects ``val`` to be in another process (``token``: its version now)."""
        ident = code_identity(val)
        return self._with_data(ident, val, root) if ident is not None else ["d", _type_name(val), token]

    def _with_data(self, ident: list[Any], val: Any, root: str) -> list[Any]:
        """A project class is recognised with its data as it is now (``class_data``: what module code
        put on it after its statement), once per class until user code runs."""
        if ident[0] != "c" or self.versioner._kind(val.__module__, root)[0] != "local":
            return ident
        key = ("class data", val, root)
        data = self._now.get(key, _UNSET)
        if data is _UNSET:
            from engine.caching.code_helpers import class_data

            data = self._now[key] = class_data(val, self.versioner._data_part)
        return [*ident, data] if data else ident

    def remember(self, fn: Any, root: str, cv: CodeVersion, trail: Trail) -> None:
        if type(fn) is not types.FunctionType or fn.__closure__ or hasattr(fn, "__wrapped__"):
            return
        code = fn.__code__
        where = (root, code.co_filename)
        blob = self._blob(where)
        table: list[list[Any]] = blob["f"]
        files = [_row_index(table, [path, digest]) for path, digest in trail.files.items()]
        facts = [trail.facts.get(path) for path in trail.files]
        blob["r"][f"{code.co_qualname}\0{cv.extra}"] = [
            cv.digest, cv.parts, files, trail.probes, trail.dists, fn.__globals__.get("__name__"), facts,
            code.co_firstlineno]
        self._dirty.add(where)

    def flush(self) -> None:
        """Write changed records to the memo, keeping only those whose files are still as recorded."""
        for where in sorted(self._dirty):
            blob = self._blobs[where]
            table = blob["f"]
            kept = {k: r for k, r in blob["r"].items() if all(self._still(table[i]) for i in r[2])}
            used = sorted({i for r in kept.values() for i in r[2]})
            renum = {old: new for new, old in enumerate(used)}
            for r in kept.values():
                r[2] = [renum[i] for i in r[2]]
            self._blobs[where] = {"f": [table[i] for i in used], "r": kept}
            self._memo[_memo_key(where)] = json_dumps(self._blobs[where], compact=True)
        self._dirty.clear()
        # The next reuse reads them again; held until exit they would be thousands of objects for
        # the interpreter's last garbage collection to walk (~1 ms per 5,000).
        self._blobs.clear()

    def _still(self, row: list[Any]) -> bool:
        """A file holds the content it was versioned from; asked once per file until ``refresh``,
        however many records (and blobs) name it."""
        try:
            key = (row[0], row[1])
            ok = self._files_ok.get(key)
            if ok is None:
                ok = self._files_ok[key] = self._files.version(row[0]) == row[1]
        except (OSError, TypeError, IndexError, KeyError):
            return False  # unreadable, or a row of another shape: not reused
        return ok

    def _current(self, row: list[Any]) -> bool:
        """A file holds the content it was versioned from, and that is the content this process
        imported from it (``imports_current``, else the code its modules hold compared with the
        file's: ``SourceFiles.imported_as_now``): a version another process made of the file says
        nothing of code imported here before the file changed."""
        if not self._still(row):
            return False
        key = (row[0], row[1])
        ok = self._live.get(key)
        if ok is None:
            ok = self._live[key] = imports_current(row[0], row[1]) or self.versioner.sources.imported_as_now(row[0], row[1])
        return ok

    def refresh(self) -> None:
        """Files may have changed: check them again before the next reuse."""
        self._files_ok.clear()
        self._live.clear()
        self._now.clear()

    def user_code_ran(self) -> None:
        """A node ran, and may have rebound a module global that later versions refer to: what the
        references name is looked at again (files cannot change that way: their checks stay)."""
        self._now.clear()

    def _blob(self, where: tuple[str, str]) -> dict[str, Any]:
        blob = self._blobs.get(where)
        if blob is None:
            blob = {"f": [], "r": {}}
            raw = self._memo.get(_memo_key(where))
            if raw is not None:
                try:
                    with paused():
                        got = json_loads(raw)
                    if isinstance(got, dict) and isinstance(got.get("f"), list) and isinstance(got.get("r"), dict):
                        blob = got
                except ValueError:
                    pass
            self._blobs[where] = blob
        return blob


def _row_index(table: list[list[Any]], row: list[Any]) -> int:
    """Where ``row`` is in a blob's file table, appended if new."""
    try:
        return table.index(row)
    except ValueError:
        table.append(row)
        return len(table) - 1


def _memo_key(where: tuple[str, str]) -> str:
    root, file = where
    return f"cv:{RECORD_FORMAT}:{sys.version_info[0]}.{sys.version_info[1]}:{root}\0{file}"


def _type_name(val: Any) -> str:
    t = type(val)
    return f"{t.__module__}.{t.__qualname__}"
