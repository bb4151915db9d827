"""The persistent store behind the cache and the run history.

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
* **Nothing is trusted on read.** Every value, entry row, memo value and journal record carries a
  keyed MAC (HMAC-SHA256 for values, BLAKE2b for rows) under a secret kept outside the store
  (:mod:`engine.store.keys`), checked before anything is unpickled, so write access to the cache
  directory is not enough to plant a result or run code. A missing, truncated, corrupted, forged or
  unpicklable value raises :class:`EntryDamaged`, its row is deleted (unless it is merely another
  key's), and the cache recomputes. Values can also be encrypted at rest (:mod:`engine.store.crypto`).
  A corrupt ``meta.sqlite`` is moved aside and a fresh one is started; other damage is repaired
  where it is met (:mod:`engine.store.healing`). The store never returns a value other than the one
  written under that entry.
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
written with one ``executemany`` per flush."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from engine.errors import RippleError
from engine.settings import parse_age, parse_size
from engine.store.database import _Database
from engine.store.entries import _Entries
from engine.store.errors import EntryDamaged, StoreDamaged, StoreError, Unstorable
from engine.store.history import _History
from engine.store.objects import _Objects
from engine.store.records import Entry
from engine.store.schema import DB_NAME, INLINE_LIMIT, SCHEMA_VERSION
from engine.store.sqlite import sqlite3

__all__ = [
    "DB_NAME",
    "Entry",
    "EntryDamaged",
    "INLINE_LIMIT",
    "NodeRunRecord",
    "PruneReport",
    "RunRecord",
    "SCHEMA_VERSION",
    "Store",
    "StoreDamaged",
    "StoreError",
    "StoreStats",
    "Unstorable",
    "parse_age",
    "parse_size",
]


_UNEXPECTED = (UnicodeError, ValueError, OSError, sqlite3.Error)


def _boundary(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def guarded(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except RippleError:
            raise
        except _UNEXPECTED as exc:
            raise StoreDamaged(str(getattr(self, "db_path", self.root)), str(self.root), exc) from exc

    return guarded


def _guard_public_methods(cls: type) -> type:
    """Every public method raises :class:`StoreDamaged` for unexpected I/O, decoding or SQLite errors,
    so no caller has to guess from a traceback whether the store was at fault."""
    for klass in cls.__mro__:
        for name, member in vars(klass).items():
            if (name.startswith("_") and name != "__init__") or not inspect.isfunction(member) or name == "batch":
                continue
            if name not in vars(cls):
                setattr(cls, name, _boundary(member))
    return cls


@_guard_public_methods
class Store(_History, _Entries, _Objects, _Database):
    """SQLite metadata + content-addressed result files under ``root`` (usually ``.ripple/``).

    Thread-safe (one connection guarded by a lock; SQL statements take microseconds, file I/O happens
    outside the lock) and process-safe (WAL + busy timeout + atomic renames). Forked children open
    their own connection on first use.
    """


def __getattr__(name: str) -> Any:
    """The history and report records, made when first asked for (``engine.store.reports``)."""
    if name in ("NodeRunRecord", "PruneReport", "RunRecord", "StoreStats"):
        from engine.store import reports

        return getattr(reports, name)
    raise AttributeError(f"module 'engine.store' has no attribute {name!r}")
