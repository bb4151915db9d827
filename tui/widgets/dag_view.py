"""The DAG as one Line-API widget: one row per node, painted only for the rows on screen.

A widget per node costs 150-500 ms per frame at 2,000 nodes (research/textual.md §5); a ``ScrollView``
that renders ``Strip``s for the visible rows costs a few ms whatever the size. Strips are cached per
row and dropped only for rows whose node changed, so a tick that touches five nodes repaints five
rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.state.graph import GraphInfo
from tui.state.run_model import ALL, CACHED, FAILED, RAN, RUNNING, SKIPPED, STATES, RunModel
from tui.text import fmt_seconds, glyph

#: below this many columns the DAG rows use a short badge column (names keep their room)
NARROW = 56


@dataclass(frozen=True, slots=True)
class Row:
    kind: str  # "group" | "node"
    key: str  # module name or node name


class DagView(ScrollView, can_focus=True):
    """The live DAG list. The app owns the model; this view only reads it."""

    COMPONENT_CLASSES = {
        *(f"dag-view--{s}" for s in STATES),
        "dag-view--cursor",
        "dag-view--upstream",
        "dag-view--downstream",
        "dag-view--group",
        "dag-view--hint",
        "dag-view--badge-hit",
        "dag-view--badge-ran",
        "dag-view--duration",
    }

    DEFAULT_CSS = """
    DagView { overflow-x: hidden; }
    """

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "Top", show=False),
        Binding("end", "jump(-1)", "Bottom", show=False),
        Binding("enter,space", "toggle_group", "Fold", show=False),
        Binding("f", "fold", "Fold module", show=True),
    ]

    class NodeSelected(Message):
        """The cursor moved onto a node: the side panel follows it."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class NodeOpened(Message):
        """Enter on a node: the side panel shows its Details tab."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, model: RunModel, *, clock: object = None, name: str | None = None, id: str | None = None,  # noqa: A002
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.model = model
        self._clock = clock
        self.rows: list[Row] = []
        self._row_of: dict[str, int] = {}
        self._cache: dict[int, Strip] = {}
        self.cursor = 0
        self.selected: str | None = None
        self._upstream: frozenset[str] = frozenset()
        self._downstream: frozenset[str] = frozenset()
        self.folded: set[str] = set()
        self.filter_text = ""
        self._styles: dict[str, Style] = {}
        self._name_width = 12
        self._grouped = False

    # ---------------------------------------------------------------- structure
    @property
    def graph(self) -> GraphInfo:
        return self.model.graph

    def now(self) -> float:
        return self._clock() if callable(self._clock) else 0.0

    def _matches(self, name: str) -> bool:
        f = self.filter_text.strip()
        if not f:
            return True
        for term in f.split():
            if term.startswith("state:"):
                wanted = set(term[6:].split(","))
                if self.model.state_of(name).state not in wanted:
                    return False
            elif term.lower() not in name.lower():
                return False
        return True

    def rebuild(self) -> None:
        """Recompute the row list (graph, filter or folding changed); keeps the cursor on its node."""
        g = self.graph
        keep = self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None
        groups = g.modules()
        self._grouped = len(groups) > 1
        rows: list[Row] = []
        for module, names in groups:
            shown = [n for n in names if self._matches(n)]
            if not shown:
                continue
            if self._grouped:
                rows.append(Row("group", module))
                if module in self.folded:
                    continue
            rows.extend(Row("node", n) for n in shown)
        self.rows = rows
        self._row_of = {r.key: i for i, r in enumerate(rows) if r.kind == "node"}
        self._name_width = min(max((len(n) for n in g.order), default=8), 36)
        self._cache.clear()
        if keep is not None and keep in rows:
            self.cursor = rows.index(keep)
        elif self.selected in self._row_of:
            self.cursor = self._row_of[self.selected]
        self.cursor = max(0, min(self.cursor, len(rows) - 1))
        self.virtual_size = Size(self.size.width, len(rows))
        if self.selected not in g.nodes:
            self.selected = None
            self._upstream = self._downstream = frozenset()
        self.refresh()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.rebuild()

    @property
    def state_filtered(self) -> bool:
        return "state:" in self.filter_text

    # ---------------------------------------------------------------- updates from the app
    def refresh_nodes(self, dirty: set[str]) -> None:
        """Drop the cached strips of changed rows and repaint those on screen (and the group summaries)."""
        if not dirty:
            return
        if ALL in dirty or self.state_filtered:
            self._cache.clear()
            if self.state_filtered:
                self.rebuild()
            self.refresh()
            return
        top = self.scroll_offset.y
        bottom = top + self.size.height
        groups: set[str] = set()
        for name in dirty:
            i = self._row_of.get(name)
            if i is not None:
                self._cache.pop(i, None)
                if top <= i < bottom:
                    self.refresh_line(i)
            info = self.graph.nodes.get(name)
            if info is not None and self._grouped:
                groups.add(info.module)
        for i in range(top, min(bottom, len(self.rows))):
            row = self.rows[i]
            if row.kind == "group" and row.key in groups:
                self._cache.pop(i, None)
                self.refresh_line(i)

    def tick_spinners(self) -> None:
        """Advance the spinner of visible running rows (frames come from the injected clock)."""
        top = self.scroll_offset.y
        states = self.model.states
        for i in range(top, min(top + self.size.height, len(self.rows))):
            row = self.rows[i]
            if row.kind == "node":
                st = states.get(row.key)
                if st is not None and st.state == RUNNING:
                    self._cache.pop(i, None)
                    self.refresh_line(i)

    def select(self, name: str) -> None:
        """Move the cursor to ``name`` (unfolding or clearing the filter if it is hidden)."""
        if name not in self._row_of:
            info = self.graph.nodes.get(name)
            if info is None:
                return
            self.folded.discard(info.module)
            if not self._matches(name):
                self.filter_text = ""
            self.rebuild()
        self._move_to(self._row_of[name])

    # ---------------------------------------------------------------- cursor
    def _move_to(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(index, len(self.rows) - 1))
        old = self.cursor
        self.cursor = index
        for i in (old, index):
            self._cache.pop(i, None)
            self.refresh_line(i)
        self.scroll_to_region(self._row_region(index), animate=False, immediate=True)
        row = self.rows[index]
        if row.kind == "node" and row.key != self.selected:
            self._set_selected(row.key)
            self.post_message(self.NodeSelected(row.key))

    def _row_region(self, index: int):  # noqa: ANN202 - textual Region
        from textual.geometry import Region

        return Region(0, index, max(self.size.width, 1), 1)

    def _set_selected(self, name: str) -> None:
        before = self._upstream | self._downstream | ({self.selected} if self.selected else set())
        self.selected = name
        self._upstream, self._downstream = self.graph.lineage(name)
        touched = before | self._upstream | self._downstream | {name}
        for n in touched:
            i = self._row_of.get(n)
            if i is not None:
                self._cache.pop(i, None)
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(self.size.height - 1, 1))

    def action_jump(self, where: int) -> None:
        self._move_to(0 if where == 0 else len(self.rows) - 1)

    def action_toggle_group(self) -> None:
        if not self.rows:
            return
        row = self.rows[self.cursor]
        if row.kind == "group":
            self._toggle(row.key)
        else:  # enter on a node opens its Details
            self.post_message(self.NodeOpened(row.key))

    def action_fold(self) -> None:
        if not self.rows or not self._grouped:
            return
        row = self.rows[self.cursor]
        module = row.key if row.kind == "group" else self.graph.nodes[row.key].module
        self._toggle(module)

    def _toggle(self, module: str) -> None:
        if module in self.folded:
            self.folded.discard(module)
        else:
            self.folded.add(module)
        header = Row("group", module)
        self.rebuild()
        if header in self.rows:
            self._move_to(self.rows.index(header))

    def on_click(self, event: events.Click) -> None:
        index = event.y + self.scroll_offset.y
        if 0 <= index < len(self.rows):
            if index == self.cursor and self.rows[index].kind == "group":
                self._toggle(self.rows[index].key)
            else:
                self._move_to(index)

    def on_resize(self, event: events.Resize) -> None:
        self._cache.clear()
        self.virtual_size = Size(self.size.width, len(self.rows))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()

    # ---------------------------------------------------------------- painting
    def _style(self, part: str) -> Style:
        s = self._styles.get(part)
        if s is None:
            s = self._styles[part] = self.get_component_rich_style(f"dag-view--{part}", partial=True)
        return s

    def render_line(self, y: int) -> Strip:
        index = y + self.scroll_offset.y
        if index >= len(self.rows):
            if index == 0 and self.filter_text:  # an empty filter result says so
                note = f" no node matches {self.filter_text!r} (esc clears the filter)"
                return Strip([Segment(note, self.rich_style + Style(italic=True))]).adjust_cell_length(
                    self.size.width, self.rich_style)
            return Strip.blank(self.size.width, self.rich_style)
        strip = self._cache.get(index)
        if strip is None:
            strip = self._cache[index] = self._render_row(index)
        return strip

    def _render_row(self, index: int) -> Strip:
        row = self.rows[index]
        width = self.size.width
        base = self.rich_style
        segs = self._group_segments(row.key) if row.kind == "group" else self._node_segments(row.key)
        # every cell on the widget's own background and colour, never the terminal's (light themes)
        if index == self.cursor:
            cursor = self._style("cursor")
            segs = [Segment(t, base + (s or Style()) + cursor) for t, s, _ in segs]
            return Strip(segs).adjust_cell_length(width, base + cursor)
        return Strip(segs).apply_style(base).adjust_cell_length(width, base)

    def _group_segments(self, module: str) -> list[Segment]:
        names = self.graph.module_nodes(module)
        counts: dict[str, int] = {}
        for n in names:
            st = self.model.state_of(n).state
            counts[st] = counts.get(st, 0) + 1
        arrow = "▸" if module in self.folded else "▾"
        group = self._style("group")
        segs = [Segment(f"{arrow} {module or '(module)'} ", group), Segment(f"{len(names)} nodes ", self._style("hint"))]
        for st in (RUNNING, FAILED, RAN, CACHED, SKIPPED):
            if counts.get(st):
                segs.append(Segment(f"{glyph(st, self.now())}{counts[st]} ", self._style(st)))
        return segs

    def _node_segments(self, name: str) -> list[Segment]:
        st = self.model.state_of(name)
        state_style = self._style(st.state)
        if name == self.selected:
            mark, mark_style = "▶", self._style("cursor")
        elif name in self._upstream:
            mark, mark_style = "▲", self._style("upstream")
        elif name in self._downstream:
            mark, mark_style = "▼", self._style("downstream")
        else:
            mark, mark_style = " ", Style()
        indent = "  " if self._grouped else ""
        name_style = mark_style if mark != " " else Style()
        # names give way before the duration and badge do, so a narrow terminal still shows the state;
        # when narrow the badge drops its "~saved" part first, so names are not cut while room is left
        narrow = self.size.width < NARROW
        bw = 5 if narrow else 10
        nw = max(10, min(self._name_width, self.size.width - 14 - bw - len(indent)))
        shown = name if len(name) <= nw else name[: nw - 1] + "…"
        if st.state == RUNNING:
            dur = fmt_seconds(max(self.now() - st.started_at, 0.0))
        else:
            dur = fmt_seconds(st.seconds) if st.seconds is not None and st.state in (RAN, FAILED) else ""
        if st.state == CACHED:
            badge = f"HIT ~{fmt_seconds(st.saved)}" if st.saved and not narrow else "HIT"
            badge_style = self._style("badge-hit")
        elif st.state == RAN:
            badge, badge_style = "RAN", self._style("badge-ran")
        elif st.state == FAILED:
            badge, badge_style = "FAIL", state_style
        elif st.state == SKIPPED:
            badge, badge_style = "SKIP", state_style
        else:
            badge, badge_style = "", Style()
        parents = self.graph.parents.get(name, ())
        hint = ""
        if parents:
            hint = "← " + ", ".join(parents[:3]) + (f" (+{len(parents) - 3})" if len(parents) > 3 else "")
        return [
            Segment(f"{mark}{indent}", mark_style),
            Segment(glyph(st.state, self.now()), state_style),
            Segment(" "),
            Segment(shown.ljust(nw), name_style),
            Segment(f" {dur:>7} ", self._style("duration")),
            Segment(f"{badge:<{bw}}", badge_style),
            Segment(f" {hint}", self._style("hint")),
        ]
