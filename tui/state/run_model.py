from __future__ import annotations

import difflib
from collections import deque
from dataclasses import dataclass
from typing import Any

from engine import events as ev
from tui.state.graph import GraphInfo
from tui.state.notices import (
    ChangeDetected,
    GraphLoaded,
    GraphProblem,
    Lifetime,
    NodeHistory,
    RunEnded,
    WatchState,
)
from tui.text import fmt_seconds, glyph, read_lines

PENDING, RUNNING, CACHED, RAN, FAILED, SKIPPED, STALE = (
    ev.PENDING, ev.RUNNING, ev.CACHED, ev.RAN, ev.FAILED, ev.SKIPPED, ev.STALE,
)
STATES = (PENDING, RUNNING, CACHED, RAN, FAILED, SKIPPED, STALE)
#: run states in which nothing is running and the last run can be judged
IDLE_STATES = frozenset({"idle", "ok", "failed", "cancelled", "crashed", "error"})
#: sentinel in a dirty set meaning "every row"
ALL = "\0all"


# ------------------------------------------------------------------------------------------ run state


@dataclass(slots=True)
class NodeState:
    state: str = PENDING
    seconds: float | None = None
    saved: float = 0.0
    why: str = ""
    planned: str = ""
    started_at: float = 0.0
    bytes: int = 0


@dataclass(slots=True)
class Failure:
    node: str
    error_type: str
    error: str
    traceback: str
    file: str
    line: int
    run_id: str


