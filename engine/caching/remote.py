"""The cache's side of running nodes elsewhere (``engine.core.dask``): picklable pieces a worker uses
to version and store a value where it was computed, and the session bookkeeping for what comes back.

Why it is split this way: a value computed on a cluster worker must not travel to the driving
process only to be written to the store, and the driving process must keep every decision (keys,
hits, what is stored under which key, the run history). So the session hands out a ``Storer`` per
miss — the key, code version and dependency versions already decided — and the worker fingerprints
the value, writes it through its own :class:`~engine.store.Store` on the same directory (temp file,
fsync, rename, checksum: the store's guarantees hold from any process) and sends back a small
``Receipt``. The store directory must therefore be one path every worker can reach (a shared
filesystem); a worker that cannot open it fails the node with the store's own error.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.caching.code_version import CodeVersioner
from engine.caching.data_version import try_fingerprint
from engine.caching.rows import keep_version, ran_row
from engine.files import FileVersions, in_library
from engine.store import Entry, Store, Unstorable

if TYPE_CHECKING:
    from engine.caching.session import Session
    from engine.core.plan import Step
    from engine.core.run_records import Lazy


@dataclass(slots=True)
class Receipt:
    """What a worker reports after versioning (and maybe storing) one value."""

    data_version: str | None
    bytes: int = 0
    entry: Entry | None = None
    #: why the value was not fingerprinted or not stored (shown once as a warning)
    warning: str = ""
    warning_about: str = ""


def worker_store(root: str) -> Store:
    """One open store per worker thread and directory: opening it (schema check, journal replay)
    per task would cost more than most nodes, and a store's connection belongs to one thread."""
    return _store(root, threading.get_ident())


@functools.lru_cache(maxsize=64)
def _store(root: str, _thread: int) -> Store:
    return Store(root)


@functools.lru_cache(maxsize=64)
def _roundtrips(_thread: int) -> dict[type, bool]:
    """Per worker thread: which value types change when pickled (checked once per type)."""
    return {}


@functools.lru_cache(maxsize=8)
def _versioner(root: str, project_root: str, thread: int, _run: str) -> CodeVersioner:
    """Per run: a versioner reads each source file once, and the next run must see today's files."""
    return CodeVersioner(Path(project_root), _store(root, thread).memo)


def _file_version(root: str) -> Any:
    return _file_versions(root, threading.get_ident()).version


@functools.lru_cache(maxsize=64)
def _file_versions(root: str, thread: int) -> FileVersions:
    return FileVersions(_store(root, thread).memo)


@dataclass(frozen=True, slots=True)
class Fingerprinter:
    """Data versions computed on a worker, so items and values need not come to the driver."""

    root: str
    path_root: str | None = None
    classes: ClassVersions | None = None

    def __call__(self, value: Any) -> str | None:
        return try_fingerprint(value, file_version=_file_version(self.root), path_root=self.path_root,
                               class_version=self.classes)[0]


@dataclass(frozen=True, slots=True)
class ClassVersions:
    """The driver's code versions of the project's classes, so an instance fingerprinted on a worker
    gets the data version it would get in the driving process (a class edit changes it)."""

    table: dict[str, str]

    def __call__(self, cls: type) -> str | None:
        return self.table.get(f"{cls.__module__}.{cls.__qualname__}")


@dataclass(frozen=True, slots=True)
class RemoteLoad:
    """A cache hit loaded on the worker that needs it (the value never visits the driver)."""

    root: str
    entry: Entry

    def __call__(self) -> Any:
        return worker_store(self.root).load(self.entry)


