"""The DAG drawn with box-drawing characters: lines of text plus which cell belongs to what.

One drawing serves three readers: ``ripple graph --format text`` prints its lines, the dashboard's
graph view colours and hit-tests it through ``runs`` (per row, the cells of each box, name, state
glyph, module label and edge), and the HTML report reads the same layout. No Textual, no rich:
this is text, so it can be tested as text.

Layers run top to bottom (a node sits below everything it needs). Each layer is a band: a row of
module labels when the graph spans several modules, three rows of boxes, then a routing channel
of one row per *track*: the edges leaving one box share a track (a bus to all its children), and
two boxes whose buses would overlap get different tracks, so a horizontal line always belongs to
exactly one parent. A box's state glyph is drawn as a placeholder cell whose position is recorded
(``glyphs``), so live state changes repaint one cell and never re-lay the graph out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from .layout import Layout, Vertex, layout

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8
LINES = {
    UP: "│", DOWN: "│", UP | DOWN: "│", LEFT: "─", RIGHT: "─", LEFT | RIGHT: "─",
    DOWN | RIGHT: "╭", DOWN | LEFT: "╮", UP | RIGHT: "╰", UP | LEFT: "╯",
    UP | DOWN | RIGHT: "├", UP | DOWN | LEFT: "┤", LEFT | RIGHT | DOWN: "┬", LEFT | RIGHT | UP: "┴",
    UP | DOWN | LEFT | RIGHT: "┼",
}
GLYPH_PLACEHOLDER = "○"
NAME_LIMIT = 36
BOX_ROWS = 3


@dataclass(frozen=True, slots=True)
class Owner:
    """What a run of cells is: ``kind`` is box, name, glyph, group (a module label) or edge."""

    kind: str
    node: str = ""
    edges: tuple[int, ...] = ()


@dataclass(slots=True)
class Drawing:
    """``lines[y]`` is row ``y``; ``runs[y]`` its non-blank cells as (start, end, owner index)."""

    lines: list[str]
    runs: list[list[tuple[int, int, int]]]
    owners: list[Owner]
    edges: list[tuple[str, str]]
    boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    glyphs: dict[str, tuple[int, int]] = field(default_factory=dict)
    width: int = 0

    @property
    def height(self) -> int:
        return len(self.lines)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines)

    def node_at(self, x: int, y: int) -> str | None:
        """The node whose box covers cell (x, y), for clicks."""
        if not 0 <= y < len(self.runs):
            return None
        for start, end, o in self.runs[y]:
            if start <= x < end:
                owner = self.owners[o]
                return owner.node if owner.kind in ("box", "name", "glyph") else None
        return None


def short_groups(groups: Mapping[str, str]) -> dict[str, str]:
    """Module names without their shared dotted prefix (``demo_pipeline.clean`` -> ``clean``)."""
    names = sorted(set(groups.values()))
    if len(names) < 2:
        return {k: v.rsplit(".", 1)[-1] for k, v in groups.items()}
    parts = [n.split(".") for n in names]
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return {k: ".".join(v.split(".")[common:]) or v for k, v in groups.items()}


def label_of(name: str, glyphs: bool = True) -> str:
    shown = name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"
    return f"{GLYPH_PLACEHOLDER} {shown}" if glyphs else shown


def draw(order: Sequence[str], parents: Mapping[str, Iterable[str]], *, groups: Mapping[str, str] | None = None,
         glyphs: bool = True) -> Drawing:
    """Lay out and draw the DAG ``order`` (names in topological order) with ``parents``."""
    groups = dict(groups or {})
    widths = {n: len(label_of(n, glyphs)) + 4 for n in order}
    lay = layout(order, {n: tuple(parents.get(n, ())) for n in order}, widths, groups=groups)
    return render(lay, glyphs=glyphs, grouped=len(set(groups.values())) > 1)


class _Canvas:
    """Characters and owners per cell; lines are kept as direction bits and edge bitsets per flat
    cell index (``y * width + x``) until ``finish`` turns them into junction characters: a 300-node
    drawing has ~80k line cells, so this is the hot loop of a layout."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.chars = [[" "] * width for _ in range(height)]
        self.owner = [[0] * width for _ in range(height)]
        self.mask: dict[int, int] = {}
        self.edge_bits: dict[int, int] = {}
        self.owners: list[Owner] = [Owner("blank")]
        self._index: dict[Owner, int] = {self.owners[0]: 0}

    def own(self, owner: Owner) -> int:
        i = self._index.get(owner)
        if i is None:
            i = self._index[owner] = len(self.owners)
            self.owners.append(owner)
        return i

    def put(self, x: int, y: int, text: str, owner: Owner) -> None:
        o = self.own(owner)
        row, orow = self.chars[y], self.owner[y]
        for k, ch in enumerate(text):
            if 0 <= x + k < len(row):
                row[x + k] = ch
                orow[x + k] = o

    def has_line(self, x: int, y: int) -> bool:
        return y * self.width + x in self.mask

    def line(self, x: int, y: int, bits: int, edges: Iterable[int]) -> None:
        k = y * self.width + x
        self.mask[k] = self.mask.get(k, 0) | bits
        self.edge_bits[k] = self.edge_bits.get(k, 0) | _bitset(edges)

    def vertical(self, x: int, y0: int, y1: int, edges: Iterable[int]) -> None:
        """A line from row ``y0`` to row ``y1`` inclusive, open at both ends."""
        ebits = _bitset(edges)
        mask, ids, get, w = self.mask, self.edge_bits, dict.get, self.width
        for k in range(y0 * w + x, y1 * w + x + 1, w):
            mask[k] = get(mask, k, 0) | 3  # UP | DOWN
            ids[k] = get(ids, k, 0) | ebits

    def horizontal(self, y: int, left: int, right: int, edges: Iterable[int]) -> None:
        """A line from column ``left`` to ``right`` inclusive, closed at both ends."""
        ebits = _bitset(edges)
        mask, ids, get, base = self.mask, self.edge_bits, dict.get, y * self.width
        for x in range(left, right + 1):
            k = base + x
            mask[k] = get(mask, k, 0) | (LEFT if x > left else 0) | (RIGHT if x < right else 0)
            ids[k] = get(ids, k, 0) | ebits

    def finish(self) -> tuple[list[str], list[list[tuple[int, int, int]]]]:
        by_bits: dict[int, int] = {}
        w = self.width
        for k, bits in self.mask.items():
            y, x = divmod(k, w)
            self.chars[y][x] = LINES[bits]
            ebits = self.edge_bits[k]
            o = by_bits.get(ebits)
            if o is None:
                o = by_bits[ebits] = self.own(Owner("edge", edges=_members(ebits)))
            self.owner[y][x] = o
        lines = ["".join(r) for r in self.chars]
        runs: list[list[tuple[int, int, int]]] = []
        for orow in self.owner:
            row: list[tuple[int, int, int]] = []
            x = 0
            for o, cells in groupby(orow):
                n = sum(1 for _ in cells)
                if o:
                    row.append((x, x + n, o))
                x += n
            runs.append(row)
        return lines, runs


