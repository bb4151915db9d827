"""The SQLite database: connection, schema, recovery of a corrupt file, the batch journal, transactions."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.store import crypto
from engine.store.errors import StoreError
from engine.store.fsutil import _create_private, _mkdir_private
from engine.store.healing import _Healing, _lenient_text
from engine.store.journal import _Journal
from engine.store.keys import StoreKey, load_key
from engine.store.memo import _DELETED, _Memo, seal
from engine.store.records import Entry
from engine.store.schema import (
    _CORRUPT_CODES,
    _INSERT_ENTRY,
    _SCHEMA,
    DB_NAME,
    INLINE_LIMIT,
    MIGRATIONS,
    OBJECTS,
    SCHEMA_VERSION,
)
from engine.store.sqlite import in_transaction, sqlite3

if TYPE_CHECKING:
    from engine.store import Store











def _is_corrupt(e: BaseException) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _CORRUPT_CODES
    msg = str(e).lower()
    return "not a database" in msg or "malformed" in msg


class _Database(_Healing, _Journal):
    """The part of :class:`engine.store.Store` that handles the SQLite database: connection, schema, recovery of a corrupt file, the batch journal, transactions."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        history_limit: int = 200,
        inline_limit: int = INLINE_LIMIT,
        busy_timeout: float = 10.0,
        key: StoreKey | None = None,
        encrypt: bool = False,
    ) -> None:
        self._journal_fd: int | None = None
        self._journal_done: Any = None  # closes the descriptor if the store is dropped unclosed
        self._journal_path: Path | None = None
        # absolute once opened: a node that calls os.chdir must not make the store look elsewhere
        self.root = Path(os.path.abspath(root))
        #: the secret every value, row, memo value and journal record is authenticated with
        self.key = key if key is not None else load_key()
        # only an opener that chose its key (the cache, `ripple cache`, a RIPPLE_CACHE_KEY) speaks for the
        # store's key mark; a reader that took the per-user default (the dashboard's history view,
        # lineage) must not re-mark a team's store or warn about it
        self._key_asserted = key is not None or self.key.shared
        self.encrypt = bool(encrypt)
        if self.encrypt:
            crypto.check_available()
        self._notices: set[str] = set()
        self._lenient = False
        self._healing = False
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
        self._check_key()
        self._remove_dead_temps()
        self._replay_journals()

    def _prepare_dirs(self) -> None:
        if not self.root.is_dir():
            self.root.parent.mkdir(parents=True, exist_ok=True)
            _mkdir_private(self.root)
        owner = os.stat(self.root).st_uid
        if owner != os.geteuid() and os.geteuid() != 0 and not self.key.shared:
            raise StoreError(
                f"the cache store {self.root} belongs to another user (uid {owner}); a cache someone else can "
                "write could plant results. Use your own --cache-dir, or share a cache on purpose with a common "
                "RIPPLE_CACHE_KEY or key_file.")
        _create_private(self.root / ".gitignore", b"*\n")
        for path, want_dir in ((self.objects, True), (self.db_path, False)):
            self._unblock(path, want_dir)
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
        if self._lenient:
            conn.text_factory = _lenient_text
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
            if version == 0:  # an empty database
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
            elif version < SCHEMA_VERSION:  # an older store: migrate it in place, keeping its entries and history
                for v in range(version, SCHEMA_VERSION):
                    for stmt in MIGRATIONS.get(v, ()):
                        conn.execute(stmt)
            if version < SCHEMA_VERSION:
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
            # a damaged page deep in a table or index passes the reads above; only seen on this path
            return conn.execute("PRAGMA quick_check").fetchall() != [("ok",)]
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

    def __exit__(self, *exc: object) -> None:
        self.close()


    def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            try:
                return fn(self._conn())
            except sqlite3.DatabaseError as e:
                if _is_corrupt(e):
                    self._move_aside_corrupt()
                elif self._healing or not self._heal(e):
                    raise self._store_error(e) from e
                return fn(self._conn())

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction (also flushing buffered small writes)."""

        def body(conn: sqlite3.Connection) -> Any:
            result = fn(conn)
            self._flush_small(conn)
            return result

        return self._read(lambda conn: in_transaction(conn, body))

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
                [(k, seal(self, k, v), now) for k, v in items if v is not _DELETED],
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
