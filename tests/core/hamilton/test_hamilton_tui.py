"""The dashboard runs a module that imports from ``hamilton``, unedited, in its isolated child."""

from __future__ import annotations

import time
from pathlib import Path

from test_hamilton_cli import NODES, UTIL

from tui.app import create_app
from tui.backend.controller import Settings
from tui.state.run_model import RAN


async def test_dashboard_runs_a_hamilton_module(tmp_path: Path) -> None:
    pkg = tmp_path / "hpipe_tui"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nodes.py").write_text(NODES.replace("hpipe._util", "hpipe_tui._util"))
    (pkg / "_util.py").write_text(UTIL)
    settings = Settings("hpipe_tui", cwd=str(tmp_path), cache_dir=str(tmp_path / ".ripple"), watch=False)
    app = create_app("hpipe_tui", settings=settings, animations=False)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 60
        while app.model.run_state != "ok":
            assert app.model.run_state != "failed" and time.monotonic() < deadline, app.model.run_state
            await pilot.pause(0.05)
        await pilot.pause()
        assert {"bumped.with_bump", "small", "large", "lo", "hi"} <= set(app.model.graph.order)
        assert app.model.state_of("bumped.with_bump").state == RAN
