"""The persistent store behind the cache and the run history (DESIGN §4).

Layout of the store directory (``.ripple/`` by default)::

    .gitignore        "*" — a cache must never be committed by accident
    meta.sqlite       WAL-mode SQLite: cache entries, run history, a string memo
    objects/ab/abc…   content-addressed result files, named by data version
    lock              flock target, only used while recovering a corrupt database

Why it is shaped like this:

* **Small values live inside SQLite** (``entries.inline``). A typical pipeline has many small
  intermediates; one file each would cost an ``open``/``fsync``/``rename`` per node and thousands of
  inodes. Values of ``INLINE_LIMIT`` bytes or more go to a file so the database stays small and a
  100 MB array is streamed without passing through SQLite.
* **Files are content-addressed** by data version, so equal results of different nodes (or of the
  same node under several cache keys) are stored once. A file is only deleted when no row refers to
  it any more.
* **Nothing is trusted on read.** Every value carries an xxh3-128 checksum of its serialised bytes;
  a missing, truncated, corrupted or unpicklable value raises :class:`EntryDamaged`, its row is
  deleted, and the cache recomputes. A corrupt ``meta.sqlite`` is moved aside and a fresh one is
  started. The store never returns a value other than the one written under that entry.
* **Several processes share one store.** SQLite in WAL mode with a 10 s busy timeout serialises
  writers; every write transaction is ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock
  upgrade. Result files are written to a private temp name, ``fsync``ed and atomically renamed, so a
  reader (or a process killed mid-write) can never observe half a file under the final name.
* **Last writer wins** (``INSERT OR REPLACE``): a ``recompute`` node that produced a new value must
  replace the old mapping, unlike Hamilton's first-write-wins ``INSERT OR IGNORE``.
* **Serialisation is pickle protocol 5 with out-of-band buffers.** numpy / pandas / pyarrow buffers
  are written straight from their memory after a small header (no copy into a pickle bytes object)
  and read back with a single ``readinto`` into one ``bytearray`` over which the arrays are rebuilt
  without a further copy.

Hot-path costs are kept off the critical path: ``last_used`` updates and memo writes are buffered
and flushed by :meth:`Store.commit`; inside :meth:`Store.batch` cache rows are buffered too and
written with one ``executemany`` per flush.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import secrets
import shutil
import sqlite3
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import xxhash

from .errors import RippleError, UsageError
from .files import hash_file

__all__ = [
    "Entry",
    "EntryDamaged",
    "INLINE_LIMIT",
    "NodeRunRecord",
    "PruneReport",
    "RunRecord",
    "SCHEMA_VERSION",
    "Store",
    "StoreError",
    "StoreStats",
    "Unstorable",
    "parse_age",
    "parse_size",
]

#: Bump when the table layout changes incompatibly; older Ripples refuse newer stores.
SCHEMA_VERSION = 1
#: Serialised values smaller than this are stored in the SQLite row instead of a file.
INLINE_LIMIT = 16 * 1024
#: How long a batch may hold rows in memory before writing them (bounds what a kill can lose).
BATCH_FLUSH_SECONDS = 0.25
#: ... and how many rows.
BATCH_FLUSH_ROWS = 1000
#: Files younger than this are never garbage-collected: another process may be about to commit the
#: row that refers to them.
GC_GRACE_SECONDS = 3600.0
#: The memo is a cache of caches; keep it bounded.
MEMO_MAX_ROWS = 200_000

DB_NAME = "meta.sqlite"
OBJECTS = "objects"
_TMP_PREFIX = ".tmp-"
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)


# --------------------------------------------------------------------------------------------------
# errors


class StoreError(RippleError):
    """The store cannot be used (newer schema, disk full, locked for too long)."""


class Unstorable(RippleError):
    """The value cannot be serialised; the cache treats the node as uncacheable for this run."""


class EntryDamaged(RippleError):
    """A stored value is missing, truncated, corrupted or cannot be unpickled.

    Always handled as a cache miss: the damaged row (and file) are already gone when this is raised.
    """


# --------------------------------------------------------------------------------------------------
# records


class _JSONField:
    """A dict field that keeps the JSON text until first read.

    A warm run prefetches every entry of thousands of nodes but looks at the ``deps`` of only the
    few that missed; decoding 3 JSON documents per row eagerly would dominate ``entries_for``.
    """

    __slots__ = ("attr",)

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return None  # the dataclass default
        value = obj.__dict__[self.attr]
        if value == "{}":
            value = {}
            obj.__dict__[self.attr] = value
        elif value.__class__ is str:
            try:
                value = json.loads(value) if value else {}
            except ValueError:
                value = {}
            obj.__dict__[self.attr] = value
        elif value is None:
            value = {}
            obj.__dict__[self.attr] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.attr] = value


@dataclass(eq=False)
class Entry:
    """One cache entry: the result of ``node`` under cache ``key``.

    ``size`` is the serialised size in bytes; ``inline`` holds the serialised bytes only when they
    were fetched (``put`` results, or lazily inside :meth:`Store.load`); ``is_inline`` says where the
    value lives without fetching it.
    """

    key: str
    node: str
    data_version: str
    code_version: str
    size: int
    compute_seconds: float
    created: float
    last_used: float
    deps: dict[str, str] = _JSONField()  # type: ignore[assignment]
    code_parts: dict[str, Any] = _JSONField()  # type: ignore[assignment]
    files: dict[str, str] = _JSONField()  # type: ignore[assignment]
    checksum: str = ""
    inline: bytes | None = field(default=None, repr=False)
    is_inline: bool = False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return (self.key, self.data_version, self.checksum) == (other.key, other.data_version, other.checksum)

    @property
    def has_files(self) -> bool:
        """Whether the entry recorded any file versions, without decoding them (the warm path asks
        this of every hit, and almost none has files)."""
        raw = self.__dict__.get("_files")
        return bool(raw) and raw != "{}"

    @property
    def value_per_byte(self) -> float:
        """Recompute seconds saved per stored byte: what pruning by size protects."""
        return self.compute_seconds / max(self.size, 1)


@dataclass
class RunRecord:
    run_id: str
    pipeline: str
    started: float
    finished: float | None
    status: str
    outputs: list[str]
    ran: int
    cached: int
    failed: int
    skipped: int
    seconds: float | None


@dataclass
class NodeRunRecord:
    run_id: str
    node: str
    status: str
    seconds: float | None
    hit: bool
    why: str | None
    key: str | None
    data_version: str | None
    code_version: str | None
    error: str | None
    traceback: str | None
    started: float | None


@dataclass
class StoreStats:
    """``bytes`` counts a shared object file once; ``oldest``/``newest`` are entry creation times."""

    entries: int
    bytes: int
    inline_bytes: int
    file_bytes: int
    runs: int
    oldest: float | None
    newest: float | None
    #: size of meta.sqlite on disk (history and memo included; WAL excluded)
    db_bytes: int = 0


@dataclass
class PruneReport:
    removed: int
    freed_bytes: int
    #: keys of the removed entries (empty for gc)
    keys: list[str] = field(default_factory=list)


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


# --------------------------------------------------------------------------------------------------
# serialisation
#
#   magic "RPK\x01" | u32 nbuf | u64 pickle_len | nbuf × u64 buffer length | pickle bytes |
#   (pad to 64) buffer 0 | (pad to 64) buffer 1 | ...
#
# Buffers are 64-byte aligned within the stream; the bytearray they are read into is malloc-aligned,
# so restored numpy arrays are aligned for every dtype numpy cares about.

_MAGIC = b"RPK\x01"
_HEAD = struct.Struct("<4sIQ")
_ALIGN = 64
_ZEROS = bytes(_ALIGN)


def _pad(offset: int) -> int:
    return -offset % _ALIGN


def _serialize(value: Any) -> tuple[list[Any], int]:
    """Return the stream as a list of byte-like parts (header, pickle, padding, raw buffers)."""
    buffers: list[memoryview] = []

    def out_of_band(pb: pickle.PickleBuffer) -> bool:
        try:
            buffers.append(pb.raw())
        except BufferError:  # non-contiguous: let pickle copy it in-band
            return True
        return False

    try:
        data = pickle.dumps(value, protocol=5, buffer_callback=out_of_band)
    except Exception as e:  # pickle raises TypeError, AttributeError, PicklingError, RecursionError...
        raise Unstorable(f"cannot serialise a value of type {type(value).__qualname__}: {e}") from e
    if not buffers:
        head = _HEAD.pack(_MAGIC, 0, len(data))
        return [head, data], len(head) + len(data)
    head = _HEAD.pack(_MAGIC, len(buffers), len(data)) + struct.pack(
        f"<{len(buffers)}Q", *(b.nbytes for b in buffers)
    )
    parts: list[Any] = [head, data]
    offset = len(head) + len(data)
    for b in buffers:
        pad = _pad(offset)
        if pad:
            parts.append(_ZEROS[:pad])
            offset += pad
        parts.append(b)
        offset += b.nbytes
    return parts, offset


def _deserialize(buf: bytes | bytearray) -> Any:
    mv = memoryview(buf)
    magic, nbuf, plen = _HEAD.unpack_from(mv, 0)
    if magic != _MAGIC:
        raise ValueError("bad magic")
    offset = _HEAD.size
    if offset + 8 * nbuf + plen > len(mv):
        raise ValueError("truncated header")
    lengths = struct.unpack_from(f"<{nbuf}Q", mv, offset) if nbuf else ()
    offset += 8 * nbuf
    pick = mv[offset : offset + plen]
    offset += plen
    bufs = []
    for n in lengths:
        offset += _pad(offset)
        bufs.append(mv[offset : offset + n])
        offset += n
    if offset != len(mv):
        raise ValueError(f"stream length {len(mv)} does not match its header ({offset})")
    return pickle.loads(pick, buffers=bufs)


def _write_all(fd: int, data: Any) -> None:
    mv = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
    while mv.nbytes:
        n = os.write(fd, mv)
        mv = mv[n:]


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_=.\-]{2,127}")


def _object_name(data_version: str) -> str:
    """File name for a data version; versions that are not safe file names are hashed."""
    if _SAFE_NAME.fullmatch(data_version):
        return data_version
    return "h" + xxhash.xxh3_128_hexdigest(data_version.encode("utf-8", "surrogatepass"))


def _is_corrupt(e: BaseException) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _CORRUPT_CODES
    msg = str(e).lower()
    return "not a database" in msg or "malformed" in msg


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not Path(f"/proc/{pid}/status").exists() or "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def _dumps(d: Any) -> str:
    return json.dumps(d, separators=(",", ":"), default=str) if d else "{}"


def _mkdir_private(path: Path) -> bool:
    """Create ``path`` 0700 regardless of umask; True if it was created."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return False
    os.chmod(path, 0o700)
    return True


