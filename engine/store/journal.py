"""The batch journal: rows buffered in memory are also appended to a per-process file, so a SIGKILL
between flushes loses nothing that finished.

JSON records with a MAC, never pickles: a journal left behind by a dead process is read by every
command that opens the store (read-only ones too), and reading it must not be able to run code.
"""

from __future__ import annotations

import binascii
import contextlib
import os
import weakref

from engine._json import loads as json_loads
from engine.store.errors import StoreError
from engine.store.fsutil import _alive
from engine.store.keys import StoreKey
from engine.store.schema import _INSERT_ENTRY, compact_json
from engine.store.sqlite import sqlite3


def _journal_row(line: bytes, key: StoreKey) -> tuple | None:
    """One journal record, or ``None`` if it is torn, forged or not the shape of an entry row.
    JSON, never a pickle: reading a journal left by a dead process must not be able to run code."""
    mac, _, body = line.partition(b" ")
    if not key.same(mac.decode("ascii", "replace"), key.mac("journal", [body])):
        return None
    try:
        row = json_loads(body.decode("utf-8", "surrogatepass"))
    except ValueError:
        return None
    types = (str, str, str, (str, type(None)), int, (int, float), (int, float), (int, float), str, str, str, str,
             (str, type(None)))
    if not isinstance(row, list) or len(row) != len(types) or not all(isinstance(v, t) for v, t in zip(row, types)):
        return None
    if row[12] is not None:
        try:
            import base64  # lazy: only a journal left by a dead process is ever read

            row[12] = base64.b64decode(row[12], validate=True)
        except ValueError:
            return None
    return tuple(row)


def _close_own(fd: int, pid: int) -> None:
    """Close ``fd`` only in the process that opened it: a forked child's number may be another file."""
    if os.getpid() == pid:
        with contextlib.suppress(OSError):
            os.close(fd)


class _Journal:
    """The part of :class:`engine.store.Store` that keeps and replays the batch journal."""

    # Batched rows live in memory until the next flush; a SIGKILL in between would lose results
    # that finished (and so a resume would re-run them). Each batched row is therefore also
    # appended to a per-process journal with one unbuffered write (the OS keeps it across a
    # process kill) and replayed into SQLite by the next Store that opens this folder after the
    # writer is gone. A torn last record is ignored; a replayed row whose object file is missing
    # or damaged is an ordinary miss (checksums are verified on load).

    def _journal(self, row: tuple) -> None:
        fd = self._journal_fd
        if fd is None or self._pid != os.getpid():
            self._journal_path = self.root / f"journal-{os.getpid()}-{os.urandom(4).hex()}.log"
            fd = self._journal_fd = os.open(self._journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            # a store dropped unclosed must not keep its descriptor for the life of the process (a
            # notebook or a worker making many drivers ran out); its file stays, for the next store
            # to replay once this process is gone
            self._journal_done = weakref.finalize(self, _close_own, fd, os.getpid())
        inline = row[12]
        text = compact_json((*row[:12], None if inline is None else
                               binascii.b2a_base64(inline, newline=False).decode("ascii"))).encode()
        h = self.key.hasher("journal")
        h.update(text)
        os.write(fd, h.hexdigest().encode() + b" " + text + b"\n")

    def _drop_journal(self) -> None:
        if self._journal_done is not None:
            self._journal_done.detach()
            self._journal_done = None
        if self._journal_fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._journal_fd)
            with contextlib.suppress(OSError):
                if self._journal_path is not None:
                    self._journal_path.unlink()
        self._journal_fd = None

    def _replay_journals(self) -> None:
        try:  # a listing, not ``glob``: its pattern compiles a regex in every process (~0.1 ms)
            names = [n for n in os.listdir(self.root) if n.startswith("journal-") and n.endswith(".log")]
        except OSError:
            names = []
        for name in names:
            path = self.root / name
            try:
                pid = int(name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid == os.getpid() or _alive(pid):
                continue
            rows = []
            try:
                lines = path.read_bytes().split(b"\n")
            except OSError:
                lines = []
            for line in lines[:-1]:  # the last piece is empty, or a torn record
                row = _journal_row(line, self.key)
                if row is not None:
                    rows.append(row)
            if rows:
                try:
                    self._write(lambda c, rows=rows: c.executemany(_INSERT_ENTRY, rows))
                except (sqlite3.Error, StoreError):
                    continue
            with contextlib.suppress(OSError):
                path.unlink()
