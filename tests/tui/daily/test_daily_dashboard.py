"""Issue 14, the dashboard: an 80x24 footer with every key, light and dark themes (snapshots of
both at 80x24 and 120x40, contrast of the state and lineage colours), Enter opens Details, tab keys,
``f`` wherever focus is and an empty filter result that says so. Replays the recorded ``shop`` runs
of tests/tui (deterministic clock, no animations)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from test_tui_replay import CALC_FIXED, replay_app, write_shop
from textual.widgets import TabbedContent
from textual.widgets._footer import FooterKey

from tui.palette import LIGHT_NODE_STATE_COLOURS
from tui.recording import settle
from tui.widgets.dag_view import DagView

THEMES = {"dark": "textual-dark", "light": "textual-light"}


@pytest.fixture(autouse=True)
def shop_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_shop(tmp_path, CALC_FIXED)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    return tmp_path


def _themed(theme: str) -> Any:
    async def run_before(pilot: Any) -> None:
        pilot.app.theme = THEMES[theme]
        await settle(pilot)
        await pilot.press("down", "down")  # a node with ancestors and descendants highlighted
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("theme", sorted(THEMES))
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_themes(snap_compare: Any, theme: str, size: tuple[int, int]) -> None:
    app = replay_app(runs=slice(1, 2))
    assert snap_compare(app, terminal_size=size, run_before=_themed(theme))


async def test_every_footer_key_is_visible_at_80x24() -> None:
    app = replay_app(runs=slice(1, 2))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        keys = list(app.query(FooterKey))
        shown = {k.key for k in keys}
        assert {"r", "s", "w", "e", "slash", "question_mark", "q"} <= shown
        assert all(k.region.right <= 80 and k.region.width > 0 for k in keys), [(k.key, k.region) for k in keys]
    async with replay_app(runs=slice(1, 2)).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        labels = {k.key: k.description for k in pilot.app.query(FooterKey)}
        assert labels.get("x") == "Recompute"  # full labels when there is room


async def test_enter_opens_details_and_tabs_have_keys() -> None:
    app = replay_app(runs=slice(0, 1))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        side = app.query_one("#side", TabbedContent)
        for key, tab in (("4", "tab-log"), ("2", "tab-bottlenecks"), ("3", "tab-failure"), ("1", "tab-details"),
                         ("l", "tab-log"), ("b", "tab-bottlenecks"), ("F", "tab-failure"), ("d", "tab-details")):
            await pilot.press(key)
            assert side.active == tab, key
        await pilot.press("4")
        app.query_one(DagView).focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert side.active == "tab-details"


async def test_f_folds_wherever_focus_is() -> None:
    app = replay_app(runs=slice(1, 2))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        app.query_one("#log").focus()
        await pilot.press("f")
        await pilot.pause()
        assert app.query_one(DagView).folded


async def test_an_empty_filter_result_says_so() -> None:
    app = replay_app(runs=slice(1, 2))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"zzz")
        await settle(pilot)
        dag = app.query_one(DagView)
        assert dag.rows == []
        line = "".join(seg.text for seg in dag.render_line(0))
        assert "no node matches 'zzz'" in line


def _luminance(hex_colour: str) -> float:
    from textual.color import Color

    c = Color.parse(hex_colour)

    def ch(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b)


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("theme", sorted(THEMES))
async def test_theme_colours_have_contrast(theme: str) -> None:
    app = replay_app(runs=slice(1, 2))
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = THEMES[theme]
        await pilot.pause()
        variables = app.get_css_variables()
        background = variables["surface"]
        assert _contrast(variables["node-downstream"], background) >= 4.5
        assert _contrast(variables["node-upstream"], background) >= 3.0
        for name in [n for n in LIGHT_NODE_STATE_COLOURS if n != "dag-cursor"]:  # every text colour reads on the DAG
            assert _contrast(variables[name], background) >= 4.5, (theme, name)


def test_failure_root_cause_points_at_the_users_frame(tmp_path: Path) -> None:
    import types

    import pandas

    from tui.widgets import panels

    user = tmp_path / "pipe.py"
    user.write_text("def node(frame):\n    return frame.loc['nope']\n")
    lib = Path(pandas.__file__).parent / "core" / "indexing.py"
    tb = (f'Traceback (most recent call last):\n  File "{user}", line 2, in node\n    return frame.loc[\'nope\']\n'
          f'  File "{lib}", line 1191, in __getitem__\n    return self._getitem_axis(maybe_callable, axis=axis)\n'
          "KeyError: 'nope'\n")
    failure = types.SimpleNamespace(node="node", error_type="KeyError", error="'nope'", traceback=tb,
                                    file=str(user), line=1)
    model = types.SimpleNamespace(failure=failure, last_failed=True, changed_lines=lambda f: set())
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(panels.failure(model))
    text = console.export_text()
    cause = text.split("probable root cause", 1)[1].splitlines()[0]
    assert "pipe.py:2" in cause and "indexing.py" not in cause


async def test_a_startup_error_shows_in_the_main_view() -> None:
    import time

    from engine import events as ev

    app = replay_app(runs=slice(1, 2))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.controller.buffer.push(ev.Message("r1", time.time(), level="error",
                                              text="missing inputs: revenu (needed by margin)",
                                              file="shop/calc.py", line=4))
        app._tick()
        await pilot.pause()
        header = str(app.query_one("#status").render())
        assert "missing inputs: revenu" in header
        assert app.query_one("#side", TabbedContent).active != "tab-log"


async def test_watch_state_stays_whole_at_80_columns() -> None:
    from tui.widgets import panels

    app = replay_app(runs=slice(1, 2))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.model.pipeline = "demo_pipeline"
        first = panels.header_text(app.model, 1000.0, width=80).plain.splitlines()[0]
        assert len(first) <= 80 and first.rstrip().endswith("watch off"), first
        wide = panels.header_text(app.model, 1000.0, width=120).plain.splitlines()[0]
        assert "lifetime" in wide


async def test_names_are_not_cut_at_80x24_when_there_is_room() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "visual"))
    from visual_support import demo_app, screen_text

    app = demo_app(runs=slice(0, 1))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "weekly_store_sales" in text and "revenue_rolling_13w" in text
        assert "revenue_rolli…" not in text


async def test_side_panel_does_not_clip_source_lines_at_120x40() -> None:
    app = replay_app(runs=slice(2, 3))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = "\n".join("".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips())
        assert "range(30)]" in text, text  # the end of orders()' long return line, wrapped instead of cut
