"""The run history: runs, per-node run rows, retention."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from engine._json import dumps as json_dumps
from engine._json import loads as json_loads
from engine.store.schema import _NODE_RUN_COLS, _RUN_COLS, compact_json
from engine.store.sqlite import sqlite3

if TYPE_CHECKING:
    from engine.store.reports import NodeRunRecord, RunRecord


def _run_record(row: tuple) -> RunRecord:
    from engine.store.reports import RunRecord  # made only when history is read

    r = list(row)
    try:
        r[5] = json_loads(r[5]) if r[5] else []
    except ValueError:
        r[5] = []
    return RunRecord(*r)


def _node_run_record(row: tuple) -> NodeRunRecord:
    from engine.store.reports import NodeRunRecord  # made only when history is read

    r = list(row)
    r[4] = bool(r[4])
    try:
        r[12] = json_loads(r[12]) if r[12] else None
    except ValueError:
        r[12] = None
    return NodeRunRecord(*r)


def _hit_record(run_id: str, line: str) -> NodeRunRecord:
    """A packed hit (``run_hits``: node, seconds, key, data and code version, why, started)."""
    from engine.store.reports import NodeRunRecord

    node, seconds, key, dv, cv, why, started = line.split("\t")
    return NodeRunRecord(run_id, node, "cached", float(seconds) if seconds else None, True, why or None,
                         key or None, dv or None, cv or None, None, None, float(started) if started else None)


def _run_node_rows(c: sqlite3.Connection, run_id: str) -> tuple[list[str], list[tuple]]:
    """One run's packed hit lines and its other node rows, in the order they were recorded."""
    hits = c.execute("SELECT nodes FROM run_hits WHERE run_id=?", (run_id,)).fetchone()
    rows = c.execute(f"SELECT {_NODE_RUN_COLS} FROM node_runs WHERE run_id=? ORDER BY rowid", (run_id,)).fetchall()
    return [line for line in hits[0].split("\n") if line] if hits else [], rows


class RunNodes:
    """One run's node records by node, each made when its node is asked for: a run's hits are a
    line per node (a thousand at 1,000 nodes), and a miss explaining itself wants its own record."""

    __slots__ = ("run_id", "_hits", "_rows")

    def __init__(self, run_id: str, hits: list[str], rows: list[tuple]) -> None:
        self.run_id = run_id
        self._hits: dict[str, list[str]] = {}
        for line in hits:
            self._hits.setdefault(line.partition("\t")[0], []).append(line)
        self._rows: dict[str, list[tuple]] = {}
        for row in rows:
            self._rows.setdefault(row[1], []).append(row)

    def of(self, node: str) -> list[NodeRunRecord]:
        """``node``'s records in this run, in :meth:`_History.run_nodes` order."""
        return ([_hit_record(self.run_id, line) for line in self._hits.get(node, ())]
                + [_node_run_record(row) for row in self._rows.get(node, ())])


def _when(node_started: float | None, run_started: float | None) -> float:
    """When a history record happened, for ordering: the node's own start, else its run's."""
    return node_started if node_started is not None else run_started if run_started is not None else 0.0