class RunModel:
    """Reduces the event stream into what the screen shows; ``apply`` returns the rows to repaint."""

    def __init__(self, pipeline: str = "", graph: GraphInfo | None = None, *, log_limit: int = 200) -> None:
        self.pipeline = pipeline
        self.graph = graph or GraphInfo([])
        self.graph_loaded = graph is not None and len(graph) > 0
        self.states: dict[str, NodeState] = {}
        self.run_id = ""
        self.run_state = "idle"
        self.run_started_at: float | None = None
        self.run_seconds: float | None = None
        self.run_nodes: list[str] = []
        self.outputs: list[str] = []
        self.failure: Failure | None = None
        self.last_failed = False
        self.problem: GraphProblem | None = None
        self.change: ChangeDetected | None = None
        self.lifetime_ran = 0
        self.lifetime_cached = 0
        self.runs_seen = 0
        self.watching = False
        self.history: dict[str, deque[float]] = {}
        #: per-file source as of the last green run, to mark changed lines and say "changed since"
        self.baseline: dict[str, list[str]] = {}
        self.version = 0
        self._log_limit = log_limit
        #: the last on-demand profile (``p``), and the node being profiled right now
        self.profile: Any = None
        self.profiling: str | None = None
        #: the run whose node_planned predictions the states hold, and the run current when the last
        #: change arrived: a later run's predictions replace the change summary's count
        self.planned_run = ""
        self.change_run = ""

    # ---------------------------------------------------------------- queries
    def state_of(self, name: str) -> NodeState:
        st = self.states.get(name)
        if st is None:
            st = self.states[name] = NodeState()
        return st

    @property
    def running(self) -> bool:
        return self.run_state not in IDLE_STATES

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for name in self.run_nodes or self.graph.order:
            out[self.state_of(name).state] += 1
        return out

    def done_total(self) -> tuple[int, int]:
        c = self.counts()
        total = len(self.run_nodes or self.graph.order)
        return c[RAN] + c[CACHED] + c[FAILED] + c[SKIPPED], total

    def hit_rate(self) -> float | None:
        c = self.counts()
        n = c[RAN] + c[CACHED]
        return c[CACHED] / n if n else None

    def lifetime_rate(self) -> float | None:
        n = self.lifetime_ran + self.lifetime_cached
        return self.lifetime_cached / n if n else None

    def elapsed(self, now: float) -> float:
        if self.run_seconds is not None:
            return self.run_seconds
        if self.run_started_at is None:
            return 0.0
        return max(now - self.run_started_at, 0.0)

    def durations(self) -> dict[str, float]:
        return {n: s.seconds for n, s in self.states.items() if s.seconds is not None and s.state in (RAN, FAILED)}

    # ---------------------------------------------------------------- reduction
    def set_graph(self, graph: GraphInfo) -> None:
        self.graph = graph
        self.graph_loaded = True
        self.problem = None
        for name in graph.order:
            self.state_of(name)

    def mark_starting(self) -> None:
        """A run was requested: gate actions at once instead of waiting for the child's first event."""
        self.run_state = "starting"

    def apply(self, item: Any, now: float, log: list[str] | None = None) -> set[str]:
        """Fold one event or notice into the state; returns the node rows to repaint (``ALL`` for every row)."""
        self.version += 1
        dirty: set[str] = set()
        line = ""
        if isinstance(item, ev.NodeStarted):
            st = self.state_of(item.node)
            st.state, st.started_at, st.seconds = RUNNING, now, None
            dirty.add(item.node)
        elif isinstance(item, ev.NodeFinished):
            st = self.state_of(item.node)
            st.state, st.seconds, st.why, st.bytes, st.saved = RAN, item.seconds, item.why, item.bytes, 0.0
            if item.code_version or item.data_version:
                self.graph.versions[item.node] = (item.code_version, item.data_version)
            self.history.setdefault(item.node, deque(maxlen=30)).append(item.seconds)
            dirty.add(item.node)
            line = f"✔ {item.node} ran in {fmt_seconds(item.seconds)}" + (f" — {item.why}" if item.why else "")
        elif isinstance(item, ev.NodeCached):
            st = self.state_of(item.node)
            st.state, st.seconds, st.why, st.saved = CACHED, item.seconds, item.why, item.saved_seconds
            if item.code_version or item.data_version:
                self.graph.versions[item.node] = (item.code_version, item.data_version)
            dirty.add(item.node)
            line = f"● {item.node} cached" + (f" (saved {fmt_seconds(item.saved_seconds)})" if item.saved_seconds else "")
        elif isinstance(item, ev.NodeFailed):
            st = self.state_of(item.node)
            st.state, st.seconds, st.why = FAILED, item.seconds, f"{item.error_type}: {item.error}"
            self.failure = Failure(item.node, item.error_type, item.error, item.traceback, item.file, item.line, item.run_id)
            dirty.add(item.node)
            line = f"✖ {item.node} failed: {item.error_type}: {item.error}"
        elif isinstance(item, ev.NodeSkipped):
            st = self.state_of(item.node)
            st.state, st.why = SKIPPED, item.reason
            dirty.add(item.node)
        elif isinstance(item, ev.NodePlanned):
            st = self.state_of(item.node)
            st.planned, st.why, self.planned_run = item.will, item.why, item.run_id
            if st.state in (PENDING, STALE):
                st.state = PENDING if item.will == "hit" else STALE
                dirty.add(item.node)
        elif isinstance(item, ev.RunStarted):
            self.run_id, self.run_state = item.run_id, "running"
            self.run_started_at, self.run_seconds = now, None
            self.run_nodes, self.outputs = list(item.nodes), list(item.outputs)
            self.failure = None
            self.problem = None
            if not self.graph_loaded and not len(self.graph):
                self.graph = GraphInfo.from_names(item.nodes, item.pipeline)
            for st in self.states.values():
                st.state = PENDING
            for name in item.nodes:
                self.state_of(name)
            dirty.add(ALL)
            line = f"▶ run {item.run_id} started: {len(item.nodes)} nodes"
        elif isinstance(item, ev.RunFinished):
            self._finish(item.run_id, item.status, item.seconds)
            c = self.counts()
            self.lifetime_ran += c[RAN]
            self.lifetime_cached += c[CACHED]
            dirty.add(ALL)
            line = (f"■ run {item.run_id} {item.status} in {fmt_seconds(item.seconds)}: {item.ran} ran, "
                    f"{item.cached} cached, {item.failed} failed, {item.skipped} skipped")
        elif isinstance(item, RunEnded):
            if item.run_id in (self.run_id, "") and self.running or self.run_state == "starting":
                self._finish(item.run_id, item.status, None)
                for st in self.states.values():
                    if st.state == RUNNING:
                        st.state = FAILED if item.status == "crashed" else STALE
                dirty.add(ALL)
                line = f"■ run {item.status}: {item.reason}"
        elif isinstance(item, ev.Message):
            if item.level == "output":
                if log is not None:
                    log.extend("│ " + x for x in item.text.rstrip("\n").splitlines())
                return dirty
            where = f" ({item.file}:{item.line})" if item.file else ""
            line = f"{item.level}: {item.text}{where}"
            if item.level == "error":
                self.problem = GraphProblem(item.text, item.file, item.line)
        elif isinstance(item, GraphLoaded):
            new = item.graph
            if self.graph_loaded and (self.graph.same_structure(new) or (
                    new.described and not self.graph.described and self.graph.same_structure(new, loose=True))):
                self.problem = None
                return dirty
            self.set_graph(item.graph)
            dirty.add(ALL)
        elif isinstance(item, GraphProblem):
            self.problem = item
            where = f" at {item.file}:{item.line}" if item.file else ""
            line = f"⚠ pipeline does not load{where}: {item.text}"
        elif isinstance(item, ChangeDetected):
            self.change, self.change_run = item, self.run_id
            if item.affected:
                for name in item.affected:
                    st = self.states.get(name)
                    if st is not None and st.state not in (RUNNING,):
                        st.state = STALE
                        dirty.add(name)
            line = f"✎ {item.summary}"
        elif isinstance(item, WatchState):
            self.watching = item.on
            line = f"watch {'on' if item.on else 'off'}"
        elif isinstance(item, NodeHistory):
            for name, secs in item.seconds.items():
                hist = self.history.setdefault(name, deque(maxlen=30))
                old = list(hist)
                hist.clear()
                hist.extend(secs + old)
        elif isinstance(item, Lifetime):
            self.lifetime_ran += item.ran
            self.lifetime_cached += item.cached
        if line and log is not None:
            log.append(line)
        return dirty

    def _finish(self, run_id: str, status: str, seconds: float | None) -> None:
        self.run_state = status
        self.runs_seen += 1
        self.run_seconds = seconds if seconds is not None else (self.run_seconds or 0.0)
        self.last_failed = status in ("failed", "crashed")
        if status == "ok":
            self.failure = None
            self.capture_baseline()

    def capture_baseline(self) -> None:
        """Remember the sources a green run used, so later edits can be marked against them."""
        for f in {n.file for n in self.graph.nodes.values() if n.file}:
            lines = read_lines(f)
            if lines is not None:
                self.baseline[f] = lines

    def changed_lines(self, file: str) -> set[int]:
        """1-based line numbers of ``file`` that differ from the last green run."""
        old = self.baseline.get(file)
        new = read_lines(file)
        if old is None or new is None or old == new:
            return set()
        out: set[int] = set()
        for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
            if tag in ("replace", "insert"):
                out.update(range(j1 + 1, j2 + 1))
        return out


