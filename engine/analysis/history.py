"""Bottlenecks from the run history: ranking by self time, share of wall time, trends, savings.

The functions here take plain records (anything with the attributes of the store's
``NodeRunRecord``: ``node``, ``status``, ``seconds``, ``hit``) so the CLI, the dashboard and tests
on constructed histories compute the same numbers. :func:`bottlenecks` is the one-call form
over a :class:`~engine.store.Store`.

Decisions taken here:
- *Self time* is a node's own compute time in the run, never its upstream's: a node that waits
  for a slow parent is not a bottleneck itself. A cache hit's self time is its load time.
- A *trend* compares the newest executed run of a node with the median of the executed runs
  before it (hits are loads, not computations, and do not count). It is flagged as a regression
  when the last run took at least ``REGRESSION_RATIO`` times the median and at least
  ``REGRESSION_MIN_SECONDS`` more, so millisecond jitter on trivial nodes is never flagged.
- *Time saved* by a hit is what the node cost when it last computed that result: the entry's
  recorded compute time when the entry is still in the store, else the node's median executed
  time from the history.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .critical_path import CriticalPath, Span, critical_path

if TYPE_CHECKING:
    from engine.store import Store

REGRESSION_RATIO = 1.5
REGRESSION_MIN_SECONDS = 0.05
EXECUTED = frozenset({"ran", "failed"})


class NodeRun(Protocol):
    node: str
    status: str
    seconds: float | None
    hit: bool


@dataclass(slots=True)
class NodeTime:
    """One row of the ranking."""

    node: str
    seconds: float
    share: float
    status: str
    critical: bool = False


@dataclass(slots=True)
class Trend:
    """``median`` covers the executed runs before the last one (``None`` with no earlier run)."""

    node: str
    runs: int
    last: float | None
    median: float | None
    regressed: bool

    @property
    def ratio(self) -> float | None:
        if self.last is None or not self.median:
            return None
        return self.last / self.median


@dataclass(slots=True)
class Bottlenecks:
    """Everything the Bottlenecks tab and ``ripple runs show`` say about one run."""

    run_id: str
    wall: float
    ranking: list[NodeTime]
    path: CriticalPath
    trends: dict[str, Trend] = field(default_factory=dict)
    saved_this_run: float = 0.0
    saved_total: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "wall": self.wall, "ranking": [asdict(r) for r in self.ranking],
                "critical_path": self.path.to_dict(),
                "trends": {n: {**asdict(t), "ratio": t.ratio} for n, t in self.trends.items()},
                "saved_this_run": self.saved_this_run, "saved_total": self.saved_total}


def rank(records: Iterable[NodeRun], wall: float | None = None, *,
         critical: Iterable[str] = ()) -> list[NodeTime]:
    """Nodes of one run by self time, slowest first; ``share`` is of ``wall`` (default: the sum)."""
    rows = [(r.node, float(r.seconds or 0.0), r.status) for r in records]
    total = wall if wall else sum(s for _, s, _ in rows)
    on_path = set(critical)
    ranked = sorted(rows, key=lambda t: (-t[1], t[0]))
    return [NodeTime(n, s, (s / total) if total else 0.0, st, n in on_path) for n, s, st in ranked]


def trend(node: str, history: Sequence[NodeRun], *, ratio: float = REGRESSION_RATIO,
          min_seconds: float = REGRESSION_MIN_SECONDS) -> Trend:
    """The node's newest executed time against the median of its earlier ones (``history`` newest first)."""
    times = [float(r.seconds) for r in history if r.status in EXECUTED and not r.hit and r.seconds is not None]
    return trend_of(node, times, ratio=ratio, min_seconds=min_seconds)


def trend_of(node: str, times: Sequence[float], *, ratio: float = REGRESSION_RATIO,
             min_seconds: float = REGRESSION_MIN_SECONDS) -> Trend:
    """:func:`trend` over executed durations alone, newest first (what a live view keeps)."""
    if not times:
        return Trend(node, 0, None, None, False)
    last, earlier = times[0], list(times[1:])
    median = statistics.median(earlier) if earlier else None
    regressed = median is not None and last >= median * ratio and last - median >= min_seconds
    return Trend(node, len(times), last, median, regressed)


def median_seconds(history: Sequence[NodeRun]) -> float | None:
    """Typical executed time of a node (all its executed runs), the estimate for a run to come."""
    times = [float(r.seconds) for r in history if r.status in EXECUTED and not r.hit and r.seconds is not None]
    return statistics.median(times) if times else None


def saved_by(hits: Iterable[Any], compute_seconds: Mapping[str, float],
             medians: Mapping[str, float | None]) -> float:
    """Seconds the cache saved over ``hits`` (records with ``node`` and ``key``): see the module notes."""
    total = 0.0
    for h in hits:
        got = compute_seconds.get(getattr(h, "key", None) or "")
        if got is None:
            got = medians.get(h.node) or 0.0
        total += got
    return total


def bottlenecks(store: Store, run_id: str | None = None, *, deps: Mapping[str, Iterable[str]] | None = None,
                history_runs: int = 30, pipeline: str | None = None) -> Bottlenecks | None:
    """The analysis of one stored run (default: the newest, of ``pipeline`` if given).

    ``deps`` (node -> the nodes it needs, e.g. from the graph) gives the critical path its edges;
    without it every node is its own chain and the path is the slowest node.
    """
    run = store.run(run_id) if run_id else store.last_run(pipeline)
    if run is None:
        return None
    records = store.run_nodes(run.run_id)
    nodes = [r.node for r in records]
    histories = store.node_histories(nodes, limit=history_runs) if nodes else {}
    deps = deps or {}
    path = critical_path([Span(r.node, float(r.seconds or 0.0), tuple(deps.get(r.node, ()))) for r in records],
                         wall=run.seconds)
    wall = run.seconds or path.total
    executed = [r for r in records if r.status in EXECUTED]
    ranking = rank(executed, wall, critical=path.nodes)
    trends = {n: trend(n, h) for n, h in histories.items()}
    medians = {n: median_seconds(h) for n, h in histories.items()}
    compute = _compute_seconds(store, nodes)
    this_run = saved_by([r for r in records if r.hit], compute, medians)
    total = _saved_total(store, compute, medians, limit=store.history_limit)
    return Bottlenecks(run.run_id, wall, ranking, path, trends, this_run, total)


def _compute_seconds(store: Store, nodes: Iterable[str]) -> dict[str, float]:
    entries = store.entries_for(list(dict.fromkeys(nodes)), full=False)
    return {e.key: e.compute_seconds for es in entries.values() for e in es}


def _saved_total(store: Store, compute: Mapping[str, float], medians: Mapping[str, float | None], *,
                 limit: int) -> float:
    total = 0.0
    for run in store.runs(limit=limit):
        total += saved_by([r for r in store.run_nodes(run.run_id) if r.hit], compute, medians)
    return total
