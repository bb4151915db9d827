"""Issue 14, messages: did-you-mean for a mistyped parameter, the ``@config.when`` hint, the missing
``@extract_columns`` column, ``os._exit`` naming the node, descriptions and per-command help,
``tui`` without a terminal, folder pipelines and the watch-mode wording."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import build_parser


def ripple(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "1"}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)


def test_mistyped_parameter_gets_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text("def revenue() -> float:\n    return 1.0\n\n"
                                   "def margin(revenu: float) -> float:\n    return revenu\n")
    r = ripple("run", "p.py", "--no-cache", cwd=tmp_path)
    assert r.returncode == 2
    assert "missing inputs: revenu (needed by margin) (did you mean the node 'revenue'?)" in r.stderr


def test_config_when_hidden_node_says_which_config_enables_it(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text("from engine import config\n\n@config.when(method='ewm')\n"
                                   "def trend__ewm() -> int:\n    return 1\n\ndef base() -> int:\n    return 2\n")
    for args in (["run", "p.py", "--outputs", "trend"], ["run", "p.py", "--select", "trend"],
                 ["show", "p.py", "trend"]):
        r = ripple(*args, "--no-cache", cwd=tmp_path) if args[0] == "run" else ripple(*args, cwd=tmp_path)
        assert r.returncode == 2, args
        assert "@config.when leaves it out" in r.stderr and "--config method=ewm enables it" in r.stderr, r.stderr
    assert ripple("run", "p.py", "--no-cache", "--config", "method=ewm", "--outputs", "trend",
                  cwd=tmp_path).returncode == 0


def test_extract_columns_missing_column_is_named(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text("import pandas as pd\nfrom engine import extract_columns\n\n"
                                   "@extract_columns('a', 'zz')\ndef frame() -> pd.DataFrame:\n"
                                   "    return pd.DataFrame({'a': [1], 'b': [2]})\n")
    r = ripple("run", "p.py", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1
    assert "column 'zz' is missing from the DataFrame returned by frame() (it has a, b)" in r.stderr


def test_os_exit_in_a_node_names_the_node(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text("import os\n\ndef a() -> int:\n    return 1\n\n"
                                   "def dies(a: int) -> int:\n    os._exit(3)\n")
    for extra in ([], ["-j", "2"]):
        r = ripple("run", "p.py", "--no-cache", *extra, cwd=tmp_path)
        assert r.returncode == 3
        assert "node dies called os._exit(3)" in r.stderr and "--isolate" in r.stderr


def _subparsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sp in action.choices.items():
                yield (*path, name), sp
                yield from _subparsers(sp, (*path, name))


def test_every_command_has_a_description() -> None:
    missing = [" ".join(p) for p, sp in _subparsers(build_parser()) if not sp.description]
    assert missing == []


def test_plan_help_offers_only_what_plan_uses() -> None:
    plan = dict(_subparsers(build_parser()))[("plan",)]
    flags = {s for a in plan._actions for s in a.option_strings}
    assert "--executor" not in flags and "--max-size" not in flags and "--verbose" not in flags
    assert {"--select", "--exclude", "--outputs", "--config"} <= flags


def test_tui_refuses_json_and_needs_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text("def a() -> int:\n    return 1\n")
    r = ripple("tui", "p.py", "--json", cwd=tmp_path)
    assert r.returncode == 2 and "has no --json output" in r.stderr
    r = ripple("tui", "p.py", cwd=tmp_path)  # stdin/stdout are pipes: refuse at once, do not hang
    assert r.returncode == 2 and "needs a terminal" in r.stderr


@pytest.mark.parametrize("how", ["name", "relative", "dot"])
def test_folder_pipeline_without_init_imports_the_same_way(tmp_path: Path, how: str) -> None:
    shop = tmp_path / "proj" / "shop"
    shop.mkdir(parents=True)
    (shop / "util.py").write_text("def _double(x):\n    return 2 * x\n")
    (shop / "nodes.py").write_text("from util import _double\n\ndef base() -> int:\n    return 3\n\n"
                                   "def doubled(base: int) -> int:\n    return _double(base)\n")
    cwd, spec = {"name": (shop.parent, "shop"), "relative": (tmp_path, "proj/shop"), "dot": (shop, ".")}[how]
    r = ripple("run", spec, "--no-cache", "--json", cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert '"doubled": "6"' in r.stdout


def test_watch_comment_only_save_says_no_node_changed(tmp_path: Path) -> None:
    from engine.live.watcher import Watcher

    (tmp_path / "nodes.py").write_text("def a() -> int:\n    return 1\n")
    w = Watcher(str(tmp_path / "nodes.py"), lambda cs: None)
    w.analyze([str(tmp_path / "nodes.py")])
    (tmp_path / "nodes.py").write_text("def a() -> int:\n    # a comment\n    return 1\n")
    cs = w.analyze([str(tmp_path / "nodes.py")])
    assert cs is not None and "no node changed" in cs.summary and not cs.should_run


def test_a_save_cancelling_a_run_says_so(tmp_path: Path) -> None:
    """The outcome of a run a save cancelled reads "cancelled by a save", not "stopped by user"."""
    import time

    from engine.live.loop import WatchLoop
    from engine.live.protocol import RunRequest

    (tmp_path / "slow.py").write_text("import time\n\ndef a() -> int:\n    time.sleep(30)\n    return 1\n")
    from engine import events as ev

    events: list = []
    loop = WatchLoop(RunRequest(pipeline=str(tmp_path / "slow.py"), no_cache=True, cwd=str(tmp_path)),
                     events.append, debounce=0.05)
    try:
        loop.start()
        deadline = time.time() + 30
        while not any(isinstance(e, ev.NodeStarted) for e in events) and time.time() < deadline:
            time.sleep(0.05)
        # a real save: the watcher's change set triggers the cancel
        (tmp_path / "slow.py").write_text("import time\n\ndef a() -> int:\n    time.sleep(30)\n    return 2\n")
        deadline = time.time() + 30
        while not loop.outcomes and time.time() < deadline:
            time.sleep(0.05)
        assert loop.outcomes and loop.outcomes[0].status == "cancelled"
        assert loop.outcomes[0].reason == "cancelled by a save"
        finished = [e for e in events if isinstance(e, ev.RunFinished) and e.status == "cancelled"]
        assert finished and finished[0].error == "cancelled by a save"
        skipped = [e for e in events if isinstance(e, ev.NodeSkipped)]
        assert skipped and skipped[0].reason == "run cancelled by a save"
    finally:
        loop.stop()
