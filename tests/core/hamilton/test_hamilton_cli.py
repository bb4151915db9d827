"""A module that imports from ``hamilton`` runs unedited under ``ripple run`` and ``ripple watch``, and a
helper edit re-runs exactly the nodes that use it (Hamilton itself would serve a stale result).
Without Hamilton installed the same module fails with one sentence naming ``ripple[hamilton]``."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

NODES = '''\
from hamilton.function_modifiers import extract_fields, parameterize, pipe_input, step, value

from hpipe._util import bump


def base(n: int = 3) -> int:
    return n * 2


@parameterize(small={"k": value(1)}, large={"k": value(100)})
def scaled(base: int, k: int) -> int:
    return base * k


@pipe_input(step(bump))
def bumped(small: int) -> int:
    return small


@extract_fields({"lo": int, "hi": int})
def bounds(bumped: int, large: int) -> dict:
    return {"lo": min(bumped, large), "hi": max(bumped, large)}


def untouched(large: int) -> int:
    return large - 1
'''

UTIL = '''\
def bump(x: int) -> int:
    return x + 1
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    pkg = tmp_path / "hpipe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nodes.py").write_text(NODES)
    (pkg / "_util.py").write_text(UTIL)
    return tmp_path


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                PYTHONUNBUFFERED="1", **extra)


def _run(project: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "run", "hpipe", "--json", "--cache-dir",
                           str(project / ".ripple"), *args], cwd=project, capture_output=True, text=True, env=_env(),
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # a later mtime, whatever the clock


def _ran(doc: dict) -> set[str]:
    return {n["name"] for n in doc["nodes"] if n["status"] == "ran"}


def test_ripple_run_hamilton_module_and_helper_edit_reruns_exactly_its_users(project: Path):
    first = _run(project)
    assert first["status"] == "ok"
    assert {"base", "small", "large", "bumped", "bumped.with_bump", "lo", "hi", "untouched"} <= _ran(first)
    assert first["outputs"]["hi"] == "600" and first["outputs"]["lo"] == "7"
    assert _ran(_run(project)) == set()  # warm: all cached
    _edit(project / "hpipe" / "_util.py", "x + 1", "x + 5")
    third = _run(project)
    assert third["outputs"]["lo"] == "11"
    # the pipe step that calls bump, and what its value reaches; base/scaled/untouched stay cached
    assert _ran(third) == {"bumped.with_bump", "bumped", "bounds", "lo", "hi"}
    for command in ("plan", "graph"):
        proc = subprocess.run([sys.executable, "-m", "engine.cli", command, "hpipe", "--cache-dir",
                               str(project / ".ripple")], cwd=project, capture_output=True, text=True, env=_env(),
                              timeout=60)
        assert proc.returncode == 0 and "bumped.with_bump" in proc.stdout, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "lineage", "emit", "hpipe", "--print", "--cache-dir",
                           str(project / ".ripple")], cwd=project, capture_output=True, text=True, env=_env(),
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    jobs = {json.loads(line)["job"]["name"] for line in proc.stdout.splitlines() if line.startswith("{")}
    assert {"hpipe.bumped.with_bump", "hpipe.lo"} <= jobs, sorted(jobs)


def test_ripple_watch_hamilton_module_reruns_only_affected_nodes(project: Path):
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "watch", "hpipe", "--json", "--cache-dir",
                             str(project / ".ripple")], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(), text=True)
    lines: queue.Queue[dict] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()

    def until(pred: Callable[[dict], bool]) -> list[dict]:
        seen: list[dict] = []
        deadline = time.monotonic() + 30
        while True:
            d = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            seen.append(d)
            if pred(d):
                return seen

    try:
        first = until(lambda d: d["type"] == "run_finished")
        assert first[-1]["status"] == "ok"
        _edit(project / "hpipe" / "_util.py", "x + 1", "x + 5")
        second = until(lambda d: d["type"] == "run_finished")
        assert second[-1]["status"] == "ok"
        started = {d["node"] for d in second if d["type"] == "node_started"}
        assert "bumped.with_bump" in started
        assert not started & {"base", "small", "large", "untouched"}
    finally:
        proc.terminate()
        proc.wait(10)


def test_without_hamilton_installed_the_module_names_the_extra(project: Path):
    code = ("import sys; sys.modules['hamilton'] = None; from engine.cli import main; "
            "sys.exit(main(['run', 'hpipe', '--cache-dir', '.ripple']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, env=_env(),
                          timeout=60)
    assert proc.returncode == 2
    assert "pip install 'ripple[hamilton]'" in proc.stderr
    assert "nodes.py:1" in proc.stderr and "Traceback" not in proc.stderr