def neighbourhood(graph: GraphInfo, name: str, states: dict[str, NodeState], now: float = 0.0,
                  limit: int = 8) -> list[tuple[str, str]]:
    """A drawn parents → node → children diagram, as (text, state-of-the-node-on-that-line-or-'') rows.

    Layered left to right because terminals are wide; at most ``limit`` per side so it fits the panel.
    """
    parents = list(graph.parents.get(name, ()))
    children = list(graph.children.get(name, ()))
    more_p = len(parents) - limit
    more_c = len(children) - limit
    parents, children = parents[:limit], children[:limit]

    def label(n: str) -> str:
        st = states.get(n)
        return f"{glyph(st.state if st else PENDING, now)} {n}"

    left = [label(p) for p in parents] + ([f"  (+{more_p} more)"] if more_p > 0 else [])
    right = [label(c) for c in children] + ([f"  (+{more_c} more)"] if more_c > 0 else [])
    centre = f"[ {label(name)} ]"
    height = max(len(left), len(right), 1)
    mid = (height - 1) // 2
    lw = max((len(x) for x in left), default=0)
    rows: list[str] = []
    for i in range(height):
        lt = left[i] if i < len(left) else ""
        if left:
            if len(left) == 1:
                lconn = "──▶" if i == mid else "   "
            else:
                first, last = 0, len(left) - 1
                lconn = (" ─┐" if i == first else " ─┘" if i == last else " ─┤") if i <= last else "  │"
                if i == mid and first < i < last:
                    lconn = " ─┼"
                if i == mid:
                    lconn += "─▶"
                else:
                    lconn += "  "
            l_part = lt.ljust(lw) + lconn
        else:
            l_part = ""
        c_part = centre if i == mid else " " * len(centre)
        rt = right[i] if i < len(right) else ""
        if right:
            if len(right) == 1:
                rconn = "──▶ " if i == mid else "    "
            else:
                last = len(right) - 1
                if i == 0:
                    rconn = "─┬─▶ " if i == mid else " ┌─▶ "
                elif i < last:
                    rconn = "─┼─▶ " if i == mid else " ├─▶ "
                elif i == last:
                    rconn = "─┴─▶ " if i == mid else " └─▶ "
                else:
                    rconn = "─┤   " if i == mid else " │   "
            r_part = rconn + rt
        else:
            r_part = ""
        rows.append((l_part + c_part + r_part).rstrip())
    return [(r, "") for r in rows]


def vertical_neighbourhood(graph: GraphInfo, name: str, states: dict[str, NodeState], now: float = 0.0,
                           limit: int = 8) -> list[str]:
    """The same parents → node → children, top to bottom: for a panel too narrow for the wide drawing,
    so every name is shown whole instead of cut at the panel's edge."""
    def label(n: str) -> str:
        st = states.get(n)
        return f"{glyph(st.state if st else PENDING, now)} {n}"

    def side(names: tuple[str, ...]) -> list[str]:
        rows = [f"  {label(n)}" for n in names[:limit]]
        return rows + ([f"  (+{len(names) - limit} more)"] if len(names) > limit else [])

    parents, children = graph.parents.get(name, ()), graph.children.get(name, ())
    rows = side(parents) + (["  ▼"] if parents else []) + [f"[ {label(name)} ]"]
    return rows + (["  ▼"] if children else []) + side(children)
