"""Content-addressed result files under ``objects/``: atomic writes, checked reads, garbage collection."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from engine.store.codec import _write_all
from engine.store.fsutil import _mkdir_private
from engine.store.records import Entry
from engine.store.schema import DB_NAME, GC_GRACE_SECONDS, MEMO_MAX_ROWS, TMP_DIR, compact_json
from engine.store.sqlite import sqlite3

_SAFE_NAME = r"[A-Za-z0-9][A-Za-z0-9_=.\-]{2,127}"  # compiled on first use (re caches it)

if TYPE_CHECKING:
    from engine.store.reports import PruneReport


def _object_name(data_version: str) -> str:
    """File name for a data version; versions that are not safe file names are hashed."""
    if re.fullmatch(_SAFE_NAME, data_version):
        return data_version
    return "h" + xxhash.xxh3_128_hexdigest(data_version.encode("utf-8", "surrogatepass"))


class _Objects:
    """The part of :class:`engine.store.Store` that handles content-addressed result files under ``objects/``: atomic writes, checked reads, garbage collection."""

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
        h = self._value_hasher(entry.data_version, len(buf))
        h.update(buf)
        digest = h.hexdigest()
        if not self.key.same(digest, entry.checksum.partition(".")[0]):
            # Another writer may have replaced the file with an equally valid serialisation of the
            # same data version (pickles of equal values differ, e.g. set order). Accept it only if
            # a row vouches for exactly these bytes: a value MAC nobody without the key can forge.
            if self._adopt(entry, digest, len(buf)):
                return buf
            what = "is truncated" if len(buf) < entry.size else "fails its checksum"
            self._damaged(entry, f"result file {path} {what}", delete_file=True, ino=ino)
        return buf

    def _adopt(self, entry: Entry, digest: str, size: int) -> bool:
        raw = entry.__dict__.get("_files")
        files_raw = raw if isinstance(raw, str) or raw is None else compact_json(raw) if raw else "{}"
        checksum = f"{digest}.{self._row_mac(entry.key, entry.node, entry.data_version, entry.code_version, files_raw, digest)}"

        def fn(c: sqlite3.Connection) -> bool:
            ok = c.execute(
                "SELECT 1 FROM entries WHERE data_version=? AND substr(checksum, 1, ?)=? AND inline IS NULL LIMIT 1",
                (entry.data_version, len(digest) + 1, digest + "."),
            ).fetchone()
            if ok:
                c.execute(
                    "UPDATE entries SET checksum=?, size=? WHERE key=? AND checksum=?",
                    (checksum, size, entry.key, entry.checksum),
                )
            return bool(ok)

        if self._write(fn):
            entry.checksum, entry.size = checksum, size
            return True
        return False

    def _file_mac(self, path: Path, data_version: str) -> tuple[str, int]:
        h = self._value_hasher(data_version)
        size = 0
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size

    def _ensure_dir(self, d: Path) -> None:
        s = str(d)
        if s not in self._known_dirs:
            for folder in (self.objects, d):
                if os.path.lexists(folder) and (not folder.is_dir() or folder.is_symlink()):
                    self._unblock(folder, True)  # a file where a folder belongs: replace it
                _mkdir_private(folder)
            self._known_dirs.add(s)

    def _store_object(self, data_version: str, parts: list[Any], size: int, checksum: str) -> tuple[str, int]:
        """Write the object file unless an equivalent one is there; return (value MAC, size) stored."""
        path = self.object_path(data_version)
        try:
            st = os.stat(path)
            st_size = st.st_size if not os.path.isdir(path) else None
        except OSError:  # missing, or a file where its folder belongs (replaced below)
            st_size = None
        if st_size is not None:
            refs = self._read(
                lambda c: c.execute(
                    "SELECT DISTINCT checksum, size FROM entries WHERE data_version=? AND inline IS NULL",
                    (data_version,),
                ).fetchall()
            )
            known = {cs.partition(".")[0] for cs, sz in refs if sz == st_size}
            if st_size == size or known:
                with contextlib.suppress(OSError):
                    digest, real = self._file_mac(path, data_version)
                    if digest == checksum and real == size:
                        return checksum, size  # dedup: identical bytes already stored
                    if digest in known and real == st_size:
                        return digest, real  # an equivalent serialisation, vouched for by a row
        for attempt in range(2):
            self._ensure_dir(path.parent)
            tmp_dir = self.objects / TMP_DIR
            self._ensure_dir(tmp_dir)
            # temp files live in one folder, named by writer pid, so the next open can sweep a dead
            # writer's leftovers without walking every object folder
            tmp = tmp_dir / f"{path.name}-{os.getpid()}-{os.urandom(4).hex()}"
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
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)  # a folder where the result belongs: replace it
                os.replace(tmp, path)
            except FileNotFoundError:
                self._known_dirs.discard(str(path.parent))
                self._known_dirs.discard(str(tmp_dir))
                if attempt:
                    raise
                continue
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
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

    def gc(self, grace: float = GC_GRACE_SECONDS) -> PruneReport:
        """Remove object files no row refers to and abandoned temp files, if older than ``grace``.

        The grace period protects files another process has just written and is about to commit.
        Also bounds the memo and deletes set-aside corrupt databases older than a week.
        """
        from engine.store.reports import PruneReport

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
