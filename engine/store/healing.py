"""Self-healing of the store: one notice per kind of damage, and repairs that keep every run working.

Damage that would otherwise fail every run (or, worse, silently turn a check off) is repaired at
the place it is met: text that does not decode is read leniently (authenticated rows then fail
their MAC and are misses), a dropped table is recreated, a table whose columns are not this
Ripple's is renamed aside, a file or folder in the way of a write is moved aside, and temp files
of writers that died mid-write are removed at the next open. Also here: telling "written under
another key" apart from damage.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from engine._log import log
from engine.store.errors import StoreError
from engine.store.fsutil import _alive, _create_private
from engine.store.schema import _SCHEMA, TMP_DIR
from engine.store.sqlite import in_transaction, sqlite3

#: the file naming the key the store was last opened under (public: a key fingerprint, no secret)
KEY_MARK = "key-id"

_SCHEMA_TROUBLE = ("no such table", "no such column", "has no column named", "columns but", "values for")


def _lenient_text(b: bytes) -> str:
    """Text that does not decode (bit rot) is read with replacement characters: authenticated rows
    then fail their MAC (a miss) instead of every query raising."""
    return b.decode("utf-8", "replace")


def _expected_columns() -> dict[str, list[str]]:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(_SCHEMA)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()


class _Healing:
    """The part of :class:`engine.store.Store` that notices and repairs damage."""

    def _notice(self, what: str, text: str) -> None:
        """One warning per kind per open store (a damaged store must not flood the log)."""
        if what not in self._notices:
            self._notices.add(what)
            log.warning("%s", text)

    def _note_unauthentic(self) -> None:
        if "key" in self._notices:
            return  # already told: written under another key
        self._notice("auth", f"some cache entries in {self.root} fail authentication (written by an older "
                             "Ripple or under another cache key, edited, or damaged); they are misses and will be recomputed")

    def _check_key(self) -> None:
        """Tell "written under another key" apart from damage, once; an encrypted store opened under
        another key with encryption on is an error, since everything in it would be unreadable."""
        if not self._key_asserted:
            return
        mark = self.key.key_id + (":enc" if self.encrypt else "")
        path = self.root / KEY_MARK
        try:
            old: str | None = path.read_text(errors="replace").strip()
        except OSError:
            old = None
        if old == mark:
            return
        old_id = (old or "").partition(":")[0]
        if old_id and old_id != self.key.key_id:
            if self.encrypt and old.endswith(":enc"):
                raise StoreError(
                    f"the cache store {self.root} is encrypted under another key (id {old_id}, this one is "
                    f"{self.key.key_id} from {self.key.source}); set RIPPLE_CACHE_KEY or key_file to the key it "
                    "was written with, or use another --cache-dir")
            self._notice("key", f"the cache store {self.root} was written under another cache key (id {old_id}; "
                                f"this one is {self.key.key_id} from {self.key.source}): its entries are misses. "
                                "To share a cache on purpose, give everyone the same RIPPLE_CACHE_KEY or key_file.")
        tmp = path.with_name(f".{KEY_MARK}-{os.getpid()}-{os.urandom(4).hex()}")
        with contextlib.suppress(OSError):
            _create_private(tmp, mark.encode())
            os.replace(tmp, path)

    def _remove_dead_temps(self) -> None:
        """Temp files of writers that died mid-write (a kill during a large put) go at the next open,
        not an hour later: they are as large as the results they were going to be."""
        tmp = self.objects / TMP_DIR
        try:
            names = os.listdir(tmp)
        except OSError:
            return
        for name in names:
            try:
                pid = int(name.rsplit("-", 2)[-2])
            except (IndexError, ValueError):
                pid = 0
            if pid != os.getpid() and (pid == 0 or not _alive(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(tmp / name)


    def _unblock(self, path: Path, want_dir: bool) -> None:
        """A file where a folder belongs (or the reverse) would fail every write; move it out of the way."""
        if not os.path.lexists(path) or path.is_dir() == want_dir and not path.is_symlink():
            return
        aside = path.with_name(f"{path.name}.blocked-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        try:
            os.replace(path, aside)
        except OSError:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        self._notice("blocked", f"{path} was in the way of the cache store; moved it aside to {aside.name}")

    def _heal(self, e: sqlite3.DatabaseError) -> bool:
        """Repair what would otherwise fail every run: undecodable text, a dropped table, a table
        whose columns are not the ones this Ripple writes. True if the caller should retry once."""
        msg = str(e).lower()
        if "could not decode" in msg:
            self._lenient = True
            if self._conn_ is not None:
                self._conn_.text_factory = _lenient_text
            self._notice("text", f"{self.db_path} holds text that does not decode (damaged); affected entries are "
                                 "misses and memo values are recomputed")
            return True
        if not any(t in msg for t in _SCHEMA_TROUBLE):
            return False
        self._healing = True
        try:
            moved = self._repair_schema(self._conn())
        finally:
            self._healing = False
        self._notice("schema", f"{self.db_path}: repaired the store's tables"
                               + (f" (moved aside: {', '.join(moved)})" if moved else " (recreated missing ones)"))
        return True

    def _repair_schema(self, conn: sqlite3.Connection) -> list[str]:
        """Tables whose columns differ from this Ripple's are renamed aside (their indexes dropped, so
        the fresh tables get theirs); missing tables are created. Returns the renamed tables."""
        expected = _expected_columns()
        stamp = time.strftime("%Y%m%d%H%M%S")
        moved: list[str] = []

        def repair(c: sqlite3.Connection) -> None:
            for table, cols in expected.items():
                have = [r[1] for r in c.execute(f"PRAGMA table_info({table})")]
                if have and have != cols:
                    for (index,) in c.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=? "
                                              "AND sql IS NOT NULL", (table,)).fetchall():
                        c.execute(f'DROP INDEX IF EXISTS "{index}"')
                    c.execute(f'ALTER TABLE {table} RENAME TO "{table}_damaged_{stamp}"')
                    moved.append(table)
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)

        in_transaction(conn, repair)
        return moved
