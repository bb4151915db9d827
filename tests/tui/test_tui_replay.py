"""Replay-driven dashboard tests: deterministic screens from recorded engine events.

The fixture ``tests/fixtures/tui_shop.jsonl`` holds the graph and three real runs of the small ``shop``
pipeline below (failed → resumed after the fix → all cached). Regenerate it with
``python tests/tui/test_tui_replay.py --record`` (it runs the real engine in child processes).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from engine import events as ev
from tui.app import RippleApp, create_app
from tui.backend.replay import ReplayController, load_recording
from tui.recording import screen_text, settle
from tui.state.graph import GraphInfo, NodeInfo, critical_path
from tui.state.run_model import CACHED, FAILED, RAN, RunModel

FIXTURE = Path(__file__).parent / "fixtures" / "tui_shop.jsonl"

LOAD_PY = '''"""Raw inputs of the shop pipeline."""


def orders() -> list[dict]:
    return [{"id": i, "store": "s%d" % (i % 3), "qty": i % 5 + 1} for i in range(30)]


def stores() -> dict:
    return {"s0": "north", "s1": "south", "s2": "east"}


def prices() -> dict:
    return {"s0": 2.5, "s1": 3.0, "s2": 4.0}
'''

CALC_PY = '''"""Transformations of the shop pipeline."""


def clean_orders(orders: list[dict]) -> list[dict]:
    return [o for o in orders if o["qty"] > 0]


def joined(clean_orders: list[dict], stores: dict) -> list[dict]:
    return [{**o, "region": stores[o["store"]]} for o in clean_orders]


def revenue(joined: list[dict], prices: dict) -> dict:
    out: dict = {}
    for row in joined:
        out[row["region"]] = out.get(row["region"], 0) + row["qty"] * prices[row["shop"]]
    return out


def summary(revenue: dict) -> str:
    return ", ".join(f"{k}={v:.1f}" for k, v in sorted(revenue.items()))


def report(summary: str, joined: list[dict]) -> str:
    return f"{len(joined)} orders: {summary}"
'''

CALC_FIXED = CALC_PY.replace('prices[row["shop"]]', 'prices[row["store"]]')


def write_shop(root: Path, calc: str = CALC_PY) -> Path:
    pkg = root / "shop"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text('"""A tiny shop pipeline."""\n')
    (pkg / "load.py").write_text(LOAD_PY)
    (pkg / "calc.py").write_text(calc)
    return pkg


def record_fixture(out: Path = FIXTURE) -> None:
    """Three real isolated runs: the bug, the resume after the fix, and a fully cached re-run."""
    import json
    import threading

    from engine.live.isolated import IsolatedRun
    from engine.live.protocol import RunRequest
    from tui.backend.controller import Settings, dump_graph
    from tui.backend.replay import GRAPH_TYPE

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_shop(root)
        lines: list[str] = []
        lock = threading.Lock()

        def keep(e: ev.Event) -> None:
            if isinstance(e, ev.Message) and e.level in ("graph", "files", "output"):
                return
            with lock:
                lines.append(e.to_json())

        for calc in (CALC_PY, CALC_FIXED, CALC_FIXED):
            (root / "shop" / "calc.py").write_text(calc)
            run = IsolatedRun(RunRequest("shop", cwd=str(root), cache_dir=str(root / ".ripple")), keep)
            run.start()
            run.wait(60)
        graph = dump_graph(Settings("shop", cwd=str(root), cache_dir=str(root / ".ripple"))).graph
        assert graph is not None
        doc = graph.to_dict()
        doc["store_dir"] = ""
        for n in doc["nodes"]:
            n["file"] = "shop/" + Path(n["file"]).name
        doc["versions"] = {}
        out.write_text(json.dumps({"type": GRAPH_TYPE, **doc}) + "\n" + "\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------- helpers


@pytest.fixture
def shop_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The recorded graph names ``shop/*.py``: put the (fixed) sources there so Details can show them."""
    write_shop(tmp_path, CALC_FIXED)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def replay_app(*, autoplay: bool | int = True, runs: slice | None = None, **kwargs: Any) -> RippleApp:
    graph, recorded = load_recording(FIXTURE)
    assert graph is not None
    if runs is not None:
        recorded = recorded[runs]
    controller = ReplayController(recorded, graph=graph, autoplay=autoplay, **kwargs)
    return create_app(graph, controller=controller, clock=lambda: 1000.0, animations=False)


# --------------------------------------------------------------------------------------- model tests


def test_recording_has_three_runs() -> None:
    graph, runs = load_recording(FIXTURE)
    assert graph is not None and graph.order[:3] == ["orders", "stores", "prices"] or graph is not None
    assert [r[-1].status for r in runs] == ["failed", "ok", "ok"]


def test_model_reduces_runs() -> None:
    graph, runs = load_recording(FIXTURE)
    model = RunModel("shop", graph)
    for run in runs[:2]:
        for e in run:
            model.apply(e, 0.0)
    assert model.state_of("revenue").state == RAN
    assert model.state_of("joined").state == CACHED
    assert model.run_state == "ok" and not model.last_failed


