"""The dashboard driving REAL isolated runs: a node fails, the file is fixed on disk, and Resume (or a
save in watch mode) re-runs only what is needed until everything is green."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_tui_replay import CALC_FIXED, write_shop

from tui.app import RippleApp, create_app
from tui.backend.controller import Settings
from tui.recording import screen_text
from tui.state.run_model import CACHED, FAILED, RAN, SKIPPED


async def wait_for(pilot: Any, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            app = pilot.app
            raise AssertionError(f"timed out; run_state={app.model.run_state} states="
                                 f"{ {n: s.state for n, s in app.model.states.items()} }")
        await pilot.pause(0.05)


def shop_app(tmp_path: Path, *, watch: bool) -> RippleApp:
    write_shop(tmp_path)
    settings = Settings("shop", cwd=str(tmp_path), cache_dir=str(tmp_path / ".ripple"), watch=watch)
    return create_app("shop", settings=settings, animations=False)


def assert_resumed(app: RippleApp) -> None:
    states = {n: app.model.state_of(n).state for n in app.model.graph.order}
    for upstream in ("orders", "stores", "prices", "clean_orders", "joined"):
        assert states[upstream] == CACHED, states
    for rerun in ("revenue", "summary", "report"):
        assert states[rerun] == RAN, states


async def test_fail_fix_resume(tmp_path: Path) -> None:
    app = shop_app(tmp_path, watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.model.run_state == "failed")
        await wait_for(pilot, lambda: len(app.model.graph) == 8)
        assert app.model.state_of("revenue").state == FAILED
        assert app.model.state_of("summary").state == SKIPPED
        assert app.can_resume and app.check_action("resume", ()) is True
        assert not app.query_one("#resume").disabled
        assert app.check_action("stop", ()) is None
        # the Failure tab is shown with the failure (the next repaint; on a loaded machine not this instant)
        await wait_for(pilot, lambda: "KeyError" in screen_text(app), timeout=10)

        (tmp_path / "shop" / "calc.py").write_text(CALC_FIXED)
        await pilot.press("R")
        assert app.query_one("#resume").disabled  # gated at once, before the child's first event
        await wait_for(pilot, lambda: app.model.run_state == "ok")
        await pilot.pause()
        assert_resumed(app)
        assert not app.can_resume and app.check_action("resume", ()) is None
        assert app.query_one("#resume").disabled

        runs_before = app.model.runs_seen
        await pilot.press("R")  # inert now: nothing failed
        await pilot.pause(0.2)
        assert app.model.runs_seen == runs_before and app.model.run_state == "ok"


async def test_watch_reruns_after_fix(tmp_path: Path) -> None:
    app = shop_app(tmp_path, watch=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.model.run_state == "failed" and app.model.watching)
        assert app.can_resume
        (tmp_path / "shop" / "calc.py").write_text(CALC_FIXED)
        await wait_for(pilot, lambda: app.model.run_state == "ok")
        await pilot.pause()
        assert_resumed(app)
        assert app.model.change is not None and app.model.change.summary
        assert app.query_one("#resume").disabled
        await pilot.press("w")
        await wait_for(pilot, lambda: not app.model.watching, timeout=10)


def test_history_reads_hits_and_runs_from_a_real_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's history (durations, newest versions, lifetime) over real runs, where a warm
    run's hits are stored packed: versions come from hits too, durations only from real runs."""
    import sys

    from engine import Driver
    from engine.core.loading import load_pipeline
    from tui.backend.controller import _history

    for name in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = write_shop(tmp_path, CALC_FIXED)
    modules = load_pipeline(str(pkg)).modules
    store = tmp_path / "store"
    for _ in range(3):
        dr = Driver({}, *modules).with_cache(str(store))
        dr.execute(["report"])
        dr.cache.close()
    order = list(dr.graph.order)
    life, durations, versions = _history(str(store), order)
    assert life is not None and (life.ran, life.cached) == (len(order), 2 * len(order))
    assert set(durations) == set(order) and all(len(v) == 1 for v in durations.values())
    assert set(versions) == set(order)
    newest = {n: dr.cache.hit_entries[n][1] for n in order}
    assert all(versions[n] == [newest[n].code_version, newest[n].data_version] for n in order)
