"""The dashboard's state, kept free of Textual so it can be tested and benchmarked on its own.

Everything the screen shows is derived from two things: the graph structure (``GraphInfo``, dumped by a
child process so the dashboard never imports user code) and the reduction of the engine's event
stream (``RunModel.apply``). ``apply`` returns the nodes whose row must be repainted, which is what
lets the DAG view invalidate only the rows that changed.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine import events as ev

PENDING, RUNNING, CACHED, RAN, FAILED, SKIPPED, STALE = (
    ev.PENDING, ev.RUNNING, ev.CACHED, ev.RAN, ev.FAILED, ev.SKIPPED, ev.STALE,
)
STATES = (PENDING, RUNNING, CACHED, RAN, FAILED, SKIPPED, STALE)
GLYPHS = {PENDING: "○", CACHED: "●", RAN: "✔", FAILED: "✖", SKIPPED: "⊘", STALE: "◌"}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
#: run states in which nothing is running and the last run can be judged
IDLE_STATES = frozenset({"idle", "ok", "failed", "cancelled", "crashed", "error"})
#: sentinel in a dirty set meaning "every row"
ALL = "\0all"


def glyph(state: str, now: float = 0.0) -> str:
    """The state glyph; a running node's spinner frame comes from the injected clock so snapshots are stable."""
    if state == RUNNING:
        return SPINNER[int(now * 10) % len(SPINNER)]
    return GLYPHS.get(state, "?")


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return ""
    if s < 0.001:
        return "<1ms"
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 60:
        return f"{s:.2f}s"
    m, sec = divmod(int(s), 60)
    return f"{m}m{sec:02d}s"


def fmt_clock(s: float) -> str:
    m, sec = divmod(max(int(s), 0), 60)
    h, m = divmod(m, 60)
    return f"{h:d}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


# ------------------------------------------------------------------------------------------ graph


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the dashboard needs to know about one node, without the function object."""

    name: str
    module: str = ""
    file: str = ""
    line: int = 0
    deps: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    kind: str = "function"
    doc: str = ""


class GraphInfo:
    """The DAG as plain data: topological order, parents and children, lineage queries cached."""

    def __init__(self, nodes: Iterable[NodeInfo], order: Iterable[str] | None = None, *, pipeline: str = "",
                 store_dir: str = "", versions: dict[str, tuple[str | None, str | None]] | None = None) -> None:
        self.nodes: dict[str, NodeInfo] = {n.name: n for n in nodes}
        self.order: list[str] = [n for n in (order or self.nodes) if n in self.nodes]
        self.index = {n: i for i, n in enumerate(self.order)}
        self.pipeline = pipeline
        self.store_dir = store_dir
        #: (code version, data version) of each node's newest record in the store, when there is one
        self.versions = dict(versions or {})
        self.parents: dict[str, tuple[str, ...]] = {
            n.name: tuple(d for d in n.deps if d in self.nodes) for n in self.nodes.values()
        }
        children: dict[str, list[str]] = {n: [] for n in self.nodes}
        for name in self.order:
            for p in self.parents[name]:
                children[p].append(name)
        self.children = {k: tuple(v) for k, v in children.items()}
        self._lineage: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._groups: dict[str, list[str]] | None = None
        #: built from a run's describe message (no kinds/inputs) rather than the richer dump
        self.described = False

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    @classmethod
    def from_names(cls, names: Iterable[str], pipeline: str = "") -> GraphInfo:
        """A structure-less stand-in used until the real dump arrives (a run's node list is known first)."""
        names = list(names)
        return cls([NodeInfo(n) for n in names], names, pipeline=pipeline)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GraphInfo:
        nodes = [
            NodeInfo(n["name"], n.get("module", ""), n.get("file", ""), int(n.get("line", 0)),
                     tuple(n.get("deps", ())), tuple(n.get("inputs", ())), n.get("kind", "function"), n.get("doc", ""))
            for n in d["nodes"]
        ]
        versions = {k: (v[0], v[1]) for k, v in (d.get("versions") or {}).items()}
        return cls(nodes, d.get("order"), pipeline=d.get("pipeline", ""), store_dir=d.get("store_dir", ""),
                   versions=versions)

    @classmethod
    def from_describe(cls, doc: dict[str, Any], previous: GraphInfo | None) -> GraphInfo | None:
        """From the runner's ``Message(level="graph")``; kind, inputs and versions carry over by name."""
        raw = doc.get("nodes")
        if not isinstance(raw, dict):
            return None
        prev = previous.nodes if previous is not None else {}
        nodes = []
        for name, d in raw.items():
            old = prev.get(name)
            deps = tuple(d.get("deps", ()))
            if old is not None and set(old.deps) == set(deps):
                deps = old.deps  # keep parameter order for the hints
            nodes.append(NodeInfo(name, d.get("module", ""), d.get("file", ""), int(d.get("line") or 0), deps, old.inputs if old else (), old.kind if old else "function",
                                  old.doc if old else ""))
        graph = cls(nodes, list(raw), pipeline=doc.get("pipeline", ""),
                    store_dir=previous.store_dir if previous else "",
                    versions=previous.versions if previous else None)
        graph.described = True
        return graph

    def same_structure(self, other: GraphInfo, *, loose: bool = False) -> bool:
        """Same nodes in the same order with the same parents (``loose``: ignore kinds, inputs, dep order)."""
        if self.order != other.order:
            return False
        if loose:
            return all(set(self.parents[n]) == set(other.parents[n]) and self.nodes[n].line == other.nodes[n].line
                       for n in self.order)
        return all(self.nodes[n] == other.nodes.get(n) for n in self.order)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "store_dir": self.store_dir,
            "versions": {k: list(v) for k, v in self.versions.items()},
            "order": self.order,
            "nodes": [
                {"name": n.name, "module": n.module, "file": n.file, "line": n.line, "deps": list(n.deps),
                 "inputs": list(n.inputs), "kind": n.kind, "doc": n.doc}
                for n in (self.nodes[x] for x in self.order)
            ],
        }

    def _walk(self, start: str, edges: dict[str, tuple[str, ...]]) -> frozenset[str]:
        seen: set[str] = set()
        stack = list(edges.get(start, ()))
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(edges.get(n, ()))
        return frozenset(seen)

    def lineage(self, name: str) -> tuple[frozenset[str], frozenset[str]]:
        """(ancestors, descendants), cached: selection moves call this on every keypress."""
        got = self._lineage.get(name)
        if got is None:
            got = self._lineage[name] = (self._walk(name, self.parents), self._walk(name, self.children))
        return got

    def modules(self) -> list[tuple[str, list[str]]]:
        """Nodes grouped by module; groups ordered by their first node's topological position."""
        if self._groups is None:
            groups: dict[str, list[str]] = {}
            for name in self.order:
                groups.setdefault(self.nodes[name].module, []).append(name)
            self._groups = groups
        return list(self._groups.items())

    def module_nodes(self, module: str) -> list[str]:
        self.modules()
        assert self._groups is not None
        return self._groups.get(module, [])


