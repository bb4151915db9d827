"""The SQLite module the store uses: ``_sqlite3``, the C module that ``sqlite3`` re-exports, without
``sqlite3.dbapi2``'s import of ``datetime`` and its date adapters (~1.7 ms of a warm run's start).
The store binds only text, numbers and bytes, so those adapters never apply; every name used
(``connect``, ``Connection``, the error classes) is the same object in both modules."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

try:
    import _sqlite3 as sqlite3
except ImportError:  # pragma: no cover - an interpreter whose sqlite3 is not CPython's
    import sqlite3  # type: ignore[no-redef]

__all__ = ["in_transaction", "sqlite3"]


def in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any]) -> Any:
    """``fn(conn)`` between ``BEGIN IMMEDIATE`` and ``COMMIT``; rolled back if anything raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return result