def test_failure_gates_resume_in_model() -> None:
    graph, runs = load_recording(FIXTURE)
    model = RunModel("shop", graph)
    for e in runs[0]:
        model.apply(e, 0.0)
    assert model.state_of("revenue").state == FAILED
    assert model.failure is not None and model.failure.error_type == "KeyError"
    assert model.last_failed and not model.running


def test_critical_path_follows_the_slowest_chain() -> None:
    g = GraphInfo([NodeInfo("a"), NodeInfo("b", deps=("a",)), NodeInfo("c", deps=("a",)), NodeInfo("d", deps=("b", "c"))])
    path, total = critical_path(g, {"a": 1.0, "b": 5.0, "c": 1.0, "d": 1.0})
    assert path == ["a", "b", "d"] and total == 7.0


# --------------------------------------------------------------------------------------- pilot tests


async def test_replay_failure_enables_resume(shop_sources: Path) -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.model.run_state == "failed"
        assert app.can_resume
        assert not app.query_one("#resume").disabled
        assert app.query_one("#side").active == "tab-failure"
        assert app.query_one("DagView").selected == "revenue"
        await pilot.press("R")
        await settle(pilot)
        assert ("resume", None) in app.controller.calls
        assert app.model.run_state == "ok"
        assert app.query_one("#resume").disabled
        assert app.model.state_of("joined").state == CACHED
        assert app.model.state_of("revenue").state == RAN


async def test_resume_key_is_inert_without_failure(shop_sources: Path) -> None:
    graph, runs = load_recording(FIXTURE)
    app = replay_app(runs=slice(1, 3))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.model.run_state == "ok"
        assert app.check_action("resume", ()) is None
        await pilot.press("R")
        await settle(pilot)
        assert ("resume", None) not in app.controller.calls


async def test_filter_and_keys(shop_sources: Path) -> None:
    app = replay_app(runs=slice(1, 2))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        dag = app.query_one("DagView")
        await pilot.press("slash")
        await pilot.press(*"state:ran")
        await pilot.pause()
        shown = [r.key for r in dag.rows if r.kind == "node"]
        assert shown and all(app.model.state_of(n).state == RAN for n in shown)
        await pilot.press("escape")
        await pilot.pause()
        assert len([r for r in dag.rows if r.kind == "node"]) == len(app.model.graph)
        await pilot.press("down", "down")
        assert dag.selected is not None
        up, down = app.model.graph.lineage(dag.selected)
        assert dag._upstream == up and dag._downstream == down
        await pilot.press("w")
        await settle(pilot)
        assert app.model.watching and ("watch", True) in app.controller.calls
        await pilot.press("x")
        assert ("run", [dag.selected]) in app.controller.calls
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")


async def test_palette_jumps_to_node(shop_sources: Path) -> None:
    app = replay_app(runs=slice(2, 3))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.jump_to("summary")
        await pilot.pause()
        assert app.query_one("DagView").selected == "summary"
        text = screen_text(app)
        assert "summary" in text


async def test_fold_module(shop_sources: Path) -> None:
    app = replay_app(runs=slice(2, 3))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        dag = app.query_one("DagView")
        before = len(dag.rows)
        await pilot.press("f")
        await pilot.pause()
        assert len(dag.rows) < before
        await pilot.press("enter")
        await pilot.pause()
        assert len(dag.rows) == before


async def test_burst_is_coalesced() -> None:
    """10,000 events in one tick: one drain, bounded log writes, rows repainted once."""
    names = [f"n{i}" for i in range(2000)]
    graph = GraphInfo([NodeInfo(n, module=f"m{i // 500}", deps=(names[i - 1],) if i else ()) for i, n in enumerate(names)])
    events: list[Any] = [ev.RunStarted("r", 0.0, nodes=names)]
    for i in range(10_000):
        n = names[i % 2000]
        events.append(ev.NodeStarted("r", 0.0, node=n) if i % 2 == 0 else ev.NodeFinished("r", 0.0, node=n, seconds=0.01))
    controller = ReplayController([events], graph=graph)
    app = create_app(graph, controller=controller, clock=lambda: 5.0, animations=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.model.done_total()[0] > 0
        assert len(app.query_one("#log").lines) <= 2000


async def test_drain_tick_during_shutdown_is_harmless() -> None:
    """A drain tick can land while Textual prunes the screen widget by widget (seen once in CI: the
    header was gone, the DAG not yet): once the app is exiting, a tick must not touch widgets."""
    graph = GraphInfo([NodeInfo("a"), NodeInfo("b", deps=("a",))])
    events = [ev.RunStarted("r", 0.0, nodes=["a", "b"]), ev.NodeStarted("r", 0.0, node="a")]
    app = create_app(graph, controller=ReplayController([events], graph=graph), clock=lambda: 5.0, animations=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.model.running  # so every tick repaints the header and the spinners
        ticks = app.ticks
        app._drain_timer.pause()  # only the tick below may run while the header is gone
        await app.query_one("#status").remove()  # as a half-done prune leaves it
        app.exit()
        app._tick()
        assert app.ticks == ticks


if __name__ == "__main__" and "--record" in sys.argv:
    record_fixture()
    print(f"wrote {FIXTURE}")
    asyncio.run(asyncio.sleep(0))
