"""The bulk reads of entry rows a run makes, one query each where SQLite has ``json_each``: a
node's rows, the rows of (node, code version) pairs, how many rows nodes have, and whether the
store still holds (key, data version) pairs. Nothing here authenticates a row (``Prefetched`` and
``_Auth`` do)."""

from __future__ import annotations

from typing import Any

from engine._json import dumps as json_dumps
from engine.store.schema import _SELECT_LEAN
from engine.store.sqlite import sqlite3


def _count_of(store: Any, names: list[str]) -> int:
    """How many entries these nodes have, from the index alone; no more than the store's highest
    rowid, which is read first: a store of a short history is not counted at all."""
    if not names:
        return 0

    def count(c: sqlite3.Connection) -> int:
        top = c.execute("SELECT max(rowid) FROM entries").fetchone()[0] or 0
        if top <= 2 * len(names):
            return top
        query = "SELECT count(*) FROM entries WHERE node IN (SELECT value FROM json_each(?))"
        return c.execute(query, (json_dumps(names),)).fetchone()[0]

    return store._read(count)


def _rows_of_versions(store: Any, pairs: list[tuple[str, str]]) -> list[tuple]:
    """The lean rows of these (node, code version) pairs, in one query through the store's
    (node, code_version) index (SQLite with ``json_each`` only)."""
    if not pairs:
        return []
    query = (_SELECT_LEAN + " WHERE rowid IN (SELECT e.rowid FROM json_each(?) AS p JOIN entries AS e"
             " ON e.node = json_extract(p.value, '$[0]') AND e.code_version = json_extract(p.value, '$[1]'))")
    return store._read(lambda c: c.execute(query, (json_dumps(pairs),)).fetchall())


def _rows_of(store: Any, names: list[str], select: str) -> list[tuple]:
    """The rows ``select`` gives for these nodes, in one query where SQLite has ``json_each``."""
    if not names:
        return []

    def query(c: sqlite3.Connection) -> list[tuple]:
        if store._json_each:
            return c.execute(select + " WHERE node IN (SELECT value FROM json_each(?))", (json_dumps(names),)).fetchall()
        rows: list[tuple] = []
        for i in range(0, len(names), 500):
            chunk = names[i : i + 500]
            rows += c.execute(select + f" WHERE node IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        return rows

    return store._read(query)


def _holds(store: Any, pairs: list[tuple[str, str]]) -> bool:
    """One query over the key index, reading no entry (False where SQLite lacks ``json_each``, or
    while entries wait in a batch): a recorded run replays only on a store that still holds all it
    recorded (``engine.caching.warm_runs``)."""
    if not store._json_each or store._pending:
        return False
    query = ("SELECT count(*) FROM json_each(?) AS p JOIN entries AS e ON e.key = json_extract(p.value, '$[0]')"
             " AND e.data_version = json_extract(p.value, '$[1]')")
    got = store._read(lambda c: c.execute(query, (json_dumps(pairs),)).fetchone())
    return got is not None and got[0] == len(pairs)
