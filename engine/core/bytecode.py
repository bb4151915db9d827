"""Import project-local modules from bytecode that provably matches their source.

Why: CPython trusts a ``.pyc`` whose recorded source mtime (whole seconds) and size match the
file. An edit that keeps both — same size within the same second, or any tool that restores the
mtime (``cp -p``, ``rsync -t``, ``tar x``, ``git checkout`` of an older file) — runs the old
bytecode while Ripple versions the new source: a stale value stored under a fresh key.

Once a pipeline is loaded, every module whose source lies outside the interpreter's own trees and
``site-packages`` — the project's modules (helpers and sibling packages too, not only the pipeline
package) and editable installs (``pip install -e ../common``), exactly the code Ripple versions by
its source — is imported with a loader that validates bytecode by a hash of the source bytes (PEP 552 "checked-hash" pycs,
written in place of the timestamp ones) and otherwise compiles the source it just read. The cost
is one SipHash of each project source file per import — microseconds for a typical module.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import sys
from collections.abc import Sequence
from importlib.machinery import PathFinder, SourceFileLoader
from types import CodeType, ModuleType
from typing import Any

from engine.files import in_library

__all__ = ["CheckedSourceLoader", "cache_code", "cached_code", "ensure_checked_imports", "imported", "imports_current",
           "is_project_source", "nested_code"]

#: what the checked loader noted of an import: the source's hash (``importlib.util.source_hash``), the
#: code objects it made (by id), and the source's content digest (xxh3-128, as file versions have it)
Imported = tuple[bytes, dict[int, CodeType], str]

_FLAGS_CHECKED_HASH = 0b11
#: never project code: the interpreter's own trees and Ripple itself (versioned as a distribution)
_LIBRARIES = tuple({os.path.abspath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
                   | {os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep})


class CheckedSourceLoader(SourceFileLoader):
    """A source loader whose bytecode cache is validated by the source's hash, never its mtime; what
    it imported is noted in ``imported`` (path -> ``Imported``)."""

    def __init__(self, fullname: str, path: str, imported: dict[str, Imported] | None = None) -> None:
        super().__init__(fullname, path)
        self.imported = imported

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        digest = importlib.util.source_hash(source)
        code = self._code(path, source, digest)
        if self.imported is not None:
            import xxhash  # here: ``import engine`` does not need it

            self.imported[os.path.abspath(path)] = (digest, _code_objects(code), xxhash.xxh3_128_hexdigest(source))
        return code

    def _code(self, path: str, source: bytes, digest: bytes) -> CodeType:
        code = cached_code(path, source, digest)
        if code is None:
            code = self.source_to_code(source, path)
            cache_code(path, digest, code)
        return code


def cached_code(path: str, source: bytes, digest: bytes | None = None) -> CodeType | None:
    """What compiling ``source``, the bytes of ``path``, gives, read from the bytecode cache beside it
    (unmarshalling costs a fiftieth of compiling) when that is a hash-based cache of these very bytes
    (``digest``: their ``importlib.util.source_hash``, if known); else None: a timestamp cache, which
    Python's importer writes, records an mtime and a size, not which content it was made of."""
    try:
        with open(importlib.util.cache_from_source(path), "rb") as f:
            data = f.read()
    except (OSError, NotImplementedError, ValueError):
        return None
    if len(data) <= 16 or data[:4] != importlib.util.MAGIC_NUMBER or not int.from_bytes(data[4:8], "little") & 0b1:
        return None
    if data[8:16] != (digest if digest is not None else importlib.util.source_hash(source)):
        return None
    try:
        code = marshal.loads(memoryview(data)[16:])
    except (EOFError, ValueError, TypeError):
        return None  # a damaged cache: compiled from the source instead
    return code if isinstance(code, CodeType) else None


def cache_code(path: str, digest: bytes, code: CodeType) -> None:
    """Write ``code``, what the source of ``path`` whose hash is ``digest`` compiles to, as its bytecode
    cache, validated by that hash (PEP 552 checked-hash): from then on Python's own importer checks the
    cache against the source's bytes, not its mtime, and writes hash-based caches for later edits
    too. Nothing when bytecode is not to be written, or cannot be (a read-only tree compiles each time)."""
    if sys.dont_write_bytecode:
        return
    try:
        pyc = importlib.util.cache_from_source(path)
        payload = importlib.util.MAGIC_NUMBER + _FLAGS_CHECKED_HASH.to_bytes(4, "little") + digest + marshal.dumps(code)
        SourceFileLoader("", path).set_data(pyc, payload)
    except (OSError, NotImplementedError, ValueError):
        pass


def is_project_source(path: str) -> bool:
    """Whether ``path`` is source Ripple versions by its text: outside the interpreter's trees,
    ``site-packages`` and Ripple itself."""
    origin = os.path.abspath(path)
    return not origin.startswith(_LIBRARIES) and not in_library(origin)


