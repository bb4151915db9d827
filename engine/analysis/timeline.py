"""A run as a timeline: one bar per node from its start to its end, drawn as text.

The same :class:`Timeline` is built from a stored run (``ripple runs show RUN_ID --timeline``, the
HTML report) or from the live event stream (the dashboard's Bottlenecks tab), and drawn by one
function, so the terminal, the dashboard and the report agree.

Decisions:
- Times are seconds since the run started. A bar ends at ``start + seconds`` (the node's own
  duration, measured on a monotonic clock) rather than at a wall-clock end.
- A record without a start time (history written before start times were kept) is placed right
  after the previous bar: exact for the sequential executor, the best guess otherwise.
- Cache hits take no compute time, so they are drawn as thin ticks (``╎``) where they happened;
  skipped nodes as ``·``; a running node's bar grows to "now".
- The critical path is :func:`engine.analysis.critical_path.critical_path` over the nodes'
  durations and dependencies; its nodes are marked ``*`` and drawn in the ``critical`` role.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .critical_path import Span, critical_path

RUNNING = "running"
BAR = {"ran": "█", "failed": "█", RUNNING: "▓", "cached": "╎", "skipped": "·"}
LABEL_MAX = 28


@dataclass(frozen=True, slots=True)
class Bar:
    node: str
    status: str
    start: float
    end: float
    critical: bool = False

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)


@dataclass(slots=True)
class Timeline:
    """``wall`` is the run's length (or the time so far for a live run)."""

    run_id: str
    bars: list[Bar]
    wall: float
    critical: tuple[str, ...] = ()
    status: str = ""
    critical_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "wall": self.wall, "critical_path": list(self.critical),
                "critical_seconds": self.critical_seconds,
                "bars": [{"node": b.node, "status": b.status, "start": b.start, "end": b.end, "critical": b.critical}
                         for b in self.bars]}


@dataclass(frozen=True, slots=True)
class Piece:
    """One run of characters of a drawn row and what it shows (for colour: label, ran, cached,
    failed, running, skipped, critical, axis, duration)."""

    text: str
    role: str


@dataclass(slots=True)
class Row:
    pieces: list[Piece] = field(default_factory=list)
    node: str = ""

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces)


def build(run_id: str, spans: Iterable[tuple[str, str, float | None, float | None]], *,
          deps: Mapping[str, Iterable[str]] | None = None, wall: float | None = None, status: str = "",
          origin: float | None = None) -> Timeline:
    """From ``(node, status, start, seconds)`` in the order they happened; ``start`` is absolute
    (epoch) or ``None``; ``origin`` is the run's start (default: the earliest start)."""
    items = list(spans)
    starts = [s for _, _, s, _ in items if s is not None]
    t0 = origin if origin is not None else min(starts, default=0.0)
    bars: list[Bar] = []
    cursor = 0.0
    for node, st, start, seconds in items:
        begin = (start - t0) if start is not None else cursor
        length = 0.0 if st in ("cached", "skipped") else max(float(seconds or 0.0), 0.0)
        begin = max(begin, 0.0)
        bars.append(Bar(node, st, begin, begin + length))
        cursor = max(cursor, begin + length)
    deps = deps or {}
    path = critical_path([Span(b.node, b.seconds if b.status not in ("cached", "skipped") else 0.0,
                               tuple(deps.get(b.node, ()))) for b in bars])
    on_path = set(path.nodes) if path.seconds > 0 else set()
    bars = [Bar(b.node, b.status, b.start, b.end, b.node in on_path and b.status not in ("cached", "skipped"))
            for b in bars]
    bars.sort(key=lambda b: (b.start, b.end))
    end = max((b.end for b in bars), default=0.0)
    marked = {b.node for b in bars if b.critical}
    return Timeline(run_id, bars, max(wall if wall is not None else end, end),
                    tuple(n for n in path.nodes if n in marked), status, path.seconds if marked else 0.0)