def critical_path(graph: GraphInfo, seconds: dict[str, float]) -> tuple[list[str], float]:
    """The chain of dependent nodes with the largest summed duration: what bounds the wall time."""
    best: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for name in graph.order:
        own = seconds.get(name, 0.0)
        parent = max(graph.parents.get(name, ()), key=lambda p: best.get(p, 0.0), default=None)
        best[name] = own + (best[parent] if parent is not None else 0.0)
        via[name] = parent
    if not best:
        return [], 0.0
    end = max(best, key=lambda n: best[n])
    path: list[str] = []
    cur: str | None = end
    while cur is not None:
        path.append(cur)
        cur = via[cur]
    return path[::-1], best[end]


# ------------------------------------------------------------------------------------------ notices
# Items the controller puts in the buffer besides engine events; same channel, so ordering holds.


@dataclass(slots=True)
class GraphLoaded:
    graph: GraphInfo


@dataclass(slots=True)
class GraphProblem:
    """The pipeline does not load (syntax/import/graph error); the last good graph stays on screen."""

    text: str
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class ChangeDetected:
    summary: str
    files: list[str] = field(default_factory=list)
    changed_functions: list[str] = field(default_factory=list)
    affected: list[str] | None = None


@dataclass(slots=True)
class RunEnded:
    """The controller's verdict on a run (covers crashes, which emit no RunFinished)."""

    run_id: str
    status: str
    reason: str = ""


@dataclass(slots=True)
class Lifetime:
    """Hit/miss totals of the runs in the store's history before this session began."""

    ran: int
    cached: int


@dataclass(slots=True)
class WatchState:
    on: bool


@dataclass(slots=True)
class NodeHistory:
    """Durations of earlier runs per node (oldest first), from the store's history."""

    seconds: dict[str, list[float]]


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
            st.planned, st.why = item.will, item.why
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
            self.change = item
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


def read_lines(path: str) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()
    except OSError:
        return None


def function_span(lines: list[str], line: int) -> tuple[int, int]:
    """1-based inclusive span of the ``def`` at ``line`` (decorators above it included), by indentation."""
    start = max(line, 1)
    while start > 1 and lines[start - 2].lstrip().startswith("@"):
        start -= 1
    i = max(line - 1, 0)
    while i < len(lines) and not lines[i].lstrip().startswith(("def ", "async def ")):
        i += 1
    if i >= len(lines):
        return start, min(start + 20, len(lines))
    indent = len(lines[i]) - len(lines[i].lstrip())
    end = i + 1
    while end < len(lines):
        text = lines[end]
        if text.strip() and len(text) - len(text.lstrip()) <= indent and not text.lstrip().startswith((")", "]", "}")):
            break
        end += 1
    while end > i + 1 and not lines[end - 1].strip():
        end -= 1
    return start, end


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


def iter_user_frames(traceback_text: str) -> Iterator[tuple[str, int, str]]:
    """(file, line, code) of each frame in a formatted traceback, innermost last."""
    import re

    lines = traceback_text.splitlines()
    pat = re.compile(r'\s*File "([^"]+)", line (\d+), in (\S+)')
    for i, text in enumerate(lines):
        m = pat.match(text)
        if m:
            code = lines[i + 1].strip() if i + 1 < len(lines) and not pat.match(lines[i + 1]) else ""
            yield m.group(1), int(m.group(2)), code
