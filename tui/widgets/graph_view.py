"""The whole DAG drawn as boxes and edges, as one Line-API widget (``g`` shows it instead of the list).

The drawing (``engine.core.drawing``) is computed once per graph structure; painting a frame only
slices the visible rows of it and colours each cell by what it belongs to, so live state changes
cost a repaint of the affected boxes' rows and never a re-layout. Strips are cached per row and
dropped only for rows whose nodes changed.

Past ``DRAW_LIMIT`` nodes a full drawing is too wide to read and too slow to lay out on every
graph change, so the view says so and draws the selected node's neighbourhood instead, to a depth
the user picks with ``+`` and ``-``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import Worker, WorkerState

from engine.core.drawing import Drawing, draw
from tui.state.graph import GraphInfo
from tui.state.run_model import ALL, RUNNING, STATES, RunModel
from tui.text import glyph

DRAW_LIMIT = 400
#: up to this many boxes the layout runs inline (a few ms); beyond, on a worker thread
INLINE_NODES = 120
DEPTH = 2
PAN = 4


def neighbourhood(graph: GraphInfo, name: str, depth: int) -> list[str]:
    """``name`` with its ancestors and descendants up to ``depth`` edges away, in topological order."""
    keep = {name}
    for edges in (graph.parents, graph.children):
        frontier = {name}
        for _ in range(depth):
            frontier = {m for n in frontier for m in edges.get(n, ())} - keep
            keep |= frontier
    return [n for n in graph.order if n in keep]


@dataclass(slots=True)
class _Row:
    key: tuple[int, int]  # (scroll x, width) the strip was built for
    strip: Strip


class GraphView(ScrollView, can_focus=True):
    """The app owns the model; this view reads it and reports the node the user picks."""

    COMPONENT_CLASSES = {
        *(f"graph-view--{s}" for s in STATES),
        "graph-view--cursor",
        "graph-view--upstream",
        "graph-view--downstream",
        "graph-view--edge",
        "graph-view--edge-upstream",
        "graph-view--edge-downstream",
        "graph-view--group",
        "graph-view--notice",
    }

    DEFAULT_CSS = """
    GraphView { scrollbar-size-vertical: 1; scrollbar-size-horizontal: 1; }
    """

    BINDINGS = [
        Binding("up,k", "move('up')", "Up", show=False),
        Binding("down,j", "move('down')", "Down", show=False),
        Binding("left,h", "move('left')", "Left", show=False),
        Binding("right,l", "move('right')", "Right", show=False),
        Binding("shift+up", "pan(0, -1)", "Pan up", show=False),
        Binding("shift+down", "pan(0, 1)", "Pan down", show=False),
        Binding("shift+left", "pan(-1, 0)", "Pan left", show=False),
        Binding("shift+right", "pan(1, 0)", "Pan right", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("enter,space", "choose", "Select", show=False),
        Binding("plus,equals_sign", "depth(1)", "Deeper", show=False),
        Binding("minus", "depth(-1)", "Shallower", show=False),
    ]

    class NodeSelected(Message):
        """Enter or a click chose a node: the list and the side panel follow it."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, model: RunModel, *, clock: Callable[[], float] | None = None, limit: int = DRAW_LIMIT,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(name=name, id=id, classes=classes)
        self.model = model
        self._clock = clock
        self.limit = limit
        self.depth = DEPTH
        self.drawing: Drawing | None = None
        self.shown: list[str] = []
        self.cursor: str | None = None
        self._built_for: tuple[int, str | None, int] | None = None
        self._upstream: frozenset[str] = frozenset()
        self._downstream: frozenset[str] = frozenset()
        self._lit_up: set[int] = set()
        self._lit_down: set[int] = set()
        self._strips: dict[int, _Row] = {}
        self._owner_styles: dict[int, Style] = {}  # per drawing owner, until a state or the selection changes
        self._styles: dict[str, Style] = {}
        self._rows_of: dict[str, range] = {}
        self._bands: list[list[str]] = []
        self._band_of: dict[str, int] = {}
        self._drag: tuple[int, int, float, float] | None = None
        self._pending: tuple[int, str | None, int] | None = None
        self._dragged = False

    # ---------------------------------------------------------------- structure
    @property
    def graph(self) -> GraphInfo:
        return self.model.graph

    @property
    def partial(self) -> bool:
        return len(self.graph) > self.limit

    @property
    def notice_rows(self) -> int:
        return 1 if self.partial else 0

    def now(self) -> float:
        return self._clock() if self._clock is not None else 0.0

    def rebuild(self, *, force: bool = False) -> None:
        """Lay the graph out again: only when its structure (or, past the limit, the focus) changed."""
        key = (id(self.graph), self.cursor if self.partial else None, self.depth if self.partial else 0)
        if not force and key == self._built_for and self.drawing is not None:
            return
        self._built_for = key
        g = self.graph
        if self.cursor not in g.nodes:
            self.cursor = g.order[0] if g.order else None
        if self.partial:
            self.shown = neighbourhood(g, self.cursor, self.depth) if self.cursor else []
        else:
            self.shown = list(g.order)
        shown = list(self.shown)
        groups = {n: g.nodes[n].module for n in shown}
        parents = {n: g.parents.get(n, ()) for n in shown}
        if len(shown) <= INLINE_NODES:
            self._install(key, draw(shown, parents, groups=groups))
            return
        self._pending = key  # a big layout takes a tick or more: never on the UI thread
        self.run_worker(lambda: (key, draw(shown, parents, groups=groups)), thread=True, exclusive=True,
                        group="graph-layout", exit_on_error=False)
        self.refresh()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "graph-layout" and event.state == WorkerState.SUCCESS:
            key, drawing = event.worker.result
            if key == self._pending:  # a newer layout may already be on its way
                self._install(key, drawing)
                if self.cursor:
                    self._reveal(self.cursor)

    def _install(self, key: tuple[int, str | None, int], drawing: Drawing) -> None:
        self._pending = None
        self.drawing = drawing
        top = self.notice_rows
        self._rows_of = {n: range(top + y, top + y + h) for n, (_x, y, _w, h) in self.drawing.boxes.items()}
        bands: dict[int, list[str]] = {}
        for n, (_x, y, _w, _h) in sorted(self.drawing.boxes.items(), key=lambda kv: (kv[1][1], kv[1][0])):
            bands.setdefault(y, []).append(n)
        self._bands = [bands[y] for y in sorted(bands)]
        self._band_of = {n: i for i, band in enumerate(self._bands) for n in band}
        self.virtual_size = Size(self.drawing.width, self.drawing.height + top)
        self._set_lineage()
        self._strips.clear()
        self._owner_styles.clear()
        self.refresh()

    def _set_lineage(self) -> None:
        if self.cursor is None or self.drawing is None:
            self._upstream = self._downstream = frozenset()
            self._lit_up, self._lit_down = set(), set()
            return
        self._upstream, self._downstream = self.graph.lineage(self.cursor)
        up = self._upstream | {self.cursor}
        down = self._downstream | {self.cursor}
        edges = self.drawing.edges
        self._lit_up = {i for i, (a, b) in enumerate(edges) if a in up and b in up}
        self._lit_down = {i for i, (a, b) in enumerate(edges) if a in down and b in down}

    # ---------------------------------------------------------------- updates from the app
    def refresh_nodes(self, dirty: set[str]) -> None:
        """Repaint the rows of the boxes whose state changed (every row for ``ALL``)."""
        if not dirty or self.drawing is None:
            return
        self._owner_styles.clear()  # a few hundred entries, rebuilt on the next frame
        if ALL in dirty:
            self._strips.clear()
            self.refresh()
            return
        for name in dirty:
            for y in self._rows_of.get(name, ()):
                self._strips.pop(y, None)
                self._refresh_row(y)

    def _refresh_row(self, y: int) -> None:
        top = self.scroll_offset.y
        if top <= y < top + self.size.height:
            self.refresh_line(y - top)

    def tick_spinners(self) -> None:
        """Advance the glyph of the running boxes (frames come from the injected clock)."""
        if self.drawing is None:
            return
        states = self.model.states
        for name, (_x, y) in self.drawing.glyphs.items():
            st = states.get(name)
            if st is not None and st.state == RUNNING:
                row = y + self.notice_rows
                self._strips.pop(row, None)
                self._refresh_row(row)

    def select(self, name: str, *, announce: bool = False) -> None:
        """Put the cursor on ``name`` and scroll it into view (``announce``: tell the app)."""
        if name not in self.graph.nodes:
            return
        self.cursor = name
        if self.partial:
            self.rebuild()
        self._set_lineage()
        self._strips.clear()
        self._owner_styles.clear()
        self.refresh()
        self._reveal(name)
        if announce:
            self.post_message(self.NodeSelected(name))

    def _reveal(self, name: str) -> None:
        if self.drawing is None or name not in self.drawing.boxes:
            return
        x, y, w, h = self.drawing.boxes[name]
        top = self.notice_rows
        self.scroll_to_region(Region(x, y, w, h + top), animate=False, immediate=True, center=True)

    # ---------------------------------------------------------------- keys and mouse
    def action_move(self, direction: str) -> None:
        if self.cursor is None or self.cursor not in self._band_of:
            if self._bands:
                self.select(self._bands[0][0])
            return
        b = self._band_of[self.cursor]
        band = self._bands[b]
        i = band.index(self.cursor)
        target = self.cursor
        if direction in ("left", "right"):
            target = band[max(0, min(len(band) - 1, i + (1 if direction == "right" else -1)))]
        else:
            nb = b + (1 if direction == "down" else -1)
            if 0 <= nb < len(self._bands):
                target = self._nearest(self._bands[nb], self.cursor)
        if target != self.cursor:
            self.select(target)

    def _nearest(self, band: list[str], name: str) -> str:
        assert self.drawing is not None
        x, _, w, _ = self.drawing.boxes[name]
        centre = x + w / 2
        return min(band, key=lambda n: abs(self.drawing.boxes[n][0] + self.drawing.boxes[n][2] / 2 - centre))

    def action_pan(self, dx: int, dy: int) -> None:
        self.scroll_to(self.scroll_x + dx * PAN * 2, self.scroll_y + dy * PAN, animate=False, immediate=True)

    def action_page(self, direction: int) -> None:
        self.scroll_to(y=self.scroll_y + direction * max(self.size.height - 2, 1), animate=False, immediate=True)

    def action_choose(self) -> None:
        if self.cursor is not None:
            self.post_message(self.NodeSelected(self.cursor))

    def action_depth(self, delta: int) -> None:
        if self.partial:
            self.depth = max(1, min(self.depth + delta, 8))
            self.rebuild()
            if self.cursor:
                self._reveal(self.cursor)

    def node_at(self, x: int, y: int) -> str | None:
        """The node under viewport cell (x, y)."""
        if self.drawing is None:
            return None
        return self.drawing.node_at(x + int(self.scroll_x), y + int(self.scroll_y) - self.notice_rows)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._drag = (event.x, event.y, self.scroll_x, self.scroll_y)
        self._dragged = False
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        """Between a press and its release, the graph follows the pointer (drag to pan)."""
        if self._drag is not None:
            x0, y0, sx, sy = self._drag
            if (event.x, event.y) != (x0, y0):
                self._dragged = True
                self.scroll_to(sx - (event.x - x0), sy - (event.y - y0), animate=False, immediate=True)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._drag = None
        self.release_mouse()

    def on_click(self, event: events.Click) -> None:
        if self._dragged:  # the end of a drag is not a click on whatever box it ended over
            self._dragged = False
            return
        name = self.node_at(event.x, event.y)
        if name is not None:
            self.select(name, announce=True)

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()
        self._owner_styles.clear()

    # ---------------------------------------------------------------- painting
    def _style(self, part: str) -> Style:
        s = self._styles.get(part)
        if s is None:
            s = self._styles[part] = self.get_component_rich_style(f"graph-view--{part}", partial=True)
        return s

    def render_line(self, y: int) -> Strip:
        """Only the visible window of a row is built; rows are cached for that window."""
        x, width = int(self.scroll_x), self.size.width
        row = 0 if self.partial and y == 0 else y + int(self.scroll_y)  # the notice stays on top
        cached = self._strips.get(row)
        if cached is None or cached.key != (x, width):
            cached = self._strips[row] = _Row((x, width), self._render_row(row, x, width))
        return cached.strip

    def _base(self) -> Style:
        s = self._styles.get("")
        if s is None:
            s = self._styles[""] = self.rich_style
        return s

    def _render_row(self, row: int, x0: int, width: int) -> Strip:
        base = self._base()
        if self.partial and row == 0:
            text = f" {len(self.graph)} nodes, too many to draw: depth {self.depth} (+/-) around {self.cursor}"
            return Strip([Segment(text, base + self._style("notice"))]).adjust_cell_length(width, base)
        d = self.drawing
        y = row - self.notice_rows
        if d is None and row == 0 and self._pending is not None:
            return Strip([Segment(f" laying out {len(self.shown)} nodes…", base + self._style("notice"))])
        if d is None or not 0 <= y < d.height:
            return Strip.blank(width, base)
        line, x1 = d.lines[y], x0 + width
        segs: list[Segment] = []
        x = x0
        styles = self._owner_styles
        for start, end, o in d.runs[y]:
            if end <= x0:
                continue
            if start >= x1:
                break
            start, end = max(start, x0), min(end, x1)
            if start > x:
                segs.append(Segment(" " * (start - x), base))
            style = styles.get(o)
            if style is None:
                style = styles[o] = base + self._owner_style(o, d)
            segs.append(Segment(self._text(line[start:end], o, d), style))
            x = end
        if x < x1:
            segs.append(Segment(" " * (x1 - x), base))
        return Strip(segs, width)

    def _text(self, text: str, o: int, d: Drawing) -> str:
        owner = d.owners[o]
        if owner.kind == "glyph":
            return glyph(self.model.state_of(owner.node).state, self.now())
        return text

    def _owner_style(self, o: int, d: Drawing) -> Style:
        owner = d.owners[o]
        kind = owner.kind
        if kind == "edge":
            if self._lit_up.intersection(owner.edges):
                return self._style("edge-upstream")
            return self._style("edge-downstream" if self._lit_down.intersection(owner.edges) else "edge")
        if kind == "group":
            return self._style("group")
        name = owner.node
        state = self._style(self.model.state_of(name).state)
        if kind == "name":
            if name == self.cursor:
                return self._style("cursor")
            if name in self._upstream:
                return self._style("upstream")
            if name in self._downstream:
                return self._style("downstream")
            return Style()
        if kind == "box" and name == self.cursor:
            return state + Style(bold=True)
        return state
