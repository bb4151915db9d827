"""The side panel's auto-height panes keep up with their content (a Textual caching race)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.widgets.panel import Panel


class Pane(App[None]):
    def __init__(self, kind: type[Static]) -> None:
        super().__init__()
        self.kind = kind

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield self.kind("one", id="text")
            yield Static("below", id="below")


async def _height_after_race(kind: type[Static]) -> tuple[int, int]:
    """Two updates with a layout between them and no idle for the pane in between (a busy drain on a
    loaded machine): (the pane's final height, the row where the next widget starts)."""
    app = Pane(kind)
    async with app.run_test(size=(40, 20)) as pilot:
        await pilot.pause()
        text = app.query_one("#text", Static)
        text.update("1\n2")
        # a sibling's refresh re-arranges the container before this pane has seen its idle
        app.query_one(VerticalScroll)._clear_arrangement_cache()
        app.screen._refresh_layout()
        text.update("1\n2\n3\n4")
        await pilot.pause()
        app.screen.refresh(layout=True)
        await pilot.pause()
        return text.region.height, app.query_one("#below").region.y - text.region.y


async def test_second_update_before_idle_still_resizes() -> None:
    assert await _height_after_race(Panel) == (4, 4)


async def test_plain_static_shows_the_race() -> None:
    """Guards the workaround's reason: once Textual gets this right, Panel can go."""
    height, _ = await _height_after_race(Static)
    if height == 4:
        pytest.skip("this Textual keeps auto heights right by itself: tui.widgets.panel.Panel can be removed")
    assert height == 2