def from_records(run: Any, records: Sequence[Any], deps: Mapping[str, Iterable[str]] | None = None) -> Timeline:
    """From a stored run (``RunRecord``) and its ``NodeRunRecord``s."""
    recs = sorted(records, key=lambda r: (r.started is None, r.started or 0.0))
    starts = [r.started for r in recs if r.started is not None]
    # the first node's start, not the run's: a run record starts before versioning and planning
    return build(run.run_id, ((r.node, r.status or "", r.started, r.seconds) for r in recs), deps=deps,
                 wall=run.seconds, status=run.status, origin=min(starts) if starts else run.started)


def _fmt(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"


def rows(tl: Timeline, width: int = 80, *, limit: int | None = None) -> list[Row]:
    """The chart in ``width`` columns: a label column, the bars, each bar's duration, then an axis."""
    bars = tl.bars if limit is None else tl.bars[:limit]
    label_w = min(max((len(b.node) for b in bars), default=4) + 2, LABEL_MAX, max(width // 3, 6))
    area = max(width - label_w - 8, 4)  # names give way first, then the bars
    wall = tl.wall or max((b.end for b in bars), default=0.0) or 1.0
    scale = area / wall
    out: list[Row] = []
    for b in bars:
        mark = "*" if b.critical else " "
        name = b.node if len(b.node) <= label_w - 2 else b.node[: label_w - 3] + "…"
        row = Row([Piece(f"{mark}{name}".ljust(label_w), "critical" if b.critical else "label")], b.node)
        c0 = min(int(b.start * scale), area - 1)
        c1 = min(max(math.ceil(b.end * scale), c0 + 1), area)
        role = "critical" if b.critical else b.status
        if c0:
            row.pieces.append(Piece(" " * c0, "axis"))
        length = 1 if b.status in ("cached", "skipped") else c1 - c0
        row.pieces.append(Piece(BAR.get(b.status, "█") * length, role))
        tail = area - c0 - length
        info = "hit" if b.status == "cached" else "skip" if b.status == "skipped" else _fmt(b.seconds)
        row.pieces.append(Piece(" " * tail + " " + info.rjust(7), "duration"))
        out.append(row)
    if limit is not None and len(tl.bars) > limit:
        out.append(Row([Piece(f"… {len(tl.bars) - limit} more nodes", "axis")]))
    out.append(_axis(label_w, area, wall))
    return out


def _axis(label_w: int, area: int, wall: float) -> Row:
    ticks = [" "] * area
    line = ["─"] * area
    for q in range(5):
        line[min(round(q * (area - 1) / 4), area - 1)] = "┴" if 0 < q < 4 else ("╰" if q == 0 else "╯")
    marks = [("0", 0), (_fmt(wall), area - 1)]
    if area >= 24:  # room for a middle label that touches neither end
        marks.insert(1, (_fmt(wall / 2), (area - 1) // 2 - 1))
    for text, pos in marks:
        start = max(min(pos - (len(text) - 1 if pos == area - 1 else 0), area - len(text)), 0)
        for k, ch in enumerate(text):
            ticks[start + k] = ch
    return Row([Piece(" " * label_w + "".join(line), "axis"), Piece("\n" + " " * label_w + "".join(ticks).rstrip(),
                                                                       "axis")])


def to_text(tl: Timeline, width: int = 80) -> str:
    """The chart as plain text (what ``ripple runs show --timeline`` prints when not colouring)."""
    head = f"run {tl.run_id} {tl.status}  wall {_fmt(tl.wall)}"
    if tl.critical:
        head += f"  critical path {_fmt(tl.critical_seconds)} (*): " + " → ".join(tl.critical)
    return "\n".join([head, *(r.text.rstrip() for r in rows(tl, width))])


EIGHTHS = " ▁▂▃▄▅▆▇█"


def block_plot(values: Sequence[float], height: int = 4, top: float | None = None) -> list[str]:
    """Columns of block characters, one per value, ``height`` rows (top row first), eighths of a
    row resolved with the partial blocks; every positive value shows at least a sliver."""
    top = top if top is not None else max(values, default=0.0)
    rows_out = [[" "] * len(values) for _ in range(height)]
    for i, v in enumerate(values):
        eighths = round(v / top * height * 8) if top > 0 else 0
        eighths = max(eighths, 1) if v > 0 else 0
        for r in range(height):
            level = min(max(eighths - r * 8, 0), 8)
            rows_out[height - 1 - r][i] = EIGHTHS[level]
    return ["".join(r) for r in rows_out]
