"""``p`` in the dashboard: a real ``ripple profile`` child in a thread worker, the result in the
Bottlenecks tab and the hot lines marked in the Details source view (Pilot, injected clock)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console

from tui.app import create_app
from tui.backend.controller import Settings
from tui.backend.profiler import profile_in_child
from tui.backend.replay import ReplayController
from tui.state.graph import GraphInfo
from tui.widgets import panels

PIPE = '''
def base(n: int = 600000) -> list:
    return list(range(n))


def _work(xs):
    total = 0
    for x in xs:
        total += x * x % 7
    return total


def crunch(base: list) -> int:
    return _work(base) + _work(base)
'''


def _ripple(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def cached_pipe(tmp_path: Path) -> tuple[Path, GraphInfo]:
    (tmp_path / "tuiprof.py").write_text(PIPE)
    assert _ripple("run", "tuiprof.py", "--cache-dir", "c", cwd=tmp_path).returncode == 0
    graph = GraphInfo.from_dict(json.loads(_ripple("graph", "tuiprof.py", "--format", "json", "--cache-dir", "c",
                                                   cwd=tmp_path).stdout))
    return tmp_path, graph


def _text(renderable: object) -> str:
    console = Console(width=120, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


async def test_p_profiles_the_selected_node_in_a_worker(cached_pipe: tuple[Path, GraphInfo]) -> None:
    root, graph = cached_pipe
    settings = Settings("tuiprof.py", cache_dir="c", cwd=str(root))
    app = create_app(graph, controller=ReplayController([], graph=graph), clock=lambda: 1000.0, animations=False)
    calls: list[str] = []
    release = threading.Event()  # holds the worker until the "profiling" state has been checked

    def profiler(node: str):
        calls.append(node)
        release.wait(60)
        return profile_in_child(settings, node)

    app.profiler = profiler
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        from tui.widgets.dag_view import DagView

        app.query_one(DagView).select("crunch")
        for _ in range(200):  # a loaded machine may need more than one pause for the selection to land
            if app._selected_node() == "crunch":
                break
            await pilot.pause(0.02)
        await pilot.press("p")
        for _ in range(100):
            if app.model.profiling or app.model.profile:
                break
            await pilot.pause(0.02)
        assert app.model.profiling == "crunch", (app.model.profile, app._selected_node())
        assert "profiling crunch" in _text(panels.bottlenecks(app.model, 1000.0))
        assert app.check_action("profile", ()) is None  # one profile at a time
        release.set()
        for _ in range(600):  # the child imports and runs the node; wait for its message
            if app.model.profile is not None:
                break
            await pilot.pause(0.05)
        assert calls == ["crunch"]
        result = app.model.profile
        assert result is not None and not result.error, result.error
        assert app.model.profiling is None
        assert app.query_one("#side").active == "tab-bottlenecks"
        tab = _text(panels.bottlenecks(app.model, 1000.0))
        assert "profile crunch" in tab and "_work" in tab and "total += x * x % 7" in tab
        source = _text(panels.source(app.model, "crunch"))
        # crunch's own line calls _work: nearly all the time is spent under it
        assert "hot lines from the profile: 14 (" in source


async def test_profile_errors_are_shown_not_raised(tmp_path: Path) -> None:
    (tmp_path / "tuiprof2.py").write_text(PIPE)
    graph = GraphInfo.from_dict(json.loads(_ripple("graph", "tuiprof2.py", "--format", "json", cwd=tmp_path).stdout))
    settings = Settings("tuiprof2.py", cache_dir="nothing-here", cwd=str(tmp_path))
    app = create_app(graph, controller=ReplayController([], graph=graph), clock=lambda: 5.0, animations=False)
    app.profiler = lambda node: profile_in_child(settings, node)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        from tui.widgets.dag_view import DagView

        app.query_one(DagView).select("crunch")
        await pilot.press("p")
        for _ in range(600):
            if app.model.profile is not None:
                break
            await pilot.pause(0.05)
        assert app.model.profile.error
        text = _text(panels.bottlenecks(app.model, 5.0))
        assert "not cached yet" in text and "ripple run tuiprof2.py" in text
