"""Source files as the code versioner reads them: each read once per ``refresh``, analysed once
per content (the analysis is memoised in the store under the content digest), with their lines
for ``explain``."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import time
import types
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from engine._gc import paused
from engine._json import dumps as json_dumps
from engine._json import loads as json_loads
from engine._json import loads_object
from engine._log import log
from engine.caching.code_helpers import _unwrap
from engine.caching.file_index import FileIndex
from engine.caching.source_analysis import analyze_source, content_digest, last_key, memo_key, source_lines
from engine.caching.statement_reuse import partial_tree
from engine.core.bytecode import cache_code, cached_code, imported, is_project_source, nested_code
from engine.files import RACY_WINDOW_NS


class SourceFiles:
    """Source files as the versioner sees them: each read once per ``refresh``, analysed once per
    content (the analysis is memoised in the store), with their lines for ``explain``."""

    def __init__(self, memo: MutableMapping[str, str]) -> None:
        self.memo = memo
        #: path -> (signature when read, analysis or None)
        self.seen: dict[str, tuple[tuple[int, int, int, int, int], FileIndex | None]] = {}
        self._by_content: dict[str, FileIndex] = {}
        self._checked: set[str] = set()  # files already read since the last refresh()
        self._line_cache: dict[str, tuple[tuple[int, int], list[str]]] = {}
        self._content: dict[str, bytes] = {}  # content digest -> the bytes analysed
        self._warned: set[tuple[str, str]] = set()
        #: (path, content digest) -> what Ripple's loader imported from the path, against it (``_loaded``)
        self._imported: dict[tuple[str, str], tuple[bool | None, dict[int, types.CodeType] | None]] = {}
        #: content digest -> what compiling it gives: (qualname, first line) -> code objects
        self._compiled: dict[str, dict[tuple[str, int], list[types.CodeType]]] = {}
        self._as_now: dict[tuple[str, str], bool] = {}  # (path, content digest) -> imported_as_now

    def refresh(self) -> None:
        self._checked = set()
        self._as_now.clear()  # modules may have been reloaded

    def info(self, path: str) -> FileIndex | None:
        """Analysed index of a source file; parses at most once per content (memo-backed)."""
        if path in self._checked:
            hit = self.seen.get(path)
            if hit is not None:
                return hit[1]
        self._checked.add(path)
        try:
            st = os.stat(path)
        except OSError:
            return None
        sig = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns, st.st_dev)
        hit = self.seen.get(path)
        # A file written in the last 2 s may change again without changing (mtime, size): only
        # older files are trusted by signature; fresh ones are re-read (never re-parsed if equal).
        if hit is not None and hit[0] == sig and time.time_ns() - st.st_mtime_ns > RACY_WINDOW_NS:
            return hit[1]
        try:
            with open(path, "rb") as f:
                content = f.read()
        except OSError:
            return None
        digest = content_digest(content)
        self._content[digest] = content
        info = self._by_content.get(digest)
        if info is None or info.path != path:
            key = memo_key(digest)
            raw = self.memo.get(key)
            data = None
            if raw is not None:
                try:
                    data = json_loads(raw)
                except ValueError:
                    data = None
            if data is None:
                try:
                    data = self._analyze(path, digest, content)
                except (SyntaxError, ValueError, RecursionError):
                    self.seen[path] = (sig, None)
                    return None
                self.memo[key] = json_dumps(data, compact=True)
                self.memo[last_key(path)] = digest
            info = FileIndex(path, digest, data)
            self._by_content[digest] = info
        self.seen[path] = (sig, info)
        return info

    def _analyze(self, path: str, digest: str, content: bytes) -> dict[str, Any]:
        """The analysis of new content. What the content compiles to is indexed first, unless Ripple's
        loader imported this content (it holds the code objects): ``runs_as_written`` needs it, and
        when the bytecode cache cannot give it, compiling the tree the analysis parses anyway costs
        half of compiling the text again (the analysis then changes the tree, so not after)."""
        with paused():  # all of it, the tree's end included: a collection after would scan the whole tree
            previous = self._previous(path)
            tree = partial_tree(content, previous)  # an edited file: its unchanged defs left unparsed
            whole = tree is None
            if whole:
                tree = ast.parse(content, filename=path)
            if not self._loaded(path, digest)[0] and digest not in self._compiled:
                self._index(digest, path, tree if whole else content)
            try:
                data = analyze_source(content, path, tree=tree, previous=previous)
            except SyntaxError:
                if whole:
                    raise
                data = analyze_source(content, path, tree=ast.parse(content, filename=path), previous=previous)
            del tree
        return data

    def _previous(self, path: str) -> dict[str, Any] | None:
        """The last analysis made of another content of ``path``, whose unchanged statements the new
        one takes (``analyze_source``'s ``previous``): after an edit, only what changed is walked."""
        digest = self.memo.get(last_key(path))
        return loads_object(self.memo.get(memo_key(digest))) if digest is not None else None

    def _index(self, digest: str, path: str, source: bytes | ast.Module | None) -> dict[tuple[str, int], list[types.CodeType]]:
        """What the content compiles to, by (qualname, first line): from the bytecode cache when that
        is a hash-based one of this very content (``cached_code``), else compiled from ``source`` (its
        text or tree), and then, for a project file, written as such a cache (``cache_code``): Python's
        importer keeps writing hash-based caches for the file's later contents, so the next version
        made of any of them is read, not compiled (and Python no longer trusts a cache by its mtime)."""
        content = self._content.get(digest)
        hashed = importlib.util.source_hash(content) if content is not None else None
        module_code = cached_code(path, content, hashed) if content is not None else None
        if module_code is None and source is not None:
            try:
                module_code = compile(source, path, "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                pass  # it parses but does not compile (a misplaced ``return``): not importable
            else:
                if hashed is not None and is_project_source(path):
                    cache_code(path, hashed, module_code)
        index: dict[tuple[str, int], list[types.CodeType]] = {}
        for c in nested_code(module_code) if module_code is not None else ():
            index.setdefault((c.co_qualname, c.co_firstlineno), []).append(c)
        self._compiled[digest] = index
        return index

    def _loaded(self, path: str, digest: str) -> tuple[bool | None, dict[int, types.CodeType] | None]:
        """Whether Ripple's loader imported ``path`` from this content (True, with the code objects it
        made), from other content (False), or never (None): it noted the content digest it imported."""
        where = (path, digest)
        got = self._imported.get(where)
        if got is None:
            noted = imported(path)
            got = (None, None) if noted is None else (True, noted[1]) if noted[2] == digest else (False, None)
            self._imported[where] = got
        return got

    def runs_as_written(self, info: FileIndex, code: types.CodeType, qual: str) -> bool:
        """Whether ``code``, the live function ``qual``'s, is what ``info``'s source compiles to. It
        is not when the module was imported before the file last changed (a notebook that edits a
        file and runs again without reloading it, bytecode cached for a source that kept its size
        and mtime): then the file's version would describe code that does not run, and its results
        would later be served to the code that does; the versioner versions the bytecode instead,
        and this warns once. Asked only when a version is computed (a reused version was checked
        when it was made); free for a module Ripple's loader imported from this very content (it
        knows the code objects it made), else the content is compiled once."""
        if self._compiles_to(info, code):
            return True
        if (info.path, qual) not in self._warned:
            self._warned.add((info.path, qual))
            log.warning("%s runs code older than %s (its module was imported before the file changed): its "
                        "results are cached for the code that runs; reload the module or start a new process "
                        "to run the file's", qual, info.path)
        return False

    def class_as_written(self, info: FileIndex, cls: type, find: Callable[..., Any], module: Any) -> bool:
        """Whether ``cls``, defined in ``info``'s file, is what that file defines now: every function of
        its body runs as written (``runs_as_written``; ``find`` is the versioner's look-up of a code
        object's definition), and its module was not imported from another content of the file (its
        attributes cannot be compared: see ``imported_as_is``). Else the versioner versions the class
        from what it holds, as it does a class without source."""
        if not self.imported_as_is(info, module):
            return False
        for target in _functions(cls):
            entry, where = find(target.__code__, target.__code__.co_qualname)
            qual = f"{target.__module__}.{target.__qualname__}"
            if entry is not None and not self.runs_as_written(where, target.__code__, qual):
                return False
        return True

    def imported_as_is(self, info: FileIndex, module: Any) -> bool:
        """Whether ``module`` (of ``info``'s file) was imported from the file's content as it is now, as
        far as can be told: Ripple's loader knows what it imported; for Python's, a bytecode cache
        whose recorded mtime or size is not the file's says the file changed after it was written
        (at the import, or later by another process: then this cannot tell)."""
        if info.content_digest not in self._content or module is None:
            return True
        same, _codes = self._loaded(info.path, info.content_digest)
        if same is not None:
            return same
        cached = getattr(module, "__cached__", None)
        try:
            with open(cached, "rb") as f:
                head = f.read(16)
            st = os.stat(info.path)
        except (OSError, TypeError):
            return True
        if len(head) < 16 or head[:4] != importlib.util.MAGIC_NUMBER or int.from_bytes(head[4:8], "little"):
            return True  # not a timestamp cache: nothing recorded to compare
        return (int.from_bytes(head[8:12], "little"), int.from_bytes(head[12:16], "little")) == \
            (int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF)

    def imported_as_now(self, path: str, digest: str) -> bool:
        """Whether every module this process imported from ``path`` runs what its content ``digest``
        (the file's now) compiles to: each function it holds, and each class's, is that content's
        code, and its bytecode cache does not say the file changed after the import
        (``imported_as_is``). Asked once per content for a module whose import cannot otherwise be
        placed after the file's last change (``engine.core.bytecode.imports_current``)."""
        key = (path, digest)
        got = self._as_now.get(key)
        if got is None:
            got = self._as_now[key] = self._all_as_written(path, digest)
        return got

    def _all_as_written(self, path: str, digest: str) -> bool:
        info = self.info(path)
        if info is None or info.content_digest != digest:
            return False
        path = os.path.abspath(path)  # a code object's file may be relative (a relative ``sys.path`` entry)
        for module in [m for m in list(sys.modules.values()) if _file_of(m) == path]:
            if not self.imported_as_is(info, module):
                return False
            named = module.__file__  # as the import gave it: the co_filename of what it compiled
            for value in list(vars(module).values()):
                fns = _functions(value) if isinstance(value, type) else (_unwrap(value),)
                for fn in fns:
                    code = fn.__code__ if isinstance(fn, types.FunctionType) else None
                    if code is not None and (code.co_filename == named or os.path.abspath(code.co_filename) == path) \
                            and not self._compiles_to(info, code):
                        return False
        return True

    def _compiles_to(self, info: FileIndex, code: types.CodeType) -> bool:
        """``runs_as_written`` without its warning: a question, not a finding."""
        same, codes = self._loaded(info.path, info.content_digest)
        if same and codes is not None and codes.get(id(code)) is code:
            return True
        index = self._compiled.get(info.content_digest)
        if index is None:
            index = self._index(info.content_digest, info.path, self._content.get(info.content_digest))
        return any(c == code for c in index.get((code.co_qualname, code.co_firstlineno), ()))

    def lines(self, path: str) -> list[str] | None:
        try:
            st = os.stat(path)
            sig = (st.st_mtime_ns, st.st_size)
            hit = self._line_cache.get(path)
            if hit is not None and hit[0] == sig:
                return hit[1]
            with open(path, encoding="utf-8", errors="replace", newline="") as f:
                lines = source_lines(f.read())
        except OSError:
            return None
        self._line_cache[path] = (sig, lines)
        return lines


def _functions(cls: type) -> Iterator[types.FunctionType]:
    """The functions a class holds: its methods, class and static methods, property accessors, and
    those of the classes defined in its body."""
    for member in list(vars(cls).values()):
        if isinstance(member, type) and member.__qualname__.startswith(cls.__qualname__ + "."):
            yield from _functions(member)
            continue
        for fn in (member.fget, member.fset, member.fdel) if isinstance(member, property) else (member,):
            target = _unwrap(fn.__func__ if isinstance(fn, classmethod | staticmethod) else fn)
            if isinstance(target, types.FunctionType):
                yield target


def _file_of(module: Any) -> str | None:
    file = getattr(module, "__file__", None)
    return os.path.abspath(file) if isinstance(file, str) else None