def _bitset(edges: Iterable[int]) -> int:
    out = 0
    for e in edges:
        out |= 1 << e
    return out


def _members(bits: int) -> tuple[int, ...]:
    out = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return tuple(out)


def _tracks(spans: list[tuple[int, int, str]]) -> dict[str, int]:
    """Greedy interval colouring: buses that would touch get different tracks (rows)."""
    ends: list[int] = []
    out: dict[str, int] = {}
    for left, right, src in sorted(spans):
        for k, end in enumerate(ends):
            if end < left - 1:
                ends[k] = right
                out[src] = k
                break
        else:
            out[src] = len(ends)
            ends.append(right)
    return out


def render(lay: Layout, *, glyphs: bool = True, grouped: bool = False) -> Drawing:
    """Rows for each layer band, then boxes, module labels and routed edges on one canvas."""
    links = lay.out_links()
    label_rows = 1 if grouped else 0
    plans: list[tuple[dict[str, int], int]] = []
    for layer in lay.layers:
        spans = []
        for v in layer:
            xs = [v.centre] + [lay.vertices[t].centre for t, _ in links.get(v.id, ())]
            if len(set(xs)) > 1:
                spans.append((min(xs), max(xs), v.id))
        tracks = _tracks(spans)
        plans.append((tracks, max(tracks.values(), default=-1) + 1))
    tops: list[int] = []
    y = 0
    for i, (_, n_tracks) in enumerate(plans):
        tops.append(y)
        y += label_rows + BOX_ROWS + (max(n_tracks, 1) if i < len(lay.layers) - 1 else 0)
    short = short_groups({v.id: v.group for v in lay.vertices.values() if not v.dummy})
    margin = max((len(s) for s in short.values()), default=0) + 2 if grouped else 0
    canvas = _Canvas(lay.width + margin, y)  # room for a label beside the rightmost box
    drawing = Drawing([], [], [], list(lay.edges), width=lay.width)
    for i, layer in enumerate(lay.layers):
        top = tops[i]
        for v in layer:
            if v.dummy:
                edge = int(v.id[1:].split(":")[0])
                canvas.vertical(v.x, top, top + label_rows + BOX_ROWS - 1, (edge,))
            else:
                _box(canvas, drawing, v, top + label_rows, glyphs)
    for i, layer in enumerate(lay.layers[:-1]):  # after every box, so arrows land on drawn borders
        _route(canvas, lay, layer, links, plans[i], tops[i] + label_rows + BOX_ROWS, tops[i + 1] + label_rows)
    if grouped:  # last: a label moves aside for the edges crossing its row
        for i, layer in enumerate(lay.layers):
            _group_labels(canvas, layer, short, tops[i])
    drawing.lines, drawing.runs = canvas.finish()
    drawing.owners = canvas.owners
    drawing.width = max((row[-1][1] for row in drawing.runs if row), default=0)
    drawing.lines = [line[: drawing.width] for line in drawing.lines]
    return drawing


