"""Snapshot tests of the dashboard, all from the recorded ``shop`` runs (deterministic: injected clock,
no animations, no cursor blink, fixed sizes). Update after reviewing ``snapshot_report.html``:
``pytest tests/test_tui_snapshots.py --snapshot-update``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_tui_replay import CALC_FIXED, load_recording, replay_app, write_shop

from engine import events as ev
from tui.recording import settle


@pytest.fixture(autouse=True)
def shop_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_shop(tmp_path, CALC_FIXED)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    return tmp_path


def _mid_run_events() -> int:
    """How many events of the resumed run to feed so that ``revenue`` is running."""
    _, runs = load_recording(Path(__file__).parent / "fixtures" / "tui_shop.jsonl")
    run = runs[1]
    return next(i for i, e in enumerate(run) if isinstance(e, ev.NodeStarted) and e.node == "revenue") + 1


def test_snapshot_running(snap_compare: Any) -> None:
    app = replay_app(runs=slice(1, 2), autoplay=_mid_run_events())
    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)


def test_snapshot_all_cached(snap_compare: Any) -> None:
    app = replay_app(runs=slice(2, 3))
    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)


def test_snapshot_failure(snap_compare: Any) -> None:
    app = replay_app(runs=slice(0, 1))
    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)


def test_snapshot_filter(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("slash", *"rev")
        await settle(pilot)  # the filtered rows and the panel heights reach their final layout

    app = replay_app(runs=slice(1, 2))
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_snapshot_small_terminal(snap_compare: Any) -> None:
    app = replay_app(runs=slice(1, 2))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)