def _create_private(path: Path, content: bytes = b"") -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
        if content:
            _write_all(fd, content)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------------
# schema

_ENTRY_COLS = (
    "key, node, data_version, code_version, size, compute_seconds, created, last_used, "
    "deps, code_parts, files, checksum"
)
# ``length(inline)`` is answered from the record header without reading the blob's overflow pages,
# unlike ``inline IS NOT NULL``: it halves the cost of prefetching thousands of entries.
_SELECT_ENTRY = f"SELECT {_ENTRY_COLS}, NULL, length(inline) IS NOT NULL FROM entries"
_SELECT_LEAN = (
    "SELECT key, node, data_version, code_version, size, compute_seconds, created, last_used, NULL, NULL, files, "
    "checksum, NULL, length(inline) IS NOT NULL FROM entries"
)
_INSERT_ENTRY = f"INSERT OR REPLACE INTO entries ({_ENTRY_COLS}, inline) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
_RUN_COLS = "run_id, pipeline, started, finished, status, outputs, ran, cached, failed, skipped, seconds"
_NODE_RUN_COLS = (
    "run_id, node, status, seconds, hit, why, key, data_version, code_version, error, traceback, started"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    data_version TEXT NOT NULL,
    code_version TEXT,
    size INTEGER NOT NULL,
    compute_seconds REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    last_used REAL NOT NULL,
    deps TEXT,
    code_parts TEXT,
    files TEXT,
    checksum TEXT NOT NULL,
    inline BLOB          -- last, so reading the other columns never walks its overflow pages
);
CREATE INDEX IF NOT EXISTS entries_node ON entries(node, created);
CREATE INDEX IF NOT EXISTS entries_dv ON entries(data_version);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    pipeline TEXT,
    started REAL,
    finished REAL,
    status TEXT,
    outputs TEXT,
    ran INT, cached INT, failed INT, skipped INT,
    seconds REAL
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started);
CREATE TABLE IF NOT EXISTS node_runs (
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    status TEXT,
    seconds REAL,
    hit INT,
    why TEXT,
    key TEXT,
    data_version TEXT,
    code_version TEXT,
    error TEXT,
    traceback TEXT,
    started REAL
);
CREATE INDEX IF NOT EXISTS node_runs_node ON node_runs(node, started);
CREATE INDEX IF NOT EXISTS node_runs_run ON node_runs(run_id);
CREATE TABLE IF NOT EXISTS run_hits (  -- a run's cache hits, packed: see Store.record_nodes
    run_id TEXT PRIMARY KEY,
    nodes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS memo (
    k TEXT PRIMARY KEY,
    v TEXT NOT NULL,
    t REAL NOT NULL DEFAULT 0   -- when written: lets gc() bound the memo
);
"""


def _run_record(row: tuple) -> RunRecord:
    r = list(row)
    try:
        r[5] = json.loads(r[5]) if r[5] else []
    except ValueError:
        r[5] = []
    return RunRecord(*r)


def _node_run_record(row: tuple) -> NodeRunRecord:
    r = list(row)
    r[4] = bool(r[4])
    return NodeRunRecord(*r)


def _hit_record(run_id: str, line: str) -> NodeRunRecord:
    """A packed hit (``run_hits``: node, seconds, key, data and code version, why, started)."""
    node, seconds, key, dv, cv, why, started = line.split("\t")
    return NodeRunRecord(run_id, node, "cached", float(seconds) if seconds else None, True, why or None,
                         key or None, dv or None, cv or None, None, None, float(started) if started else None)


def _when(node_started: float | None, run_started: float | None) -> float:
    """When a history record happened, for ordering: the node's own start, else its run's."""
    return node_started if node_started is not None else run_started if run_started is not None else 0.0


_DELETED = object()


class _Memo(MutableMapping[str, str]):
    """``store.memo``: a persistent str→str map whose writes are buffered until ``commit()``.

    Used for caches of derived facts (parsed code versions, file-version fast path) that are read
    and written many times per run; a transaction per ``memo[k] = v`` would cost more than the
    facts save.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: dict[str, Any] = {}

    def __getitem__(self, k: str) -> str:
        v = self._pending.get(k)
        if v is not None:
            if v is _DELETED:
                raise KeyError(k)
            return v
        row = self._store._read(lambda c: c.execute("SELECT v FROM memo WHERE k=?", (k,)).fetchone())
        if row is None:
            raise KeyError(k)
        return row[0]

    def __setitem__(self, k: str, v: str) -> None:
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("memo keys and values must be str")
        with self._store._lock:
            self._pending[k] = v

    def __delitem__(self, k: str) -> None:
        if k not in self:
            raise KeyError(k)
        with self._store._lock:
            self._pending[k] = _DELETED

    def __contains__(self, k: object) -> bool:
        try:
            self[k]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        self._store.commit()
        rows = self._store._read(lambda c: c.execute("SELECT k FROM memo").fetchall())
        return iter([r[0] for r in rows])

    def __len__(self) -> int:
        self._store.commit()
        return self._store._read(lambda c: c.execute("SELECT count(*) FROM memo").fetchone()[0])

    def _take(self) -> list[tuple[str, Any]]:
        items = list(self._pending.items())
        self._pending.clear()
        return items


# --------------------------------------------------------------------------------------------------
# the store


class Store:
    """SQLite metadata + content-addressed result files under ``root`` (usually ``.ripple/``).

    Thread-safe (one connection guarded by a lock; SQL statements take microseconds, file I/O happens
    outside the lock) and process-safe (WAL + busy timeout + atomic renames). Forked children open
    their own connection on first use.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        history_limit: int = 200,
        inline_limit: int = INLINE_LIMIT,
        busy_timeout: float = 10.0,
    ) -> None:
        self._journal_fd: int | None = None
        self._journal_path: Path | None = None
        self.root = Path(root)
        self.objects = self.root / OBJECTS
        self.db_path = self.root / DB_NAME
        self.history_limit = history_limit
        self.inline_limit = inline_limit
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._conn_: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._closed = False
        self._known_dirs: set[str] = set()
        self._batch_depth = 0
        self._pending: dict[str, tuple[tuple, Entry]] = {}
        self._touched: dict[str, float] = {}
        self._last_flush = time.monotonic()
        self._json_each = True
        self.memo = _Memo(self)
        try:
            self._prepare_dirs()
        except OSError as e:
            raise StoreError(f"cannot create the store directory {self.root}: {e}") from e
        self._connect()
        self._replay_journals()

    # ---- lifecycle -------------------------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        if not self.root.is_dir():
            self.root.parent.mkdir(parents=True, exist_ok=True)
            _mkdir_private(self.root)
        _create_private(self.root / ".gitignore", b"*\n")
        _mkdir_private(self.objects)
        _create_private(self.db_path)  # pre-created 0600 so SQLite's -wal/-shm inherit 0600

    def _open_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.db_path,
            timeout=self.busy_timeout,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            check_same_thread=False,  # guarded by self._lock
        )
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only effective on a new database
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.db_path}: could not enable WAL journaling (got {mode!r})")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._init_schema(conn)
        except BaseException:
            conn.close()
            raise
        try:
            conn.execute("SELECT value FROM json_each('[]')").fetchall()
        except sqlite3.OperationalError:
            self._json_each = False
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.root} was written by a newer Ripple (store schema v{version}; this Ripple "
                f"understands v{SCHEMA_VERSION}). Upgrade Ripple, or point --cache-dir / "
                "RIPPLE_CACHE_DIR at another directory."
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                # v0 = empty database. Future migrations from older versions go here.
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _connect(self) -> sqlite3.Connection:
        """Open (or re-open after fork) the connection; a corrupt database is moved aside once."""
        try:
            self._conn_ = self._open_connection()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
            # A flipped bit in the header can surface as undecodable text from a PRAGMA.
            if isinstance(e, sqlite3.DatabaseError) and not _is_corrupt(e):
                raise self._store_error(e) from e
            self._move_aside_corrupt()
            try:
                self._conn_ = self._open_connection()
            except sqlite3.Error as e2:
                raise self._store_error(e2) from e2
        self._pid = os.getpid()
        return self._conn_

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"store {self.root} is closed")
        if self._pid != os.getpid():
            # A forked child must not use the parent's SQLite connection or its buffers.
            self._conn_ = None
            self._pending.clear()
            self._touched.clear()
            self.memo._pending.clear()
            self._batch_depth = 0
            self._lock = threading.RLock()
        if self._conn_ is None:
            return self._connect()
        return self._conn_

    def _move_aside_corrupt(self) -> None:
        """Rename the unreadable database (and its WAL) aside, under a file lock.

        The lock plus the re-check stop two processes that both saw the corruption from moving
        aside each other's fresh database.
        """
        if self._conn_ is not None:
            with contextlib.suppress(Exception):
                self._conn_.close()
            self._conn_ = None
        with self._file_lock():
            if not self._still_corrupt():
                return
            stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(self.db_path) + suffix)
                if src.exists():
                    with contextlib.suppress(OSError):
                        os.replace(src, self.root / f"{DB_NAME}.corrupt-{stamp}{suffix}")
            _create_private(self.db_path)

    def _still_corrupt(self) -> bool:
        try:
            conn = sqlite3.connect(self.db_path, timeout=self.busy_timeout)
        except sqlite3.Error:
            return True
        try:
            conn.execute("PRAGMA user_version").fetchone()
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            for table in ("entries", "runs", "node_runs", "run_hits", "memo"):
                with contextlib.suppress(sqlite3.OperationalError):  # missing table is not corrupt
                    conn.execute(f"SELECT * FROM {table} LIMIT 1").fetchall()
            return False
        except sqlite3.DatabaseError as e:
            return _is_corrupt(e)
        finally:
            conn.close()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX
            yield
            return
        path = self.root / "lock"
        _create_private(path)
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _store_error(self, e: sqlite3.Error) -> StoreError:
        msg = str(e)
        if "locked" in msg or "busy" in msg:
            return StoreError(
                f"{self.db_path}: the store stayed locked by another process for more than "
                f"{self.busy_timeout:g} s ({msg})"
            )
        return StoreError(f"{self.db_path}: {msg}")

    def close(self) -> None:
        """Flush buffered rows, memo writes and ``last_used`` updates, then close."""
        if self._closed:
            return
        try:
            if self._pid == os.getpid():
                self.commit()
        finally:
            with self._lock:
                if self._conn_ is not None and self._pid == os.getpid():
                    with contextlib.suppress(sqlite3.Error):
                        self._conn_.execute("PRAGMA optimize")
                    self._conn_.close()
                self._conn_ = None
                self._closed = True
                self._drop_journal()

    def __enter__(self) -> Store:
        return self

    # ---- the batch journal -------------------------------------------------------------------------
    # Batched rows live in memory until the next flush; a SIGKILL in between would lose results
    # that finished (and so a resume would re-run them). Each batched row is therefore also
    # appended to a per-process journal with one unbuffered write (the OS keeps it across a
    # process kill) and replayed into SQLite by the next Store that opens this folder after the
    # writer is gone. A torn last record is ignored; a replayed row whose object file is missing
    # or damaged is an ordinary miss (checksums are verified on load).

    def _journal(self, row: tuple) -> None:
        if self._journal_fd is None or self._pid != os.getpid():
            self._journal_path = self.root / f"journal-{os.getpid()}-{os.urandom(4).hex()}.log"
            self._journal_fd = os.open(self._journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        blob = pickle.dumps(row, protocol=5)
        os.write(self._journal_fd, struct.pack("<I", len(blob)) + blob)

    def _drop_journal(self) -> None:
        if self._journal_fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._journal_fd)
            with contextlib.suppress(OSError):
                if self._journal_path is not None:
                    self._journal_path.unlink()
        self._journal_fd = None

    def _replay_journals(self) -> None:
        for path in self.root.glob("journal-*.log"):
            try:
                pid = int(path.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid == os.getpid() or _alive(pid):
                continue
            rows = []
            try:
                data = path.read_bytes()
                pos = 0
                while pos + 4 <= len(data):
                    (n,) = struct.unpack_from("<I", data, pos)
                    if pos + 4 + n > len(data):
                        break
                    row = pickle.loads(data[pos + 4: pos + 4 + n])
                    if isinstance(row, tuple) and len(row) == 13:
                        rows.append(row)
                    pos += 4 + n
            except (OSError, pickle.UnpicklingError, EOFError, ValueError, struct.error):
                pass
            if rows:
                try:
                    self._write(lambda c, rows=rows: c.executemany(_INSERT_ENTRY, rows))
                except (sqlite3.Error, StoreError):
                    continue
            with contextlib.suppress(OSError):
                path.unlink()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- SQL plumbing ----------------------------------------------------------------------------

    def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            try:
                return fn(self._conn())
            except sqlite3.DatabaseError as e:
                if not _is_corrupt(e):
                    raise self._store_error(e) from e
                self._move_aside_corrupt()
                return fn(self._conn())

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction (also flushing buffered small writes)."""

        def tx(conn: sqlite3.Connection) -> Any:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                self._flush_small(conn)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            return result

        return self._read(tx)

    def _flush_small(self, conn: sqlite3.Connection) -> None:
        """Write buffered memo and last_used updates inside the caller's transaction."""
        if self._touched:
            touched, self._touched = self._touched, {}
            conn.executemany(
                "UPDATE entries SET last_used=? WHERE key=?", [(t, k) for k, t in touched.items()]
            )
        if self.memo._pending:
            items = self.memo._take()
            now = time.time()
            conn.executemany(
                "INSERT OR REPLACE INTO memo (k, v, t) VALUES (?,?,?)",
                [(k, v, now) for k, v in items if v is not _DELETED],
            )
            conn.executemany("DELETE FROM memo WHERE k=?", [(k,) for k, v in items if v is _DELETED])

    def commit(self) -> None:
        """Write everything buffered: batched entries, memo writes, ``last_used`` updates."""
        with self._lock:
            if not self._closed and self._pid != os.getpid():
                self._conn()  # forked: drop the parent's buffers, they are not ours to write
            if self._closed or not (self._pending or self._touched or self.memo._pending):
                return
            pending, self._pending = self._pending, {}
            touched = dict(self._touched)
            memo = dict(self.memo._pending)
            try:
                self._write(lambda c: c.executemany(_INSERT_ENTRY, [row for row, _ in pending.values()]))
            except BaseException:
                # Keep the buffers so a later commit can retry (e.g. after a busy timeout).
                self._pending = {**pending, **self._pending}
                self._touched = {**touched, **self._touched}
                self.memo._pending = {**memo, **self.memo._pending}
                raise
            self._last_flush = time.monotonic()
            if self._journal_fd is not None and pending:
                os.ftruncate(self._journal_fd, 0)

    @contextlib.contextmanager
    def batch(self) -> Iterator[Store]:
        """Group puts into few transactions.

        Rows are buffered and written when the outermost batch exits, every
        ``BATCH_FLUSH_ROWS`` rows, and at the first put more than ``BATCH_FLUSH_SECONDS`` after
        the last flush — so the result of any slow node is on disk right after it finishes, and a
        kill loses at most a quarter second of cheap results. No SQLite lock is held in between,
        so other processes are never blocked by a long run.
        """
        with self._lock:
            self._batch_depth += 1
        try:
            yield self
        finally:
            with self._lock:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    self.commit()

    # ---- entries: read ---------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        pending = self._pending.get(key)
        if pending is not None:
            return pending[1]
        row = self._read(lambda c: c.execute(_SELECT_ENTRY + " WHERE key=?", (key,)).fetchone())
        return Entry(*row) if row is not None else None

    def entries_for(self, nodes: Iterable[str], *, full: bool = True) -> dict[str, list[Entry]]:
        """All entries of ``nodes`` (newest first) in one query, for prefetching a warm run.

        Every requested node is a key of the result (an empty list when it has no entry). Inline
        values are not fetched: a fully cached run must only read the values it returns. With
        ``full=False`` the ``deps`` and ``code_parts`` documents are left out too (they only explain
        a miss; :meth:`get` reads them for that one entry), which halves the prefetch.
        """
        names = list(dict.fromkeys(nodes))
        result: dict[str, list[Entry]] = {n: [] for n in names}
        if not names:
            return result
        select = _SELECT_ENTRY if full else _SELECT_LEAN

        def query(c: sqlite3.Connection) -> list[tuple]:
            if self._json_each:
                return c.execute(
                    select + " WHERE node IN (SELECT value FROM json_each(?))", (json.dumps(names),)
                ).fetchall()
            rows: list[tuple] = []
            for i in range(0, len(names), 500):
                chunk = names[i : i + 500]
                sql = select + f" WHERE node IN ({','.join('?' * len(chunk))})"
                rows += c.execute(sql, chunk).fetchall()
            return rows

        multi = False
        for row in self._read(query):
            lst = result[row[1]]
            if lst:
                multi = True
            lst.append(Entry(*row))
        if self._pending:
            for _row, e in list(self._pending.values()):
                lst = result.get(e.node)
                if lst is not None:
                    lst[:] = [x for x in lst if x.key != e.key]
                    lst.append(e)
                    multi = True
        if multi:
            for lst in result.values():
                if len(lst) > 1:
                    lst.sort(key=lambda e: e.created, reverse=True)
        return result

    def latest_entry(self, node: str) -> Entry | None:
        """The newest entry of ``node`` (what ``explain`` diffs against)."""
        entries = self.entries_for([node])[node]
        return entries[0] if entries else None

    def ls(self, node: str | None = None) -> list[Entry]:
        """Entries (without their values), newest first."""
        self.commit()
        if node is None:
            rows = self._read(lambda c: c.execute(_SELECT_ENTRY + " ORDER BY created DESC").fetchall())
        else:
            rows = self._read(
                lambda c: c.execute(_SELECT_ENTRY + " WHERE node=? ORDER BY created DESC", (node,)).fetchall()
            )
        return [Entry(*r) for r in rows]

    def object_path(self, data_version: str) -> Path:
        name = _object_name(data_version)
        return self.objects / name[:2] / name

    def has_value(self, entry: Entry) -> bool:
        """Cheap existence check (no read, no checksum): inline, or a file of the recorded size."""
        if entry.is_inline or entry.inline is not None:
            return True
        try:
            return os.stat(self.object_path(entry.data_version)).st_size == entry.size
        except OSError:
            return False

    def load(self, entry: Entry) -> Any:
        """The stored value, verified against its checksum.

        Raises :class:`EntryDamaged` (after deleting the bad row and file) on any problem; the
        caller treats that as a miss. Bumps ``last_used`` lazily.
        """
        if entry.is_inline or entry.inline is not None:
            data: bytes | bytearray = self._fetch_inline(entry)
            if xxhash.xxh3_128_hexdigest(data) != entry.checksum:
                self._damaged(entry, "checksum mismatch in the stored value", delete_file=False)
            if data[4:8] != b"\0\0\0\0":  # has out-of-band buffers: restore them writable
                data = bytearray(data)
        else:
            data = self._read_object(entry)
        try:
            value = _deserialize(data)
        except Exception as e:
            self._damaged(
                entry, f"cannot deserialise the stored value ({type(e).__name__}: {e})", delete_file=None
            )
        with self._lock:
            self._touched[entry.key] = time.time()
            if len(self._touched) >= BATCH_FLUSH_ROWS:
                self.commit()
        return value

    def _fetch_inline(self, entry: Entry) -> bytes:
        if entry.inline is not None:
            return entry.inline
        row = self._read(
            lambda c: c.execute(
                "SELECT inline, checksum, data_version FROM entries WHERE key=?", (entry.key,)
            ).fetchone()
        )
        if row is None or row[0] is None:
            raise EntryDamaged(f"cache entry {entry.key} of {entry.node!r} vanished", node=entry.node)
        if row[2] != entry.data_version:
            raise EntryDamaged(f"cache entry {entry.key} of {entry.node!r} was replaced", node=entry.node)
        entry.checksum = row[1]
        return row[0]

    def _read_object(self, entry: Entry) -> bytearray:
        path = self.object_path(entry.data_version)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            self._damaged(entry, f"result file {path} is missing", delete_file=False)
        except OSError as e:
            self._damaged(entry, f"result file {path} cannot be opened ({e})", delete_file=False)
        with open(fd, "rb", buffering=0, closefd=True) as f:
            st = os.fstat(fd)
            buf = bytearray(st.st_size)
            mv = memoryview(buf)
            got = 0
            while got < st.st_size:
                n = f.readinto(mv[got:])
                if not n:
                    break
                got += n
            ino = st.st_ino
        if got != st.st_size:
            self._damaged(entry, f"result file {path} shrank while being read", delete_file=True, ino=ino)
        digest = xxhash.xxh3_128_hexdigest(buf)
        if digest != entry.checksum:
            # Another writer may have replaced the file with an equally valid serialisation of the
            # same data version (pickles of equal values differ, e.g. set order). Accept it only if
            # a row vouches for exactly these bytes.
            if self._adopt(entry, digest, len(buf)):
                return buf
            what = "is truncated" if len(buf) < entry.size else "fails its checksum"
            self._damaged(entry, f"result file {path} {what}", delete_file=True, ino=ino)
        return buf

    def _adopt(self, entry: Entry, digest: str, size: int) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            ok = c.execute(
                "SELECT 1 FROM entries WHERE data_version=? AND checksum=? AND inline IS NULL LIMIT 1",
                (entry.data_version, digest),
            ).fetchone()
            if ok:
                c.execute(
                    "UPDATE entries SET checksum=?, size=? WHERE key=? AND checksum=?",
                    (digest, size, entry.key, entry.checksum),
                )
            return bool(ok)

        if self._write(fn):
            entry.checksum, entry.size = digest, size
            return True
        return False

    def _damaged(
        self, entry: Entry, why: str, *, delete_file: bool | None, ino: int | None = None
    ) -> NoReturn:
        """Delete the bad row (only if it is still the row we read) and maybe the file; raise."""
        path = self.object_path(entry.data_version)
        with self._lock:
            p = self._pending.get(entry.key)
            if p is not None and p[1].checksum == entry.checksum:
                del self._pending[entry.key]

        def fn(c: sqlite3.Connection) -> bool:
            c.execute("DELETE FROM entries WHERE key=? AND checksum=?", (entry.key, entry.checksum))
            return (
                c.execute(
                    "SELECT 1 FROM entries WHERE data_version=? AND inline IS NULL LIMIT 1",
                    (entry.data_version,),
                ).fetchone()
                is None
            )

        unreferenced = self._write(fn)
        if not entry.is_inline and entry.inline is None:
            if delete_file or (delete_file is None and unreferenced):
                with contextlib.suppress(OSError):
                    # Only unlink the file we judged: a concurrent writer may have renamed a good one
                    # into place since.
                    if ino is None or os.stat(path).st_ino == ino:
                        os.unlink(path)
        raise EntryDamaged(
            f"cached value of {entry.node!r} is damaged: {why}; it will be recomputed", node=entry.node
        )

    # ---- entries: write --------------------------------------------------------------------------

    def put(
        self,
        key: str,
        node: str,
        data_version: str,
        code_version: str,
        value: Any,
        *,
        compute_seconds: float = 0.0,
        deps: dict[str, str] | None = None,
        code_parts: dict[str, Any] | None = None,
        files: dict[str, str] | None = None,
        created: float | None = None,
    ) -> Entry:
        """Serialise and store ``value`` as the result of ``node`` under ``key`` (last writer wins).

        Raises :class:`Unstorable` if the value cannot be pickled (nothing is written then) and
        :class:`StoreError` if the disk refuses the write.
        """
        parts, size = _serialize(value)
        inline: bytes | None
        if size < self.inline_limit:
            inline = parts[0] + parts[1] if len(parts) == 2 else b"".join(parts)
            checksum = xxhash.xxh3_128_hexdigest(inline)
        else:
            inline = None
            h = xxhash.xxh3_128()
            for p in parts:
                h.update(p)
            checksum = h.hexdigest()
            try:
                checksum, size = self._store_object(data_version, parts, size, checksum)
            except OSError as e:
                raise StoreError(
                    f"cannot write the result of {node!r} to {self.objects}: {e}", node=node
                ) from e
        now = time.time() if created is None else created
        deps = dict(deps) if deps else {}
        code_parts = dict(code_parts) if code_parts else {}
        files = dict(files) if files else {}
        entry = Entry(
            key, node, data_version, code_version, size, float(compute_seconds), now, now,
            deps, code_parts, files, checksum, inline, inline is not None,
        )  # fmt: skip
        row = (
            key, node, data_version, code_version, size, float(compute_seconds), now, now,
            _dumps(deps), _dumps(code_parts), _dumps(files), checksum, inline,
        )  # fmt: skip
        with self._lock:
            self._conn()  # fork check before touching buffers
            if self._batch_depth:
                self._pending[key] = (row, entry)
                self._journal(row)
                if (
                    len(self._pending) >= BATCH_FLUSH_ROWS
                    or time.monotonic() - self._last_flush > BATCH_FLUSH_SECONDS
                ):
                    self.commit()
                return entry
        try:
            self._write(lambda c: c.execute(_INSERT_ENTRY, row))
        except sqlite3.Error as e:
            raise self._store_error(e) from e
        return entry

    def _ensure_dir(self, d: Path) -> None:
        s = str(d)
        if s not in self._known_dirs:
            if not self.objects.is_dir():
                _mkdir_private(self.objects)
            _mkdir_private(d)
            self._known_dirs.add(s)

    def _store_object(self, data_version: str, parts: list[Any], size: int, checksum: str) -> tuple[str, int]:
        """Write the object file unless an equivalent one is there; return (checksum, size) stored."""
        path = self.object_path(data_version)
        try:
            st_size = os.stat(path).st_size
        except FileNotFoundError:
            st_size = None
        if st_size is not None:
            refs = self._read(
                lambda c: c.execute(
                    "SELECT DISTINCT checksum, size FROM entries WHERE data_version=? AND inline IS NULL",
                    (data_version,),
                ).fetchall()
            )
            known = {cs for cs, sz in refs if sz == st_size}
            if st_size == size or known:
                with contextlib.suppress(OSError):
                    digest, real = hash_file(path)
                    if digest == checksum and real == size:
                        return checksum, size  # dedup: identical bytes already stored
                    if digest in known and real == st_size:
                        return digest, real  # an equivalent serialisation, vouched for by a row
        for attempt in range(2):
            self._ensure_dir(path.parent)
            tmp = path.parent / f"{_TMP_PREFIX}{path.name}-{os.getpid()}-{secrets.token_hex(4)}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:  # directory removed by a concurrent clear()
                self._known_dirs.discard(str(path.parent))
                if attempt:
                    raise
                continue
            try:
                os.fchmod(fd, 0o600)
                for p in parts:
                    _write_all(fd, p)
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            os.close(fd)
            try:
                os.replace(tmp, path)
            except FileNotFoundError:
                self._known_dirs.discard(str(path.parent))
                if attempt:
                    raise
                continue
            self._fsync_dir(path.parent)
            return checksum, size
        raise AssertionError("unreachable")

    @staticmethod
    def _fsync_dir(d: Path) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(d, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # ---- maintenance -----------------------------------------------------------------------------

    def delete(self, keys: Iterable[str]) -> int:
        """Remove entries (and their files once unreferenced); returns how many rows went."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return 0
        self.commit()
        removed, _freed = self._remove(keys)
        return removed

    def _remove(self, keys: list[str]) -> tuple[int, int]:
        def fn(c: sqlite3.Connection) -> tuple[int, int, list[str]]:
            count, inline_bytes, dvs = 0, 0, set()
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                qs = ",".join("?" * len(chunk))
                for dv, inl in c.execute(
                    f"SELECT data_version, length(inline) FROM entries WHERE key IN ({qs})", chunk
                ):
                    count += 1
                    if inl is None:
                        dvs.add(dv)
                    else:
                        inline_bytes += inl
                c.execute(f"DELETE FROM entries WHERE key IN ({qs})", chunk)
            orphans = [
                dv
                for dv in dvs
                if c.execute(
                    "SELECT 1 FROM entries WHERE data_version=? AND inline IS NULL LIMIT 1", (dv,)
                ).fetchone()
                is None
            ]
            return count, inline_bytes, orphans

        count, freed, orphans = self._write(fn)
        for dv in orphans:
            path = self.object_path(dv)
            with contextlib.suppress(OSError):
                size = os.stat(path).st_size
                os.unlink(path)
                freed += size
        return count, freed

    def clear(self) -> None:
        """Remove every entry, object and history record; the database stays valid."""
        with self._lock:
            self._pending.clear()
            self._touched.clear()
            self.memo._pending.clear()

        def fn(c: sqlite3.Connection) -> None:
            for table in ("entries", "runs", "node_runs", "run_hits", "memo"):
                c.execute(f"DELETE FROM {table}")

        self._write(fn)
        if self.objects.is_dir():
            for child in os.scandir(self.objects):
                if child.is_dir(follow_symlinks=False):
                    shutil.rmtree(child.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(child.path)
        self._known_dirs.clear()
        self._vacuum()

    def _vacuum(self) -> None:
        with contextlib.suppress(sqlite3.Error, StoreError):
            self._read(lambda c: c.execute("PRAGMA incremental_vacuum").fetchall())
            self._read(lambda c: c.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())

    def prune(
        self,
        max_size: int | None = None,
        older_than: float | None = None,
        keep: Callable[[Entry], bool] | None = None,
        useless: Callable[[Entry], bool] | None = None,
        *,
        now: float | None = None,
    ) -> PruneReport:
        """Evict entries, least valuable first.

        Order: entries ``useless(e)`` says no current node can use; then entries not used for
        ``older_than`` seconds; then, while the store is larger than ``max_size`` bytes, the
        entries that are cheapest to recompute per stored byte (ties: least recently used).
        ``keep(e)`` protects an entry from all three. Size counts a shared object file once.
        Orphaned files older than the GC grace period are swept as well.
        """
        self.commit()
        now = time.time() if now is None else now
        entries = self.ls()
        protected = {e.key for e in entries if keep is not None and keep(e)}
        remove: set[str] = set()
        for e in entries:
            if e.key in protected:
                continue
            if useless is not None and useless(e):
                remove.add(e.key)
            elif older_than is not None and e.last_used < now - older_than:
                remove.add(e.key)
        if max_size is not None:
            survivors = [e for e in entries if e.key not in remove]
            refs = Counter(e.data_version for e in survivors if not e.is_inline)
            file_size: dict[str, int] = {}
            for e in survivors:
                if not e.is_inline:
                    file_size[e.data_version] = max(file_size.get(e.data_version, 0), e.size)
            total = sum(e.size for e in survivors if e.is_inline) + sum(file_size.values())
            candidates = sorted(
                (e for e in survivors if e.key not in protected),
                key=lambda e: (e.compute_seconds / max(e.size, 1), e.last_used),
            )
            for e in candidates:
                if total <= max_size:
                    break
                remove.add(e.key)
                if e.is_inline:
                    total -= e.size
                else:
                    refs[e.data_version] -= 1
                    if refs[e.data_version] == 0:
                        total -= file_size[e.data_version]
        keys = [e.key for e in entries if e.key in remove]
        removed, freed = self._remove(keys) if keys else (0, 0)
        freed += self.gc().freed_bytes
        self._vacuum()
        return PruneReport(removed, freed, keys)

    def gc(self, grace: float = GC_GRACE_SECONDS) -> PruneReport:
        """Remove object files no row refers to and abandoned temp files, if older than ``grace``.

        The grace period protects files another process has just written and is about to commit.
        Also bounds the memo and deletes set-aside corrupt databases older than a week.
        """
        self.commit()
        cutoff = time.time() - grace
        rows = self._read(
            lambda c: c.execute("SELECT DISTINCT data_version FROM entries WHERE inline IS NULL").fetchall()
        )
        live = {_object_name(r[0]) for r in rows}
        removed = freed = 0
        if self.objects.is_dir():
            for sub in os.scandir(self.objects):
                if not sub.is_dir(follow_symlinks=False):
                    continue
                for f in os.scandir(sub.path):
                    if f.name in live:
                        continue
                    with contextlib.suppress(OSError):
                        st = f.stat(follow_symlinks=False)
                        if st.st_mtime < cutoff:
                            os.unlink(f.path)
                            removed += 1
                            freed += st.st_size
        week = time.time() - 7 * 86400
        for f in self.root.glob(f"{DB_NAME}.corrupt-*"):
            with contextlib.suppress(OSError):
                if f.stat().st_mtime < week:
                    f.unlink()
        self._write(
            lambda c: c.execute(
                "DELETE FROM memo WHERE k IN (SELECT k FROM memo ORDER BY t DESC LIMIT -1 OFFSET ?)",
                (MEMO_MAX_ROWS,),
            )
        )
        return PruneReport(removed, freed)

    def stats(self) -> StoreStats:
        self.commit()

        def fn(c: sqlite3.Connection) -> StoreStats:
            n, inline_bytes, oldest, newest = c.execute(
                "SELECT count(*), coalesce(sum(length(inline)), 0), min(created), max(created) FROM entries"
            ).fetchone()
            file_bytes = c.execute(
                "SELECT coalesce(sum(s), 0) FROM "
                "(SELECT max(size) AS s FROM entries WHERE inline IS NULL GROUP BY data_version)"
            ).fetchone()[0]
            runs = c.execute("SELECT count(*) FROM runs").fetchone()[0]
            return StoreStats(n, inline_bytes + file_bytes, inline_bytes, file_bytes, runs, oldest, newest)

        st = self._read(fn)
        with contextlib.suppress(OSError):
            st.db_bytes = os.stat(self.db_path).st_size
        return st

    # ---- run history -----------------------------------------------------------------------------

    def start_run(
        self, run_id: str, pipeline: str, outputs: Iterable[str], started: float | None = None
    ) -> None:
        started = time.time() if started is None else started
        self._write(
            lambda c: c.execute(
                f"INSERT OR REPLACE INTO runs ({_RUN_COLS}) VALUES (?,?,?,NULL,'running',?,0,0,0,0,NULL)",
                (run_id, pipeline, started, json.dumps(list(outputs))),
            )
        )

    def record_nodes(self, run_id: str, records: list[dict[str, Any]]) -> None:
        """Append per-node records (keys as in :class:`NodeRunRecord`; missing ones are NULL).

        Cache hits are most rows of a warm run and all alike, so they are packed into one text
        per run (``run_hits``: a line per hit, tab-separated) instead of one indexed row each:
        that made recording a 1,000-node warm run ~8x cheaper (one row instead of a thousand
        B-tree and index inserts). Anything else, and any hit with a tab or newline in a field,
        is an ordinary ``node_runs`` row. Readers merge both.
        """
        if not records:
            return
        rows: list[tuple[Any, ...]] = []
        packed: list[str] = []
        get = dict.get
        for r in records:
            if get(r, "hit") and get(r, "status") == "cached" and not get(r, "error"):
                sec, started = get(r, "seconds"), get(r, "started")
                line = (f"{r['node']}\t{'' if sec is None else repr(sec)}\t{get(r, 'key') or ''}\t"
                        f"{get(r, 'data_version') or ''}\t{get(r, 'code_version') or ''}\t{get(r, 'why') or ''}\t"
                        f"{'' if started is None else repr(started)}")
                if line.count("\t") == 6 and "\n" not in line:
                    packed.append(line)
                    continue
            rows.append((run_id, r.get("node"), r.get("status"), r.get("seconds"), int(bool(r.get("hit"))),
                         r.get("why"), r.get("key"), r.get("data_version"), r.get("code_version"), r.get("error"),
                         r.get("traceback"), r.get("started")))

        def fn(c: sqlite3.Connection) -> None:
            if packed:
                c.execute(
                    "INSERT INTO run_hits (run_id, nodes) VALUES (?, ?) "
                    "ON CONFLICT(run_id) DO UPDATE SET nodes = nodes || excluded.nodes",
                    (run_id, "\n" + "\n".join(packed)),
                )
            if rows:
                c.executemany(f"INSERT INTO node_runs ({_NODE_RUN_COLS}) VALUES ({','.join('?' * 12)})", rows)

        self._write(fn)

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        ran: int = 0,
        cached: int = 0,
        failed: int = 0,
        skipped: int = 0,
        seconds: float | None = None,
        finished: float | None = None,
    ) -> None:
        """Close the run record and apply the history retention (``history_limit`` runs)."""
        finished = time.time() if finished is None else finished
        self._write(
            lambda c: c.execute(
                "UPDATE runs SET finished=?, status=?, ran=?, cached=?, failed=?, skipped=?, seconds=? WHERE run_id=?",
                (finished, status, ran, cached, failed, skipped, seconds, run_id),
            )
        )
        self.trim_history(max(self.history_limit, 1))

    def trim_history(self, keep_runs: int = 200) -> int:
        """Delete all but the newest ``keep_runs`` runs and their node records; returns runs deleted."""
        keep_runs = max(int(keep_runs), 0)

        def fn(c: sqlite3.Connection) -> int:
            if c.execute("SELECT count(*) FROM runs").fetchone()[0] <= keep_runs:
                return 0
            old = [
                r[0]
                for r in c.execute(
                    "SELECT run_id FROM runs ORDER BY started DESC, run_id DESC LIMIT -1 OFFSET ?",
                    (keep_runs,),
                )
            ]
            c.executemany("DELETE FROM node_runs WHERE run_id=?", [(r,) for r in old])
            c.executemany("DELETE FROM run_hits WHERE run_id=?", [(r,) for r in old])
            c.executemany("DELETE FROM runs WHERE run_id=?", [(r,) for r in old])
            return len(old)

        return self._write(fn)

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """Newest first."""
        rows = self._read(
            lambda c: c.execute(
                f"SELECT {_RUN_COLS} FROM runs ORDER BY started DESC, run_id DESC LIMIT ?", (limit,)
            ).fetchall()
        )
        return [_run_record(r) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        row = self._read(
            lambda c: c.execute(f"SELECT {_RUN_COLS} FROM runs WHERE run_id=?", (run_id,)).fetchone()
        )
        return _run_record(row) if row else None

    def last_run(self, pipeline: str | None = None) -> RunRecord | None:
        if pipeline is None:
            return (self.runs(1) or [None])[0]
        row = self._read(
            lambda c: c.execute(
                f"SELECT {_RUN_COLS} FROM runs WHERE pipeline=? ORDER BY started DESC, run_id DESC LIMIT 1",
                (pipeline,),
            ).fetchone()
        )
        return _run_record(row) if row else None

    def run_nodes(self, run_id: str) -> list[NodeRunRecord]:
        """The node records of one run: its cache hits, then the rest in the order they were recorded."""

        def q(c: sqlite3.Connection) -> tuple[Any, list[tuple]]:
            hits = c.execute("SELECT nodes FROM run_hits WHERE run_id=?", (run_id,)).fetchone()
            rows = c.execute(
                f"SELECT {_NODE_RUN_COLS} FROM node_runs WHERE run_id=? ORDER BY rowid", (run_id,)
            ).fetchall()
            return hits, rows

        hits, rows = self._read(q)
        out = [_hit_record(run_id, line) for line in hits[0].split("\n") if line] if hits else []
        return out + [_node_run_record(r) for r in rows]

    def node_history(self, node: str, limit: int = 20) -> list[NodeRunRecord]:
        """Newest first."""
        return self.node_histories([node], limit)[node]

    def node_histories(self, nodes: Iterable[str], limit: int = 20) -> dict[str, list[NodeRunRecord]]:
        """:meth:`node_history` of many nodes at once, reading each run's packed hits once."""
        names = list(dict.fromkeys(nodes))
        wanted = set(names)
        one = names[0] if len(names) == 1 else None
        cols = ", ".join("nr." + c.strip() for c in _NODE_RUN_COLS.split(","))

        # One node: SQL narrows both queries (``instr`` finds its line in the packed hits). Many: one
        # pass over everything, filtered here. Rows are ordered as the merge below orders them.
        row_filter, hit_filter, row_args, hit_args, limit_sql = (
            ("WHERE nr.node=?", "WHERE instr(h.nodes, ?) > 0", (one,), (f"\n{one}\t",), f" LIMIT {int(limit)}")
            if one is not None else ("", "", (), (), ""))

        def q(c: sqlite3.Connection) -> tuple[list[tuple], list[tuple]]:
            rows = c.execute(
                f"SELECT {cols}, r.started, nr.rowid FROM node_runs nr LEFT JOIN runs r ON r.run_id = nr.run_id "
                f"{row_filter} ORDER BY COALESCE(nr.started, r.started, 0) DESC, nr.rowid DESC{limit_sql}", row_args
            ).fetchall()
            hits = c.execute(
                f"SELECT h.run_id, r.started, h.nodes FROM run_hits h LEFT JOIN runs r ON r.run_id = h.run_id "
                f"{hit_filter} ORDER BY r.started DESC{limit_sql}", hit_args
            ).fetchall()
            return rows, hits

        rows, hits = self._read(q)
        found: dict[str, list[tuple[float, int, NodeRunRecord]]] = {n: [] for n in names}
        for row in rows:
            if row[1] in wanted:
                rec = _node_run_record(row[:12])
                found[row[1]].append((_when(rec.started, row[12]), row[13], rec))
        for run_id, started, text in hits:
            if one is not None:
                i = text.find(f"\n{one}\t") + 1
                j = text.find("\n", i)
                lines = [text[i: j if j >= 0 else len(text)]]
            else:
                lines = text.split("\n")
            for line in lines:
                name = line[: line.find("\t")]
                if name in wanted:
                    rec = _hit_record(run_id, line)
                    found[name].append((_when(rec.started, started), -1, rec))
        return {n: [r for _, _, r in sorted(v, key=lambda t: (t[0], t[1]), reverse=True)[:limit]]
                for n, v in found.items()}

    def last_node_run(self, node: str) -> NodeRunRecord | None:
        return (self.node_history(node, 1) or [None])[0]