def _box(canvas: _Canvas, drawing: Drawing, v: Vertex, y: int, glyphs: bool) -> None:
    label = label_of(v.id, glyphs)
    inner = v.width - 2
    box = Owner("box", v.id)
    canvas.put(v.x, y, "╭" + "─" * inner + "╮", box)
    canvas.put(v.x, y + 1, "│ ", box)
    if glyphs:
        canvas.put(v.x + 2, y + 1, GLYPH_PLACEHOLDER, Owner("glyph", v.id))
        drawing.glyphs[v.id] = (v.x + 2, y + 1)
        canvas.put(v.x + 3, y + 1, " " + label[2:], Owner("name", v.id))
    else:
        canvas.put(v.x + 2, y + 1, label, Owner("name", v.id))
    canvas.put(v.x + v.width - 2, y + 1, " │", box)
    canvas.put(v.x, y + 2, "╰" + "─" * inner + "╯", box)
    drawing.boxes[v.id] = (v.x, y, v.width, BOX_ROWS)


def _group_labels(canvas: _Canvas, layer: list[Vertex], short: Mapping[str, str], y: int) -> None:
    """One label per run of neighbouring boxes of the same module, as wide as the run."""
    runs: list[tuple[str, int, int]] = []
    for v in layer:
        if v.dummy:
            continue
        if runs and runs[-1][0] == v.group:
            runs[-1] = (v.group, runs[-1][1], v.x + v.width)
        else:
            runs.append((v.group, v.x, v.x + v.width))
    for group, left, right in runs:
        name = short.get(next(v.id for v in layer if not v.dummy and v.group == group), group)
        text = f" {name} "
        def fits(x: int, text: str = text, left: int = left, right: int = right,
                 row: list[str] = canvas.chars[y]) -> bool:
            return x + len(text) <= len(row) and not any(
                canvas.has_line(x + k, y) or not left <= x + k < right and row[x + k] != " "
                for k in range(len(text)))

        canvas.put(left, y, "┄" * (right - left), Owner("group", group))
        start = next((x for x in [*range(left, right), *range(left - 1, -1, -1)] if fits(x)), left)
        canvas.put(start, y, text if fits(start) else text[: right - left], Owner("group", group))


def _route(canvas: _Canvas, lay: Layout, layer: list[Vertex], links: Mapping[str, list[tuple[str, int]]],
           plan: tuple[dict[str, int], int], y0: int, y_in: int) -> None:
    """Edges from ``layer``'s bottoms (row ``y0 - 1``) through the channel to the next layer's tops
    (row ``y_in``). ``y_in`` is the row of the target boxes' top borders (or of a dummy's label row)."""
    tracks, _ = plan
    bottom = y_in - 1
    arrows: dict[str, list[int]] = {}
    for v in layer:
        out = links.get(v.id, ())
        if not out:
            continue
        ids = [e for _, e in out]
        if not v.dummy:
            canvas.put(v.centre, y0 - 1, "┬", Owner("edge", edges=tuple(sorted(ids))))
        track = tracks.get(v.id)
        if track is None:  # straight down to one vertex below
            canvas.vertical(v.centre, y0, bottom, ids)
        else:
            ty = y0 + track
            canvas.vertical(v.centre, y0, ty - 1, ids)
            targets = [lay.vertices[t].centre for t, _ in out]
            left, right = min(targets + [v.centre]), max(targets + [v.centre])
            canvas.line(v.centre, ty, UP, ids)
            canvas.horizontal(ty, left, right, ids)
            for t, e in out:
                tx = lay.vertices[t].centre
                canvas.line(tx, ty, DOWN, (e,))
                canvas.vertical(tx, ty + 1, bottom, (e,))
        for t, e in out:
            if not lay.vertices[t].dummy:
                arrows.setdefault(t, []).append(e)
    for t, ids in arrows.items():  # one arrow per box, shared by every edge that arrives there
        canvas.put(lay.vertices[t].centre, y_in, "▼", Owner("edge", edges=tuple(sorted(ids))))
