"""When each node ran, and how runs went over time: the data behind the timeline and the trend plots.

Kept apart from ``RunModel`` (which answers "what state is each node in") because it answers "when":
it keeps each node's start from the events' own timestamps, so a replayed run draws exactly as it
happened, and a running node's bar grows with the injected clock, measured from the moment the
run's first event arrived. No Textual here.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import events as ev
from engine.analysis.timeline import RUNNING, Timeline, build

#: how many past runs the trend plots keep
KEEP = 30


@dataclass(frozen=True, slots=True)
class Point:
    """One run of one node: its time and whether it was a cache hit (a hit's time is the load)."""

    seconds: float
    hit: bool
    failed: bool = False
    run_id: str = ""


@dataclass(frozen=True, slots=True)
class RunPoint:
    run_id: str
    wall: float
    hit_rate: float | None
    status: str


@dataclass(slots=True)
class TrendHistory:
    """Past runs read from the store, pushed through the event buffer like any other notice."""

    nodes: dict[str, list[Point]] = field(default_factory=dict)
    runs: list[RunPoint] = field(default_factory=list)


class RunClock:
    """Reduces events into node start times (run-relative), per-node points and per-run points."""

    def __init__(self) -> None:
        self.run_id = ""
        self.status = ""
        self.t0: float | None = None  # the run's start, event time
        self.seen = 0.0  # the newest event time, so a bar never ends before the last thing seen
        self.clock0 = 0.0  # the dashboard clock when the run started
        self.spans: dict[str, list[Any]] = {}  # node -> [status, start (event time), seconds]
        self.wall: float | None = None
        self.nodes: dict[str, deque[Point]] = {}
        self.runs: deque[RunPoint] = deque(maxlen=KEEP)
        self.version = 0

    def _point(self, node: str, p: Point) -> None:
        self.nodes.setdefault(node, deque(maxlen=KEEP)).append(p)

    def apply(self, item: Any, now: float) -> bool:
        """Fold one buffered item; True when the timeline or the trends changed."""
        t = getattr(item, "t", None)
        if isinstance(item, ev.RunStarted):
            self.run_id, self.status, self.t0, self.seen, self.clock0 = item.run_id, RUNNING, item.t, item.t, now
            self.spans, self.wall = {}, None
        elif isinstance(item, TrendHistory):  # older than anything seen live; a run seen both ways counts once
            for node, points in item.nodes.items():
                old = list(self.nodes.get(node, ()))
                live = {p.run_id for p in old}
                self.nodes[node] = deque([*(p for p in points if p.run_id not in live), *old], maxlen=KEEP)
            live_runs = {r.run_id for r in self.runs}
            self.runs = deque([*(r for r in item.runs if r.run_id not in live_runs), *self.runs], maxlen=KEEP)
        elif not isinstance(item, ev.Event) or getattr(item, "run_id", None) != self.run_id:
            return False
        elif isinstance(item, ev.NodeStarted):
            span = self.spans.setdefault(item.node, [RUNNING, item.t, None])
            span[0] = RUNNING
            if not item.task:  # a fan-out item keeps the bar where the node's first item began
                span[1] = item.t
        elif isinstance(item, ev.NodeFinished | ev.NodeFailed):
            st = ev.RAN if isinstance(item, ev.NodeFinished) else ev.FAILED
            span = self.spans.setdefault(item.node, [st, item.t - item.seconds, 0.0])
            # one item of a fan-out: the bar spans all its items so far; the node's time is their sum
            span[0], span[2] = st, (item.t - span[1]) if item.task else item.seconds
            if not item.task:
                self._point(item.node, Point(item.seconds, False, st == ev.FAILED, item.run_id))
        elif isinstance(item, ev.NodeCached):
            self.spans[item.node] = [ev.CACHED, item.t, item.seconds]
            self._point(item.node, Point(item.seconds, True, run_id=item.run_id))
        elif isinstance(item, ev.NodeSkipped):
            self.spans[item.node] = [ev.SKIPPED, item.t, 0.0]
        elif isinstance(item, ev.RunFinished):
            self.status, self.wall = item.status, item.seconds
            done = item.ran + item.cached
            self.runs.append(RunPoint(item.run_id, item.seconds, item.cached / done if done else None, item.status))
        else:
            return False
        if t is not None:
            self.seen = max(self.seen, t)
        self.version += 1
        return True

    def end_run(self, status: str) -> None:
        """The controller's verdict on a run that emitted no RunFinished (crash, stop)."""
        if self.status == RUNNING:
            self.status = status
            for span in self.spans.values():
                if span[0] == RUNNING:
                    span[0] = ev.FAILED if status == "crashed" else ev.SKIPPED
            self.version += 1

    def timeline(self, now: float, deps: Mapping[str, Iterable[str]] | None = None) -> Timeline | None:
        if self.t0 is None:
            return None
        live = max(self.seen, self.t0 + max(now - self.clock0, 0.0))
        spans = []
        for node, (status, start, seconds) in self.spans.items():
            if status == RUNNING:
                seconds = max(live - start, 0.0)
            spans.append((node, status, start, seconds))
        wall = self.wall if self.wall is not None else live - self.t0
        return build(self.run_id, spans, deps=deps, wall=wall, status=self.status, origin=self.t0)


def load_trends(store_dir: str, order: list[str], limit: int = KEEP) -> TrendHistory:
    """The last runs of the pipeline's nodes from the store (read-only; oldest first)."""
    from engine.store import DB_NAME, Store

    out = TrendHistory()
    if not store_dir or not os.path.exists(os.path.join(store_dir, DB_NAME)):
        return out
    with Store(store_dir) as st:
        for r in reversed(st.runs(limit=limit)):
            done = r.ran + r.cached
            if r.seconds is not None:
                out.runs.append(RunPoint(r.run_id, r.seconds, r.cached / done if done else None, r.status))
        if len(order) <= 500:
            for name, recs in st.node_histories(order, limit).items():
                pts = [Point(float(h.seconds), bool(h.hit), h.status == ev.FAILED, h.run_id)
                       for h in reversed(recs) if h.seconds is not None]
                if pts:
                    out.nodes[name] = pts
    return out