@dataclass(frozen=True, slots=True)
class Storer:
    """Versions and stores one node's value on the worker that holds it, under a key the driving
    process decided."""

    root: str
    node: str
    location: str
    behavior: str
    key: str | None
    code_version: str
    code_parts: dict[str, Any] = field(default_factory=dict)
    deps: dict[str, str] = field(default_factory=dict)
    #: as the session fingerprints (paths under the project are versioned relative to it)
    path_root: str | None = None
    classes: ClassVersions | None = None
    #: the node's function and run: what it ran, read and saw is recorded as in the driving process
    origin: Any = None
    run_id: str = ""
    #: the node declares what its subprocesses read (``Node.declares_subprocess_reads``)
    quiet_subprocess: bool = False

    @property
    def writes(self) -> bool:
        """Whether calling it can store anything (the driver skips the round trip otherwise)."""
        return self.key is not None and self.behavior not in ("disable", "ignore")

    def store_many(self, jobs: list[tuple[Storer, Any, float, str | None, Iterable[str]]]) -> list[Receipt]:
        """``(storer, value, seconds, data version, reads)`` for many fan-out items: one store
        transaction, not one per item."""
        try:
            batch = worker_store(self.root).batch()
        except Exception:  # noqa: BLE001 - each call below reports it
            return [s(v, secs, reads, data_version=dv) for s, v, secs, dv, reads in jobs]
        with batch:
            return [s(v, secs, reads, data_version=dv, commit=False) for s, v, secs, dv, reads in jobs]

    def __call__(self, value: Any, seconds: float, reads: Iterable[str] = (),
                 data_version: str | None = None, commit: bool = True) -> Receipt:
        if self.behavior == "disable":
            return Receipt("disabled:" + uuid.uuid4().hex)
        try:
            store = worker_store(self.root)
        except Exception as exc:  # noqa: BLE001 - a store that cannot be used must not fail the node
            return Receipt(data_version, warning=f"a worker could not open the cache at {self.root} ({exc}); "
                                                 "the store must be a path every worker can reach",
                           warning_about="store")
        files = _file_versions(self.root, threading.get_ident())
        fp = data_version
        if fp is None:
            fp, why = try_fingerprint(value, file_version=files.version, path_root=self.path_root,
                                      class_version=self.classes)
            if fp is None:
                return Receipt(None, warning=f"{self.node} ({self.location}) returned a value that cannot be "
                                             f"fingerprinted ({why}); it and its dependents are not cached this run",
                               warning_about=self.node)
        if self.behavior == "ignore" or self.key is None:
            return Receipt(fp)
        from engine.caching import observed

        again = functools.partial(try_fingerprint, file_version=files.version, path_root=self.path_root,
                                  class_version=self.classes)
        if observed.pickling_changes(value, fp, again, _roundtrips(threading.get_ident())):
            return Receipt(fp, warning=f"{self.node} ({self.location}): a {type(value).__qualname__} changes when "
                                       "pickled (state pickle drops), so it is not stored; it re-runs",
                           warning_about=self.node + ":pickle")
        versions, warning = self._records(reads, observed.produced_files(value), files)
        receipt = self._put(store, value, seconds, fp, versions, commit)
        if warning and not receipt.warning:
            receipt.warning, receipt.warning_about = warning, self.node + ":subprocess"
        return receipt

    def _records(self, reads: Iterable[str], produced: list[str], files: FileVersions) -> tuple[dict[str, str], str]:
        """The entry's records of what the node read and saw (``engine.caching.observed``), with the
        code versions taken from the worker's copy of the project (the same files, by requirement)."""
        if self.origin is None or not self.path_root:
            return {p: files.version(p) for p in (*reads, *produced)}, ""
        from engine.caching import observed

        versioner = _versioner(self.root, self.path_root, threading.get_ident(), self.run_id)
        records, spawned = observed.node_records(reads, fn=self.origin, root=self.path_root, versioner=versioner,
                                                 files=files, static_parts=self.code_parts, produced=produced)
        warning = ""
        if spawned and not self.quiet_subprocess:
            warning = observed.subprocess_warning(self.node, self.location, spawned[0])
        return records, warning

    def _put(self, store: Store, value: Any, seconds: float, fp: str, versions: dict[str, str],
             commit: bool) -> Receipt:
        try:
            entry = store.put(self.key, self.node, fp, self.code_version, value, compute_seconds=seconds,
                              deps=self.deps, code_parts=self.code_parts, files=versions)
            if commit:
                store.commit()
        except Unstorable as exc:
            return Receipt(fp, warning=f"{self.node} ({self.location}): value cannot be stored ({exc}); it will "
                                       "re-run next time", warning_about=self.node)
        except Exception as exc:  # noqa: BLE001 - StoreError, or a store damaged under us: the value is still good
            return Receipt(fp, warning=f"the cache could not write ({exc}); results are not cached",
                           warning_about="store")
        entry.inline = None  # the bytes stay in the store; the driver only needs the row
        return Receipt(fp, entry.size, entry)


# ------------------------------------------------------------------ driver side


