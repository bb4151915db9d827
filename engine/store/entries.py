"""Cache entries: look-up, load, put, delete, prune and stats."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from engine.store import crypto
from engine.store.auth import _Auth, _split
from engine.store.codec import _deserialize, _serialize
from engine.store.entry_rows import _count_of, _holds, _rows_of, _rows_of_versions
from engine.store.errors import EntryDamaged, StoreError
from engine.store.prefetch import Prefetched
from engine.store.records import Entry
from engine.store.schema import (
    _INSERT_ENTRY,
    _SELECT_ENTRY,
    _SELECT_LEAN,
    BATCH_FLUSH_ROWS,
    BATCH_FLUSH_SECONDS,
    compact_json,
)
from engine.store.sqlite import sqlite3

# --------------------------------------------------------------------------------------------------
# schema

if TYPE_CHECKING:
    from engine.store.reports import PruneReport, StoreStats









class _Entries(_Auth):
    """The part of :class:`engine.store.Store` that handles cache entries: look-up, load, put, delete, prune and stats."""

    def get(self, key: str) -> Entry | None:
        pending = self._pending.get(key)
        if pending is not None:
            return pending[1]
        row = self._read(lambda c: c.execute(_SELECT_ENTRY + " WHERE key=?", (key,)).fetchone())
        return self._entry(row) if row is not None else None

    def entries_for(self, nodes: Iterable[str], *, full: bool = True) -> dict[str, list[Entry]]:
        """All entries of ``nodes`` (newest first; every node a key) in one query, their values not
        read; ``full=False`` leaves out the ``deps`` and ``code_parts`` documents (they explain a miss)."""
        names = list(dict.fromkeys(nodes))
        result: dict[str, list[Entry]] = {n: [] for n in names}
        if not names:
            return result
        multi = False
        make = self._entry
        for row in _rows_of(self, names, _SELECT_ENTRY if full else _SELECT_LEAN):
            lst = result.get(row[1])
            entry = make(row) if lst is not None else None
            if entry is None:
                continue
            if lst:
                multi = True
            lst.append(entry)
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

    def prefetch(self, nodes: Iterable[str], versions: Callable[[list[str]], Mapping[str, str]] | None = None) -> Prefetched:
        """The entries of ``nodes`` for a run, each authenticated when first asked for (see
        :mod:`engine.store.prefetch`). A store keeps every entry a node ever had, and reading them all
        made a warm run slower with every week of history: when the nodes have more than twice as
        many entries as there are nodes, ``versions(nodes)`` (node -> its likely code version) is
        asked, and of those nodes only that version's entries are read (a hit has its node's version:
        keys are made of it), the others when a key or a miss asks (``Prefetched``)."""
        names = list(dict.fromkeys(nodes))
        wanted = set(names)
        pending = [e for _row, e in list(self._pending.values()) if e.node in wanted]
        guess = versions(names) if versions is not None and self._json_each and _count_of(self, names) > 2 * len(names) else {}
        exact = [(n, guess[n]) for n in names if n in guess]
        known = {n for n, _ in exact}
        rows = _rows_of(self, [n for n in names if n not in known], _SELECT_LEAN) + _rows_of_versions(self, exact)
        later = (lambda: _rows_of(self, [n for n, _ in exact], _SELECT_LEAN)) if exact else None
        return Prefetched(rows, self._entry, pending, exact=exact, later=later)

    def holds(self, pairs: list[tuple[str, str]]) -> bool:
        """Whether an entry is stored under each (key, data version) pair: see :func:`_holds`."""
        return _holds(self, pairs)

    def latest_entry(self, node: str) -> Entry | None:
        """The newest entry of ``node`` (what ``explain`` diffs against)."""
        entries = self.entries_for([node])[node]
        return entries[0] if entries else None

    def ls(self, node: str | None = None) -> list[Entry]:
        """Entries (without their values), newest first: every row, authentic or not (a listing and
        pruning must see what takes space); :meth:`load` still refuses an unauthentic one."""
        self.commit()
        if node is None:
            rows = self._read(lambda c: c.execute(_SELECT_ENTRY + " ORDER BY created DESC").fetchall())
        else:
            rows = self._read(
                lambda c: c.execute(_SELECT_ENTRY + " WHERE node=? ORDER BY created DESC", (node,)).fetchall()
            )
        out = []
        for r in rows:
            e = Entry(*r)
            if self._entry(r) is None:
                e.__dict__["_unauthentic"] = True
            out.append(e)
        return out

    def load(self, entry: Entry) -> Any:
        """The stored value, verified against its MAC before anything is unpickled.

        Raises :class:`EntryDamaged` (after deleting the bad row and file) on any problem; the
        caller treats that as a miss. A row that fails authentication is a miss too, but is left
        alone: it may be a teammate's entry under their key. Bumps ``last_used`` lazily.
        """
        if entry.__dict__.get("_unauthentic"):
            raise EntryDamaged(f"cache entry {entry.key} of {entry.node!r} fails authentication; it will be "
                               "recomputed", node=entry.node)
        if entry.is_inline or entry.inline is not None:
            data: bytes | bytearray = self._fetch_inline(entry)
            h = self._value_hasher(entry.data_version, len(data))
            h.update(data)
            if not self.key.same(h.hexdigest(), _split(entry.checksum)[0]):
                self._damaged(entry, "the stored value fails its MAC", delete_file=False)
            if data[4:8] != b"\0\0\0\0":  # has out-of-band buffers: restore them writable
                data = bytearray(data)
        else:
            data = self._read_object(entry)
        if crypto.is_encrypted(data):
            # outside the except below: without the cryptography package this is a clear error
            # (UsageError), not a damaged entry to delete
            crypto.check_available()
            try:
                data = crypto.decrypt(self.key.encryption_key, data, entry.data_version.encode())
            except ValueError as e:
                self._damaged(entry, str(e), delete_file=None)
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
                "SELECT inline, checksum, data_version, code_version, files FROM entries WHERE key=?", (entry.key,)
            ).fetchone()
        )
        if row is None or row[0] is None:
            raise EntryDamaged(f"cache entry {entry.key} of {entry.node!r} vanished", node=entry.node)
        if row[2] != entry.data_version:
            raise EntryDamaged(f"cache entry {entry.key} of {entry.node!r} was replaced", node=entry.node)
        if row[1] != entry.checksum:  # re-written since the prefetch: the new row must vouch for itself
            vm, rm = _split(row[1] or "")
            if not (rm and self.key.same(rm, self._row_mac(entry.key, entry.node, row[2], row[3], row[4], vm))):
                raise EntryDamaged(f"cache entry {entry.key} of {entry.node!r} fails authentication",
                                   node=entry.node)
        entry.checksum = row[1]
        return row[0]

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
        if self.encrypt:
            parts = [crypto.encrypt(self.key.encryption_key, parts, data_version.encode())]
            size = len(parts[0])
        inline: bytes | None
        h = self._value_hasher(data_version, size)
        if size < self.inline_limit:
            inline = parts[0] if len(parts) == 1 else parts[0] + parts[1] if len(parts) == 2 else b"".join(parts)
            h.update(inline)
            vm = h.hexdigest()
        else:
            inline = None
            for p in parts:
                h.update(p)
            vm = h.hexdigest()
            try:
                vm, size = self._store_object(data_version, parts, size, vm)
            except OSError as e:
                raise StoreError(
                    f"cannot write the result of {node!r} to {self.objects}: {e}", node=node
                ) from e
        now = time.time() if created is None else created
        files_raw = compact_json(files) if files else "{}"
        checksum = f"{vm}.{self._row_mac(key, node, data_version, code_version, files_raw, vm)}"
        row = (
            key, node, data_version, code_version, size, float(compute_seconds), now, now,
            compact_json(deps) if deps else "{}", compact_json(code_parts) if code_parts else "{}", files_raw,
            checksum, inline,
        )  # fmt: skip
        # the entry holds the row's text documents (decoded when first read, as rows read back are):
        # no copies of the caller's dicts, nothing encoded twice
        entry = Entry(*row, inline is not None)
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
        dry_run: bool = False,
    ) -> PruneReport:
        """Evict entries, least valuable first.

        Order: entries ``useless(e)`` says no current node can use; then entries not used for
        ``older_than`` seconds; then, while the store is larger than ``max_size`` bytes, the
        entries that are cheapest to recompute per stored byte (ties: least recently used).
        ``keep(e)`` protects an entry from all three. Size counts a shared object file once.
        Orphaned files older than the GC grace period are swept as well.
        """
        from engine.store.reports import PruneReport
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
        if dry_run:  # what would go, nothing removed (a file shared with a survivor frees nothing)
            kept = {e.data_version for e in entries if e.key not in remove and not e.is_inline}
            files = {e.data_version: e.size for e in entries if e.key in remove and not e.is_inline}
            inline = sum(e.size for e in entries if e.key in remove and e.is_inline)
            return PruneReport(len(keys), inline + sum(s for d, s in files.items() if d not in kept), keys)
        removed, freed = self._remove(keys) if keys else (0, 0)
        freed += self.gc().freed_bytes
        self._vacuum()
        return PruneReport(removed, freed, keys)

    def stats(self) -> StoreStats:
        from engine.store.reports import StoreStats
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