class _History:
    """The part of :class:`engine.store.Store` that handles the run history: runs, per-node run rows, retention."""

    def start_run(
        self, run_id: str, pipeline: str, outputs: Iterable[str], started: float | None = None
    ) -> None:
        started = time.time() if started is None else started
        self._write(
            lambda c: c.execute(
                f"INSERT OR REPLACE INTO runs ({_RUN_COLS}) VALUES (?,?,?,NULL,'running',?,0,0,0,0,NULL)",
                (run_id, pipeline, started, json_dumps(list(outputs))),
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
        if records:
            self._write(_node_writer(run_id, records))

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
        records: list[dict[str, Any]] | None = None,
        hits: Iterable[tuple[Any, ...]] = (),
    ) -> None:
        """Close the run record and apply the history retention (``history_limit`` runs); ``records``
        are appended as by :meth:`record_nodes`, in the same transaction (a warm run's close is
        mostly commits), and so are ``hits``: cache hits as ``(node, seconds, key, data version, code
        version, why, started)``, what a hit's record holds, without making the record."""
        finished = time.time() if finished is None else finished
        keep = max(self.history_limit, 1)
        nodes = _node_writer(run_id, records or [], hits)

        def fn(c: sqlite3.Connection) -> None:
            nodes(c)
            c.execute(
                "UPDATE runs SET finished=?, status=?, ran=?, cached=?, failed=?, skipped=?, seconds=? WHERE run_id=?",
                (finished, status, ran, cached, failed, skipped, seconds, run_id),
            )
            _trim(c, keep)

        self._write(fn)

    def trim_history(self, keep_runs: int = 200) -> int:
        """Delete all but the newest ``keep_runs`` runs and their node records; returns runs deleted."""
        keep_runs = max(int(keep_runs), 0)
        return self._write(lambda c: _trim(c, keep_runs))

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """Newest first."""
        rows = self._read(
            lambda c: c.execute(
                f"SELECT {_RUN_COLS} FROM runs ORDER BY started DESC, run_id DESC LIMIT ?", (limit,)
            ).fetchall()
        )
        return [_run_record(r) for r in rows]

    def recent_runs(self, limit: int = 20) -> list[tuple[str, str | None]]:
        """``(run_id, pipeline)`` of the newest runs, newest first (as :meth:`runs` orders them),
        without making their records: what a cold run asks at its first miss, often of an empty
        history."""
        return self._read(lambda c: c.execute(
            "SELECT run_id, pipeline FROM runs ORDER BY started DESC, run_id DESC LIMIT ?", (limit,)).fetchall())

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
        hits, rows = self._read(lambda c: _run_node_rows(c, run_id))
        return [_hit_record(run_id, line) for line in hits] + [_node_run_record(r) for r in rows]

    def run_nodes_by_node(self, run_id: str) -> RunNodes:
        """:meth:`run_nodes` by node, each record made only when its node is asked for."""
        hits, rows = self._read(lambda c: _run_node_rows(c, run_id))
        return RunNodes(run_id, hits, rows)

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
                rec = _node_run_record(row[:13])
                found[row[1]].append((_when(rec.started, row[13]), row[14], rec))
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


def _trim(c: sqlite3.Connection, keep_runs: int) -> int:
    old = [r[0] for r in c.execute("SELECT run_id FROM runs ORDER BY started DESC, run_id DESC LIMIT -1 OFFSET ?",
                                   (keep_runs,))]
    if old:
        c.executemany("DELETE FROM node_runs WHERE run_id=?", [(r,) for r in old])
        c.executemany("DELETE FROM run_hits WHERE run_id=?", [(r,) for r in old])
        c.executemany("DELETE FROM runs WHERE run_id=?", [(r,) for r in old])
    return len(old)


def _packed(node: str, seconds: float | None, key: str | None, dv: str | None, cv: str | None, why: str | None,
            started: float | None) -> str | None:
    """A hit's line in ``run_hits``; None when a field holds a tab or a newline (an ordinary row then)."""
    line = (f"{node}\t{'' if seconds is None else repr(seconds)}\t{key or ''}\t{dv or ''}\t{cv or ''}\t{why or ''}\t"
            f"{'' if started is None else repr(started)}")
    return line if line.count("\t") == 6 and "\n" not in line else None


def _node_writer(run_id: str, records: list[dict[str, Any]],
                 hits: Iterable[tuple[Any, ...]] = ()) -> Callable[[sqlite3.Connection], None]:
    """What :meth:`_History.record_nodes` writes, as a step of a transaction (``hits``: see ``finish_run``)."""
    rows: list[tuple[Any, ...]] = []
    packed: list[str] = []
    get = dict.get
    for h in hits:
        line = _packed(*h)
        if line is not None:
            packed.append(line)
        else:
            node, seconds, key, dv, cv, why, started = h
            records = [*records, {"node": node, "status": "cached", "seconds": seconds, "hit": True, "key": key,
                            "data_version": dv, "code_version": cv, "why": why, "started": started}]
    for r in records:
        if get(r, "hit") and get(r, "status") == "cached" and not get(r, "error"):
            line = _packed(r["node"], get(r, "seconds"), get(r, "key"), get(r, "data_version"), get(r, "code_version"),
                           get(r, "why"), get(r, "started"))
            if line is not None:
                packed.append(line)
                continue
        deps = get(r, "deps")
        rows.append((run_id, get(r, "node"), get(r, "status"), get(r, "seconds"), int(bool(get(r, "hit"))),
                     get(r, "why"), get(r, "key"), get(r, "data_version"), get(r, "code_version"),
                     get(r, "error"), get(r, "traceback"), get(r, "started"),
                     None if deps is None else compact_json(deps) if deps else "{}"))

    def fn(c: sqlite3.Connection) -> None:
        if packed:
            c.execute(
                "INSERT INTO run_hits (run_id, nodes) VALUES (?, ?) "
                "ON CONFLICT(run_id) DO UPDATE SET nodes = nodes || excluded.nodes",
                (run_id, "\n" + "\n".join(packed)),
            )
        if rows:
            c.executemany(f"INSERT INTO node_runs ({_NODE_RUN_COLS}) VALUES ({','.join('?' * 13)})", rows)

    return fn