class _ProjectFinder:
    """Before the path finder: the same spec, with :class:`CheckedSourceLoader` for project files."""

    def __init__(self) -> None:
        self.roots: tuple[str, ...] = ()
        self.imported: dict[str, Imported] = {}

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> Any:
        if not self.roots:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not SourceFileLoader or not spec.origin:
            return spec
        if is_project_source(spec.origin):
            spec.loader = CheckedSourceLoader(fullname, spec.origin, self.imported)
        return spec

    def invalidate_caches(self) -> None:
        """Nothing cached here (``importlib.invalidate_caches`` calls this on every finder)."""


def nested_code(code: CodeType) -> list[CodeType]:
    """Every code object ``code`` holds (its functions, classes, lambdas, at any depth)."""
    found: list[CodeType] = []
    stack = [code]
    while stack:
        for const in stack.pop().co_consts:
            if isinstance(const, CodeType):
                found.append(const)
                stack.append(const)
    return found


def _code_objects(code: CodeType) -> dict[int, CodeType]:
    """Every code object a module's code holds, by identity (held, so the ids stay theirs)."""
    return {id(c): c for c in [code, *nested_code(code)]}


def imported(path: str) -> Imported | None:
    """What the checked loader last imported from ``path`` (``Imported``: a live function whose code
    is one of the code objects runs that source as written); None if it never imported it."""
    finder = _installed()
    return finder.imported.get(os.path.abspath(path)) if finder is not None else None


def imports_current(path: str, digest: str) -> bool:
    """Whether what this process imported from ``path`` was the content whose digest is ``digest``
    (its file version now): a version stored by another process describes that content, and must not
    be reused for code imported before the file changed (a notebook that has not reloaded its module
    would run its old code and store the result under the new code's version). Ripple's loader noted
    what it imported; a module Python's own loader imported is current when the file last changed
    (its ctime, which no tool sets back) before this process started, the earliest it could have
    been imported (``_STARTED_NS``), and Python could not have run a bytecode cache of other content
    (``_cache_checked``). Else unknown (False): the caller compares the code that runs with the file's."""
    noted = imported(path)
    if noted is not None:
        return noted[2] == digest
    if _STARTED_NS is None:
        return False
    try:
        return os.stat(path).st_ctime_ns < _STARTED_NS and _cache_checked(path)
    except OSError:
        return False


def _cache_checked(path: str) -> bool:
    """Whether Python's importer can only have run ``path``'s own content: no bytecode cache beside
    it (it compiled the source), or a hash-based one it checks against the source. A timestamp cache
    it trusts by mtime and size, which an edit can keep (``cp -p``): its code may be another content's."""
    try:
        with open(importlib.util.cache_from_source(path), "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        return True
    except (OSError, NotImplementedError, ValueError):
        return False
    import _imp

    return (len(head) == 8 and int.from_bytes(head[4:8], "little") == _FLAGS_CHECKED_HASH
            and _imp.check_hash_based_pycs != "never")


def _started_ns() -> int | None:
    """When this process started, in ``time.time_ns()`` terms, less 50 ms: the kernel stamps a ctime
    from a clock up to a tick behind and gives the start in ticks. Read when this module is first
    imported, so a child forked later keeps its parent's (its modules may predate the fork); a
    ``multiprocessing`` child that imports Ripple itself counts from its parent's start too. None
    where ``/proc`` does not tell (then ``imports_current`` knows only what Ripple's loader imported)."""
    import time

    def start(pid: str) -> int:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[19])  # field 22, starttime: clock ticks after boot

    try:
        ticks = start("self")
        proc = sys.modules.get("multiprocessing.process")
        if proc is not None and getattr(proc, "_parent_process", None) is not None:
            ticks = min(ticks, start(str(os.getppid())))
        boot = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        return boot + ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK") - 50_000_000
    except (OSError, ValueError, IndexError, AttributeError):
        return None


_STARTED_NS = _started_ns()


def _installed() -> _ProjectFinder | None:
    for f in sys.meta_path:
        if type(f).__name__ == "_ProjectFinder" and type(f).__module__ == __name__:
            return f  # type: ignore[return-value]
    return None


def _finder() -> _ProjectFinder:
    found = _installed()
    if found is not None:
        return found
    finder = _ProjectFinder()
    at = next((i for i, f in enumerate(sys.meta_path) if f is PathFinder), len(sys.meta_path))
    sys.meta_path.insert(at, finder)
    return finder


def ensure_checked_imports(root: str | os.PathLike[str]) -> None:
    """From now on, project modules (``root``'s, and any other source outside the interpreter and
    ``site-packages``) run bytecode that matches their source.

    The finder lives in ``sys.meta_path`` (the import system's own registry); roots only grow."""
    finder = _finder()
    r = os.path.abspath(os.fspath(root)).rstrip(os.sep) + os.sep
    if r not in finder.roots:
        finder.roots = (*finder.roots, r)