class RemoteSide:
    """The session as a remote executor sees it (``Session.remote()``)."""

    __slots__ = ("session", "_classes")

    def __init__(self, session: Session) -> None:
        self.session = session
        self._classes: ClassVersions | None = None

    @property
    def classes(self) -> ClassVersions:
        """Computed on first use: pools only look ahead and never need them."""
        if self._classes is None:
            self._classes = _class_versions(self.session)
        return self._classes

    def dry_copy(self) -> Session:
        """A session copy whose look-ups change nothing: a pool predicts which fan-out items will hit."""
        s = self.session
        return type(s)(s.cache, s.run_id, s.plan, {}, {}, dry=True, base=s)

    def storer(self, step: Step) -> Storer:
        """A picklable writer of ``step``'s value for the worker that computes it (after ``lookup``)."""
        return storer_for(self.session, step, self.classes)

    def saved(self, step: Step, receipt: Receipt | None, seconds: float, *, data_version: str | None = None) -> int:
        """``Session.save`` for a value versioned (and maybe stored) on a worker; bytes stored."""
        return record(self.session, step, receipt if receipt is not None else Receipt(data_version), seconds)

    def stored(self, receipt: Receipt) -> int:
        return stored(self.session, receipt)

    def loader(self, lazy: Lazy) -> RemoteLoad | None:
        """What a worker runs to load this hit itself (``None``: load it here)."""
        return portable(self.session, lazy)

    def fingerprinter(self) -> Fingerprinter:
        return Fingerprinter(_resolved(self.session.store.root), _project_root(self.session), self.classes)



def storer_for(session: Session, step: Step, classes: ClassVersions | None = None) -> Storer:
    node = step.node
    cache = session.cache
    cv = cache.code_version(node)
    # the root and the code parts are shared objects, so a batch of per-item storers pickles them once
    return Storer(_resolved(session.store.root), node.name, node.location, cache.behavior(node),
                  session.keys.get(node.name), cv.digest, cv.parts, dict(session._deps.get(node.name, ())),
                  _project_root(session), classes, node.origin, session.run_id, node.declares_subprocess_reads)


def _class_versions(session: Session) -> ClassVersions:
    """Versions of the classes defined in the project's loaded modules (Ripple's own excluded)."""
    root = str(session.cache.project_root) + os.sep
    versioner = session.cache.versioner
    table: dict[str, str] = {}
    for mod in list(sys.modules.values()):
        file = getattr(mod, "__file__", None) or ""
        name = getattr(mod, "__name__", "")
        if not file.startswith(root) or in_library(file) or name.split(".")[0] in ("engine", "tui"):
            continue
        for obj in list(vars(mod).values()):
            if isinstance(obj, type) and obj.__module__ == name:
                try:
                    version = versioner.class_version(obj)
                except Exception:  # noqa: BLE001 - an odd class: its instances just lack the code part
                    version = None
                if version:
                    table[f"{name}.{obj.__qualname__}"] = version
    return ClassVersions(table)


def _project_root(session: Session) -> str:
    return str(session.cache.project_root)


@functools.lru_cache(maxsize=16)
def _resolved(root: Path) -> str:
    return str(root.resolve())


def portable(session: Session, lazy: Lazy) -> RemoteLoad | None:
    """A loader a worker can run for a hit made by ``lookup`` (``None`` if it is not one of ours)."""
    entry = lazy.arg
    if isinstance(entry, str) and lazy.loader == session.load_key:  # a replayed hit: its entry read now
        entry = session.store.get(entry)
    if isinstance(entry, Entry):
        if entry.inline is not None:  # fetched bytes need not travel with every task
            entry = Entry(entry.key, entry.node, entry.data_version, entry.code_version, entry.size,
                          entry.compute_seconds, entry.created, entry.last_used, checksum=entry.checksum,
                          is_inline=True)
        return RemoteLoad(_resolved(session.store.root), entry)
    return None


def record(session: Session, step: Step, receipt: Receipt, seconds: float) -> int:
    """What ``Session.save`` records in the driving process, for a value versioned on a worker."""
    node = step.node
    cache = session.cache
    behavior = cache.behavior(node)
    session.reads.pop(node.name, None)
    row = ran_row(session, node, seconds)
    fp = receipt.data_version
    if receipt.warning:
        session._warn(receipt.warning_about or node.name, receipt.warning)
    if behavior == "disable":
        session.dv[node.name] = session.dv[(node.name,)] = fp
        return 0
    if keep_version(session, node, fp, row, behavior) is None:
        return 0
    cv = cache.code_version(node)
    session._remember_sources(cv.parts, cv.digest)
    return stored(session, receipt)


def stored(session: Session, receipt: Receipt) -> int:
    """A worker wrote an entry: later look-ups in this run see it."""
    if receipt.warning and receipt.entry is None:
        session._warn(receipt.warning_about or "store", receipt.warning)
    if receipt.entry is None:
        return 0
    session.prefetched.add(receipt.entry)
    session.cache.bytes_written += receipt.entry.size
    return receipt.bytes
