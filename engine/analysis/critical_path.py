"""The chain of dependent nodes that bounds a run's wall time, and what parallelism could save.

Pure functions over plain records so a live dashboard, a stored run and a timeline view all ask
the same question the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    """One node's time in one run. ``seconds`` wins over ``end - start`` when both are given,
    because durations come from a monotonic clock and start/end from the wall clock."""

    node: str
    seconds: float | None = None
    deps: tuple[str, ...] = ()
    start: float | None = None
    end: float | None = None

    @property
    def duration(self) -> float:
        if self.seconds is not None:
            return max(float(self.seconds), 0.0)
        if self.start is not None and self.end is not None:
            return max(float(self.end) - float(self.start), 0.0)
        return 0.0


@dataclass(frozen=True, slots=True)
class CriticalPath:
    """``seconds`` is the chain's summed duration: no executor can finish the run faster.

    ``total`` is every node's time added up (what a sequential run pays), ``wall`` the run's
    actual wall time (the span from the first start to the last end when times are known, else
    ``total``). ``parallel_saving`` is what unlimited parallel workers could take off ``wall``.
    """

    nodes: tuple[str, ...]
    seconds: float
    total: float
    wall: float

    @property
    def parallel_saving(self) -> float:
        return max(self.wall - self.seconds, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "seconds": self.seconds, "total": self.total, "wall": self.wall,
                "parallel_saving": self.parallel_saving}


def _span(record: Span | Mapping[str, Any]) -> Span:
    if isinstance(record, Span):
        return record
    return Span(str(record.get("node") or record.get("name")), record.get("seconds"),
                tuple(record.get("deps") or ()), record.get("start"), record.get("end"))


def critical_path(records: Iterable[Span | Mapping[str, Any]], *, wall: float | None = None) -> CriticalPath:
    """The longest chain, weighted by duration, through the dependency edges among ``records``.

    Signature for callers (the timeline view imports it):
    ``critical_path(records, *, wall=None) -> CriticalPath``, where each record is a
    :class:`Span` or a mapping with ``node`` (or ``name``), ``deps`` (names of the nodes it
    waited for; names not among the records are ignored), and either ``seconds`` or
    ``start``/``end`` (epoch seconds). ``wall`` overrides the measured wall time.

    Records may come in any order; ties go to the record given first, so the answer is stable.
    Cycles cannot come from a Ripple graph; if a caller passes one, the nodes on it are dropped
    from the path rather than looping.
    """
    spans: dict[str, Span] = {}
    for r in records:
        s = _span(r)
        spans.setdefault(s.node, s)
    order = _topological(spans)
    best: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for name in order:
        parent: str | None = None
        for d in spans[name].deps:
            if d in best and (parent is None or best[d] > best[parent]):
                parent = d
        best[name] = spans[name].duration + (best[parent] if parent is not None else 0.0)
        via[name] = parent
    total = sum(s.duration for s in spans.values())
    if wall is None:
        starts = [s.start for s in spans.values() if s.start is not None]
        ends = [s.end if s.end is not None else (s.start + s.duration if s.start is not None else None)
                for s in spans.values()]
        known = [e for e in ends if e is not None]
        wall = (max(known) - min(starts)) if starts and len(known) == len(spans) else total
    if not best:
        return CriticalPath((), 0.0, total, wall)
    end = order[0]
    for name in order:
        if best[name] > best[end]:
            end = name
    path: list[str] = []
    cur: str | None = end
    while cur is not None:
        path.append(cur)
        cur = via[cur]
    return CriticalPath(tuple(reversed(path)), best[end], total, wall)


def _topological(spans: Mapping[str, Span]) -> list[str]:
    """Kahn's order, iterative (a 10,000-node chain must not recurse), stable in input order."""
    indeg = {n: 0 for n in spans}
    children: dict[str, list[str]] = {n: [] for n in spans}
    for n, s in spans.items():
        for d in dict.fromkeys(s.deps):
            if d in spans and d != n:
                indeg[n] += 1
                children[d].append(n)
    ready = [n for n in spans if indeg[n] == 0]
    out: list[str] = []
    i = 0
    while i < len(ready):
        n = ready[i]
        i += 1
        out.append(n)
        for c in children[n]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    return out
