"""Snapshots of the graph view and the timeline, from the recorded demo runs (deterministic: a
fixed clock, no animations, event timestamps from the recording). Update after reviewing
``snapshot_report.html``: ``pytest tests/tui/visual --snapshot-update``."""

from __future__ import annotations

from typing import Any

import pytest
from visual_support import demo_app, events_until_running

from tui.recording import settle
from tui.widgets.graph_view import GraphView

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.fixture(autouse=True)
def _no_animations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")


def _graph_on(node: str | None = None) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("g")
        if node is not None:
            pilot.app.query_one(GraphView).select(node)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_graph_view_running(snap_compare: Any, size: tuple[int, int]) -> None:
    """Mid-run: upstream boxes ran, fitted_model is running (spinner from the fixed clock), the rest pending."""
    app = demo_app(autoplay=events_until_running("fitted_model"))
    assert snap_compare(app, terminal_size=size, run_before=_graph_on("fitted_model"))


@pytest.mark.parametrize("size", SIZES)
def test_graph_view_finished(snap_compare: Any, size: tuple[int, int]) -> None:
    """The finished cold run, cursor on sales: its ancestors and descendants are highlighted."""
    app = demo_app()
    assert snap_compare(app, terminal_size=size, run_before=_graph_on("sales"))


@pytest.mark.parametrize("size", SIZES)
def test_timeline(snap_compare: Any, size: tuple[int, int]) -> None:
    """The Bottlenecks tab after the threaded cold run: overlapping bars, the critical path marked."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.query_one("#side").active = "tab-bottlenecks"
        await settle(pilot)
        pilot.app.query_one("#tab-bottlenecks").query_one("VerticalScroll").scroll_end(animate=False)
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)
