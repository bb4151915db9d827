"""An idle dashboard does not poll: with nothing buffered and no run live the drain timer is paused,
and the next push, from any thread, wakes it. Replayed runs, the real app and the real buffer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from test_tui_replay import replay_app
from test_tui_snapshots import _mid_run_events

from tui.app import RippleApp
from tui.recording import settle
from tui.state.notices import WatchState

#: fast enough that a timer left running would tick many times in the short pauses below
TICK_HZ = 200


async def until(pilot: Any, predicate: Callable[[], bool], steps: int = 400) -> None:
    for _ in range(steps):
        if predicate():
            return
        await pilot.pause(0.025)
    raise AssertionError("the dashboard never got there")


def fast_app(**kwargs: Any) -> RippleApp:
    app = replay_app(**kwargs)
    app.tick_hz = TICK_HZ
    return app


async def test_an_idle_dashboard_does_not_tick_until_something_arrives() -> None:
    app = fast_app(runs=slice(2, 3))  # one run, all cached, finished
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: app.drain_paused)
        assert not app.model.running and app.controller.buffer.asleep
        ticks = app.ticks
        await pilot.pause(0.3)
        assert app.ticks == ticks, "the drain ran while nothing happened"

        pusher = threading.Thread(target=app.controller.buffer.push, args=(WatchState(True),))
        pusher.start()  # as the controller's threads push
        pusher.join()
        await until(pilot, lambda: app.model.watching)
        assert app.ticks > ticks
        assert "watch on" in str(app.query_one("#status").render())
        await until(pilot, lambda: app.drain_paused)  # and back to sleep


async def test_a_live_run_keeps_ticking_without_events() -> None:
    """The spinners and the running nodes' elapsed time move between events: no pause while live."""
    app = fast_app(runs=slice(1, 2), autoplay=_mid_run_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.model.running
        ticks = app.ticks
        await until(pilot, lambda: app.ticks > ticks + 5)
        assert not app.drain_paused


async def test_a_run_started_from_a_key_wakes_the_paused_drain() -> None:
    app = fast_app(runs=slice(1, 3), autoplay=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: app.drain_paused)
        await pilot.press("r")
        await until(pilot, lambda: app.model.run_state == "ok" and app.model.runs_seen == 1)
        await until(pilot, lambda: app.drain_paused)
