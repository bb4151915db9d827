"""The graph view driven through Pilot: toggling, navigating, selecting, panning, live updates
without re-layout, and the neighbourhood past the size limit."""

from __future__ import annotations

import pytest
from visual_support import demo_app, events_until_running, generated, screen_text

from tui.app import create_app
from tui.backend.replay import ReplayController
from tui.recording import settle
from tui.state.graph import GraphInfo, NodeInfo
from tui.widgets.dag_view import DagView
from tui.widgets.graph_view import GraphView, neighbourhood


@pytest.fixture(autouse=True)
def _no_animations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")


async def test_g_toggles_the_graph_in_place_of_the_list_and_keys_navigate() -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        dag, view = app.query_one(DagView), app.query_one(GraphView)
        assert dag.display and not view.display and view.drawing is None  # laid out only when shown
        await pilot.press("g")
        await settle(pilot)
        assert view.display and not dag.display and app.focused is view
        assert view.cursor == "raw_orders" and "│ ✔ raw_orders │" in screen_text(app)
        await pilot.press("down")
        assert view.cursor == "orders_clean"  # the nearest box one layer down
        await pilot.press("down", "down")
        assert view.cursor in {"gross_margin", "revenue", "units", "weekly_store_sales"}  # layer 3
        await pilot.press("left", "left", "left", "left")
        assert view.cursor == "gross_margin"  # the leftmost box of the layer; left stops there
        await pilot.press("right")
        assert view.cursor == "revenue"
        up, down = app.model.graph.lineage("revenue")
        assert "sales" in view._upstream and view._downstream == down and view._upstream == up
        lit = {view.drawing.edges[i] for i in view._lit_up | view._lit_down}
        assert ("sales", "revenue") in lit and ("revenue", "headline_kpis") in lit
        assert not any("gross_margin" in e for e in lit)  # a sibling's edges stay unlit
        assert app.query_one("#details").content is not None
        await pilot.press("enter")
        await settle(pilot)
        assert dag.selected == "revenue"  # Enter selects: the list and the side panel follow
        assert "✔ revenue  ran" in screen_text(app)
        await pilot.press("g")
        await settle(pilot)
        assert dag.display and not view.display and app.focused is dag and dag.selected == "revenue"


async def test_click_selects_and_shift_arrows_pan() -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        view = app.query_one(GraphView)
        assert view.drawing is not None
        x, y, w, _ = view.drawing.boxes["raw_products"]
        await pilot.click(GraphView, offset=(x + w // 2 + 1 - int(view.scroll_x), y + 1 + 1 - int(view.scroll_y)))
        await settle(pilot)
        assert view.cursor == "raw_products" and app.query_one(DagView).selected == "raw_products"
        before = view.scroll_x
        await pilot.press("shift+right")
        await settle(pilot)
        assert view.scroll_x > before
        await pilot.press("shift+down", "pagedown")
        await settle(pilot)
        assert view.scroll_y > 0
        sx, sy = view.scroll_x, view.scroll_y
        await pilot.mouse_down(GraphView, offset=(30, 20))  # drag the picture up and left
        await pilot.hover(GraphView, offset=(20, 15))
        await pilot.mouse_up(GraphView, offset=(20, 15))
        await settle(pilot)
        assert (view.scroll_x, view.scroll_y) == (sx + 10, sy + 5)
        assert app.query_one(DagView).selected == "raw_products"  # the drag's end selected nothing


async def test_live_states_repaint_without_relayout() -> None:
    app = demo_app(autoplay=events_until_running("fitted_model"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        view = app.query_one(GraphView)
        drawing = view.drawing
        view.select("fitted_model")
        await settle(pilot)
        assert "fitted_model" in screen_text(app) and "✔ fitted_model" not in screen_text(app)
        kept = set(view._strips)
        view.refresh_nodes({"fitted_model"})
        assert set(view._strips) == kept - set(view._rows_of["fitted_model"])  # only its rows repaint
        app.controller.feed()  # the rest of the run
        await settle(pilot)
        assert view.drawing is drawing  # same layout object: states changed, structure did not
        assert "│ ✔ fitted_model │" in screen_text(app)


async def test_past_the_limit_it_says_so_and_draws_a_neighbourhood() -> None:
    order, parents, _ = generated(60)
    graph = GraphInfo([NodeInfo(n, "pkg", deps=tuple(parents[n])) for n in order], order, pipeline="big")
    app = create_app(graph, controller=ReplayController([], graph=graph), clock=lambda: 0.0, animations=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.query_one(GraphView)
        view.limit = 20
        await pilot.press("g")
        await settle(pilot)
        view.select("node_030")
        await settle(pilot)
        assert "60 nodes, too many to draw: depth 2" in screen_text(app)
        assert view.drawing is not None and set(view.drawing.boxes) == set(neighbourhood(graph, "node_030", 2))
        shallow = len(view.drawing.boxes)
        await pilot.press("minus")
        await settle(pilot)
        assert "draw: depth 1" in screen_text(app) and len(view.drawing.boxes) < shallow
        await pilot.press("plus", "plus")
        assert view.depth == 3


def test_neighbourhood_keeps_lineage_within_depth() -> None:
    g = GraphInfo([NodeInfo("a"), NodeInfo("b", deps=("a",)), NodeInfo("c", deps=("b",)), NodeInfo("d", deps=("c",)),
                   NodeInfo("x", deps=("a",))], ["a", "b", "x", "c", "d"])
    assert neighbourhood(g, "c", 1) == ["b", "c", "d"]
    assert neighbourhood(g, "c", 2) == ["a", "b", "c", "d"]  # x is a's child, not c's lineage


async def test_header_detail_view_and_durations_plot() -> None:
    app = demo_app(runs=slice(0, 2))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("r")  # the second recorded run: everything cached
        await settle(pilot)
        app.query_one(DagView).select("fitted_model")
        await settle(pilot)
        plot = app.query_one("#durations")
        assert plot.display
        text = screen_text(app)
        assert "fitted_model over its last 2 runs" in text and "·●" in text
        await pilot.press("t")
        await settle(pilot)
        text = screen_text(app)
        assert " wall " in text and "hit rate" in text and "over 2 runs" in text
        await pilot.press("t")
        await settle(pilot)
        assert not app.query_one("#run-trends").display




async def test_a_big_layout_runs_on_a_worker() -> None:
    order, parents, _ = generated(150)
    graph = GraphInfo([NodeInfo(n, "pkg", deps=tuple(parents[n])) for n in order], order, pipeline="big")
    app = create_app(graph, controller=ReplayController([], graph=graph), clock=lambda: 0.0, animations=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.query_one(GraphView)
        view.display = True
        view.rebuild()
        assert view.drawing is None and view._pending is not None  # the UI thread did not wait
        await app.workers.wait_for_complete()
        await settle(pilot)
        assert view.drawing is not None and len(view.drawing.boxes) == 150 and view._pending is None
