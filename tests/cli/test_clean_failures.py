"""Every failure is a clean one: reported with its node, exit status right, ``--json`` one document.

Cases that depend on real file descriptors and signals run ``python -m engine.cli`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).parents[2]


@pytest.fixture(autouse=True)
def _own_key_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def ripple(*argv: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "1"}
    return subprocess.run([sys.executable, "-m", "engine.cli", *argv], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120, **kw)


def test_exception_whose_str_raises_is_reported_with_its_node(pipeline, capsys) -> None:
    path = pipeline(
        "class Nasty(Exception):\n"
        "    def __str__(self):\n"
        "        raise RuntimeError('no str for you')\n\n"
        "def a() -> int:\n    return 1\n\n"
        "def b(a: int) -> int:\n    raise Nasty()\n"
    )
    assert main(["run", path, "--json", "--no-cache"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["node"] == "b" and doc["error"]["type"] == "Nasty"
    assert "__str__ raised RuntimeError" in doc["error"]["message"]
    assert main(["run", path, "--no-cache"]) == 1
    err = capsys.readouterr()
    assert "internal error" not in err.out + err.err and "b" in err.out + err.err


def test_json_stdout_stays_one_document_below_python(tmp_path: Path, pipeline) -> None:
    path = pipeline(
        "import os, subprocess, sys\n\n"
        "def noisy() -> int:\n"
        "    os.write(1, b'raw fd write\\n')\n"
        "    subprocess.run([sys.executable, '-c', 'print(\"from a subprocess\")'], check=True)\n"
        "    print('plain print')\n"
        "    return 3\n"
    )
    out = ripple("run", path, "--json", "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # exactly one document, nothing else
    assert doc["status"] == "ok" and doc["outputs"] == {"noisy": "3"}
    for text in ("raw fd write", "from a subprocess", "plain print"):
        assert text in out.stderr


def test_relative_cache_dir_survives_a_node_that_changes_directory(tmp_path: Path, pipeline) -> None:
    path = pipeline(
        "import os\n\n"
        "def a() -> int:\n    os.chdir('/')\n    return 1\n\n"
        "def b(a: int) -> int:\n    return a + 1\n"
    )
    first = ripple("run", path, "--json", "--cache-dir", "rel-cache", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "damaged" not in first.stderr
    second = ripple("run", path, "--json", "--cache-dir", "rel-cache", cwd=tmp_path)
    doc = json.loads(second.stdout)
    assert {n["status"] for n in doc["nodes"]} == {"cached"}
    assert (tmp_path / "rel-cache" / "meta.sqlite").is_file()


def test_keyboard_interrupt_raised_by_a_node_is_a_node_failure(tmp_path: Path, pipeline) -> None:
    path = pipeline(
        "def a() -> int:\n    return 1\n\n"
        "def b(a: int) -> int:\n    raise KeyboardInterrupt\n\n"
        "def c(a: int) -> int:\n    return a\n"
    )
    out = ripple("run", path, "--json", "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["error"]["node"] == "b" and doc["error"]["type"] == "KeyboardInterrupt"
    assert {n["name"]: n["status"] for n in doc["nodes"]}["c"] == "ran"


def test_real_ctrl_c_exits_130_and_json_still_prints_its_document(tmp_path: Path, pipeline) -> None:
    marker = tmp_path / "started"
    path = pipeline(
        "import time\n"
        f"MARK = {str(marker)!r}\n\n"
        "def a() -> int:\n    return 1\n\n"
        "def slow(a: int) -> int:\n"
        "    open(MARK, 'w').close()\n"
        "    time.sleep(60)\n"
        "    return a\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", path, "--json", "--cache-dir",
                             str(tmp_path / "c")], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60  # a bound on waiting, not a speed assertion
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.stderr.read() if proc.poll() is not None else "node never started"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["status"] == "cancelled"
    assert {n["name"]: n["status"] for n in doc["nodes"]}.get("a") == "ran"
    assert "interrupted" in err


def test_missing_input_names_the_node_file_and_line(pipeline, capsys) -> None:
    path = pipeline("def a() -> int:\n    return 1\n\n\ndef needs(a: int, threshold: float) -> float:\n"
                    "    return a * threshold\n")
    assert main(["run", path, "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "missing inputs: threshold (needed by needs)" in err
    assert f"needs at {path}:5" in err


@pytest.mark.parametrize("crash", ["os._exit(3)", "ctypes.string_at(0)"], ids=["os._exit", "segfault"])
def test_isolate_turns_a_process_crash_into_a_failed_node(tmp_path: Path, pipeline, crash: str) -> None:
    path = pipeline(
        "import ctypes, os\n\n"
        "def a() -> int:\n    return 1\n\n"
        f"def boom(a: int) -> int:\n    {crash}\n    return a\n"
    )
    out = ripple("run", path, "--isolate", "--json", "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == "failed" and doc["error"]["node"] == "boom" and doc["error"]["type"] == "Crash"
    assert {n["name"]: n["status"] for n in doc["nodes"]} == {"a": "ran", "boom": "failed"}
    again = ripple("run", path, "--isolate", "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert again.returncode == 1 and "boom" in again.stdout and "Traceback" not in again.stderr
    assert "cached  a" in again.stdout  # what finished before the crash was kept
