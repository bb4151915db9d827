"""The layered drawing of the DAG as text: what ``ripple graph`` prints and the graph view paints."""

from __future__ import annotations

from collections import deque

import pytest
from visual_support import generated

from engine.core.drawing import DOWN, LEFT, LINES, RIGHT, UP, Drawing, draw, short_groups
from engine.core.layout import layout

DIAMOND = (["a", "b", "c", "d"], {"b": ["a"], "c": ["a"], "d": ["b", "c"]})


def _edge_cells(d: Drawing, edge: int) -> set[tuple[int, int]]:
    cells = set()
    for y, row in enumerate(d.runs):
        for start, end, o in row:
            owner = d.owners[o]
            if owner.kind == "edge" and edge in owner.edges:
                cells.update((x, y) for x in range(start, end))
    return cells


def _connected(d: Drawing, edge: int) -> bool:
    """The edge's cells join the parent's bottom border to the child's top border."""
    src, dst = d.edges[edge]
    sx, sy, sw, sh = d.boxes[src]
    tx, ty, tw, _ = d.boxes[dst]
    cells = _edge_cells(d, edge)
    start = next(((x, sy + sh - 1) for x in range(sx, sx + sw) if (x, sy + sh - 1) in cells), None)
    goal = {(x, ty) for x in range(tx, tx + tw)} & cells
    if start is None or not goal:
        return False
    seen, todo = {start}, deque([start])
    while todo:
        x, y = todo.popleft()
        if (x, y) in goal:
            return True
        for n in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            if n in cells and n not in seen:
                seen.add(n)
                todo.append(n)
    return False


def test_every_node_is_one_box_below_all_it_needs() -> None:
    order, parents = DIAMOND
    d = draw(order, parents)
    assert set(d.boxes) == set(order)
    for child, ps in parents.items():
        for p in ps:
            assert d.boxes[p][1] < d.boxes[child][1]
    text = d.text()
    for name in order:
        assert text.count(f"○ {name} ") == 1


@pytest.mark.parametrize("n", [4, 40, 120])
def test_boxes_never_overlap_and_every_edge_is_drawn_connected(n: int) -> None:
    order, parents, groups = generated(n) if n > 4 else (*DIAMOND, None)
    d = draw(order, parents, groups=groups)
    boxes = list(d.boxes.values())
    for i, (x, y, w, h) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1:]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y
    assert len(d.edges) == sum(len(set(p)) for p in parents.values())
    for e in range(len(d.edges)):
        assert _connected(d, e), d.edges[e]


def test_a_horizontal_line_belongs_to_one_parent() -> None:
    """Buses of different parents never share a horizontal cell (crossings are vertical over horizontal)."""
    order, parents, groups = generated(80)
    d = draw(order, parents, groups=groups)
    for y, row in enumerate(d.runs):
        for start, end, o in row:
            owner = d.owners[o]
            if owner.kind != "edge":
                continue
            for x in range(start, end):
                ch = d.lines[y][x]
                if ch in (LINES[LEFT | RIGHT],) and len({d.edges[e][0] for e in owner.edges}) > 1:
                    pytest.fail(f"cell {x},{y} carries two parents' buses")


def test_glyph_cells_and_clicks_find_their_node() -> None:
    order, parents = DIAMOND
    d = draw(order, parents)
    for name, (x, y) in d.glyphs.items():
        assert d.lines[y][x] == "○"
        assert d.node_at(x, y) == name
        bx, by, bw, bh = d.boxes[name]
        assert d.node_at(bx, by) == name and d.node_at(bx + bw - 1, by + bh - 1) == name
    assert d.node_at(-1, 0) is None and d.node_at(0, 10_000) is None


def test_modules_are_labelled_groups_and_shared_prefixes_drop() -> None:
    order = ["load", "clean", "fit"]
    parents = {"clean": ["load"], "fit": ["clean"]}
    groups = {"load": "shop.ingest", "clean": "shop.prep", "fit": "shop.model"}
    text = draw(order, parents, groups=groups).text()
    for label in (" ingest", " prep", " model"):
        assert label in text
    assert "shop." not in text
    assert short_groups({"a": "pkg.one"}) == {"a": "one"}
    assert "ingest" not in draw(order, parents, groups={n: "one.module" for n in order}).text()


def test_plain_text_form_has_no_glyphs() -> None:
    order, parents = DIAMOND
    text = draw(order, parents, glyphs=False).text()
    assert "○" not in text and "│ a │" in text and "▼" in text


def test_layout_is_deterministic_and_reduces_crossings() -> None:
    order, parents, groups = generated(100, seed=3)
    assert draw(order, parents, groups=groups).text() == draw(order, parents, groups=groups).text()
    widths = {n: len(n) + 4 for n in order}

    def crossings(sweeps: int) -> int:
        lay = layout(order, parents, widths, sweeps=sweeps)
        pos = {v.id: k for layer in lay.layers for k, v in enumerate(layer)}
        segs = [(pos[a], pos[b], lay.vertices[a].layer) for ch in lay.chains for a, b in zip(ch, ch[1:])]
        return sum(1 for i, (a, b, l1) in enumerate(segs) for c, e, l2 in segs[i + 1:]
                   if l1 == l2 and (a - c) * (b - e) < 0)

    assert crossings(4) < crossings(0)


def test_a_long_chain_does_not_recurse() -> None:
    order = [f"n{i}" for i in range(3000)]
    d = draw(order, {order[i]: [order[i - 1]] for i in range(1, len(order))})
    assert len(d.boxes) == 3000


def test_ripple_graph_text_is_the_drawing(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    assert main(["graph", "demo_pipeline"]) == 0
    out = capsys.readouterr().out
    assert "│ fitted_model │" in out and "▼" in out and " model " in out
    assert main(["graph", "demo_pipeline", "--format", "list"]) == 0
    assert "fitted_model" in capsys.readouterr().out


def test_bits_table_covers_every_junction() -> None:
    for bits in range(1, 16):
        assert bits in LINES, bits
    assert LINES[UP | DOWN] == "│" and LINES[DOWN | RIGHT] == "╭"


def test_ripple_graph_text_lists_a_graph_too_big_to_draw(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.core.render as render
    from engine.cli import main

    monkeypatch.setattr(render, "DRAW_LIMIT", 5)
    assert main(["graph", "demo_pipeline"]) == 0
    out = capsys.readouterr().out
    assert "╭" not in out and "fitted_model" in out and " <- " in out
