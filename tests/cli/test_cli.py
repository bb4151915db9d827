"""The ``ripple`` command line: ``--json`` shape, exit codes, one-line errors, help and ``graph``.

Most cases call ``engine.cli.main`` in-process (fast); a few run real subprocesses to prove the
installed entry point behaves the same and never prints a traceback for user errors. ``--no-cache``
is passed wherever the cache is not the point.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import build_parser, main

OK = """
def base(x: int) -> int:
    return x + 1

def doubled(base: int) -> int:
    return base * 2

def label(doubled: int, name: str = "n") -> str:
    return f"{name}={doubled}"
"""

FAILING = """
def base(x: int) -> int:
    return x

def broken(base: int) -> int:
    raise ValueError("bad value " + str(base))

def after(broken: int) -> int:
    return broken

def fine(base: int) -> int:
    return base
"""

FANOUT = """
from engine import Collect, Parallelizable

def items(n: int) -> Parallelizable[int]:
    yield from range(n)

def sq(items: int) -> int:
    return items * items

def total(sq: Collect[int]) -> int:
    return sum(sq)
"""


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_run_json_success(capsys, pipeline):
    code, doc = run_json(capsys, "run", pipeline(OK), "--json", "--no-cache", "--input", "x=4")
    assert code == 0
    assert doc["status"] == "ok" and isinstance(doc["run_id"], str) and doc["run_id"]
    assert [(n["name"], n["status"]) for n in doc["nodes"]] == [("base", "ran"), ("doubled", "ran"), ("label", "ran")]
    assert all(isinstance(n["seconds"], float | int) and n["seconds"] >= 0 for n in doc["nodes"])
    assert doc["outputs"] == {"label": "n=10"}  # the input was typed as int by its annotation


def test_run_json_outputs_config_and_executor(capsys, pipeline):
    path = pipeline(OK)
    code, doc = run_json(capsys, "run", path, "--json", "--no-cache", "--input", "x=1", "--config", "name=cfg",
                         "--outputs", "doubled,label", "--executor", "threads")
    assert code == 0 and doc["outputs"] == {"doubled": "4", "label": "cfg=4"}
    code, doc = run_json(capsys, "run", path, "--json", "--no-cache", "--input", "x=1", "--outputs", "base")
    assert [n["name"] for n in doc["nodes"]] == ["base"]


def test_run_json_failure_exit_1(capsys, pipeline):
    path = pipeline(FAILING)
    code, doc = run_json(capsys, "run", path, "--json", "--no-cache", "--input", "x=2")
    assert code == 1 and doc["status"] == "failed"
    status = {n["name"]: n["status"] for n in doc["nodes"]}
    assert status == {"base": "ran", "broken": "failed", "after": "skipped", "fine": "ran"}
    assert set(status.values()) <= {"ran", "cached", "failed", "skipped"}
    assert doc["error"]["node"] == "broken" and doc["error"]["location"] == f"{path}:5"
    assert doc["error"]["type"] == "ValueError" and doc["error"]["message"] == "bad value 2"


def test_run_table_success_and_failure(capsys, pipeline):
    assert main(["run", pipeline(OK), "--no-cache", "--input", "x=1"]) == 0
    out = capsys.readouterr().out
    assert "doubled" in out and "3 ran" in out and "label: n=4" in out
    path = pipeline(FAILING)
    assert main(["run", path, "--no-cache", "--input", "x=1"]) == 1
    captured = capsys.readouterr()
    flat = "".join(captured.err.split())  # the failure and its traceback go to stderr
    assert "".join(f"node broken ({path}:5) failed: ValueError: bad value 1".split()) in flat
    assert 'raiseValueError("badvalue"+str(base))' in flat  # the user's traceback is shown
    assert "Traceback" not in captured.out and "FAILED" in captured.out  # stdout: the table and summary


def test_run_fan_out_json(capsys, pipeline):
    code, doc = run_json(capsys, "run", pipeline(FANOUT), "--json", "--no-cache", "--input", "n=4")
    assert code == 0 and doc["outputs"] == {"total": "14"}
    assert {n["name"]: n["status"] for n in doc["nodes"]} == {"items": "ran", "sq": "ran", "total": "ran"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "x=1", "--outputs", "nope"], "unknown output 'nope'"),
        ([], "missing inputs: x (needed by base)"),
        (["--input", "x"], "--input 'x' is not NAME=VALUE"),
        (["--input", "x=abc"], "'abc' is not a valid int"),
        (["--input", "x=1", "--config", "=3"], "--config '=3' is not NAME=VALUE"),
        (["--input", "x=1", "--executor", "warp"], "unknown executor 'warp'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, pipeline, argv, message):
    assert main(["run", pipeline(OK), "--no-cache", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ripple: error: ") and message in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_graph_errors_exit_2_with_location(capsys, pipeline, tmp_path):
    cyclic = pipeline("def a(b):\n    return b\n\n\ndef b(a):\n    return a\n")
    assert main(["run", cyclic, "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert f"{cyclic}:1: cycle a -> b -> a" in err or f"{cyclic}:5: cycle b -> a -> b" in err
    broken = pipeline("def a(x):\n    return x\n\ndef b(:\n")
    assert main(["run", broken, "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert f"{broken}:4: syntax error" in err and "Traceback" not in err
    assert main(["run", str(tmp_path / "missing.py"), "--no-cache"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["graph", "no_such_ripple_module_xyz"]) == 2
    assert "no pipeline module named 'no_such_ripple_module_xyz'" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["text", "list", "dot", "mermaid"])
def test_graph_formats(capsys, pipeline, fmt):
    assert main(["graph", pipeline(OK), "--format", fmt]) == 0
    out = capsys.readouterr().out
    expected = {
        "text": "│ doubled │",
        "list": "doubled <- base",
        "dot": '"base" -> "doubled";',
        "mermaid": "flowchart LR",
    }[fmt]
    assert expected in out and "label" in out


def test_graph_outputs_subset(capsys, pipeline):
    assert main(["graph", pipeline(OK), "--outputs", "doubled"]) == 0
    out = capsys.readouterr().out
    assert "doubled" in out and "label" not in out


def _subcommands() -> list[list[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    cmds = [[name] for name in sub.choices]
    cache = sub.choices["cache"]
    cache_sub = next(a for a in cache._actions if a.dest == "cache_command")
    cmds += [["cache", name] for name in cache_sub.choices]
    return cmds


@pytest.mark.parametrize("cmd", [[], *_subcommands()], ids=lambda c: " ".join(c) or "ripple")
def test_help_for_every_subcommand(capsys, cmd):
    with pytest.raises(SystemExit) as info:
        main([*cmd, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ripple") and "Exit status: 0 success, 1 a node failed, 2 usage" in out
    if cmd in (["run"], ["graph"]):
        assert "pipeline" in out and "--config" in out


def test_expected_subcommands_exist():
    assert {c[0] for c in _subcommands()} >= {"run", "graph", "plan", "watch", "tui", "cache", "runs"}


# ----------------------------------------------------------------------------- real subprocesses


def _ripple(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *argv], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def test_subprocess_run_json_and_errors(tmp_path):
    (tmp_path / "pipe_ok.py").write_text(OK)
    (tmp_path / "pipe_syntax.py").write_text("def a(x):\n    return x\n\ndef b(:\n")
    ok = _ripple("run", "pipe_ok.py", "--json", "--no-cache", "--input", "x=2", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["status"] == "ok" and {n["status"] for n in doc["nodes"]} == {"ran"}
    bad = _ripple("run", "pipe_syntax.py", "--no-cache", cwd=tmp_path)
    assert bad.returncode == 2
    assert "pipe_syntax.py:4: syntax error" in bad.stderr and "Traceback" not in bad.stderr
    missing = _ripple("run", "pipe_ok.py", "--no-cache", cwd=tmp_path)
    assert missing.returncode == 2 and "missing inputs: x" in missing.stderr and "Traceback" not in missing.stderr


def test_subprocess_node_failure_exit_1(tmp_path):
    (tmp_path / "pipe_fail.py").write_text(FAILING)
    res = _ripple("run", "pipe_fail.py", "--json", "--no-cache", "--input", "x=1", cwd=tmp_path)
    assert res.returncode == 1
    assert json.loads(res.stdout)["error"]["node"] == "broken"


def test_large_runs_list_only_what_did_not_hit(tmp_path, monkeypatch, capsys):
    from engine.cli import main

    lines = ["def n0() -> int:\n    return 0\n"]
    lines += [f"def n{i}(n{i - 1}: int) -> int:\n    return n{i - 1} + 1\n" for i in range(1, 60)]
    (tmp_path / "bigpipe.py").write_text("\n".join(lines))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "bigpipe.py", "--cache-dir", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    assert main(["run", "bigpipe.py", "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "60 cached nodes not listed" in out and "n30 " not in out
    assert main(["run", "bigpipe.py", "--cache-dir", str(tmp_path / "c"), "--verbose"]) == 0
    assert "n30 " in capsys.readouterr().out


@pytest.mark.parametrize("env", [{"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1"}])
def test_run_output_is_styled_exactly_where_rich_would_style_it(tmp_path, monkeypatch, capsys, env) -> None:
    # a pipe gets plain text without rich loaded; a terminal (here: forced) gets rich's styles
    pipe = tmp_path / "ok.py"
    pipe.write_text(OK)
    args = ["run", str(pipe), "--input", "x=1", "--no-cache"]
    for k in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        monkeypatch.delenv(k, raising=False)
    assert main(args) == 0
    plain = capsys.readouterr().out
    assert "\x1b[" not in plain and "OK in " in plain and "label: n=4" in plain
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(args) == 0
    styled = capsys.readouterr().out
    assert "\x1b[" in styled
    strip = __import__("re").compile(r"\x1b\[[0-9;]*m|[0-9.]+s\b").sub
    assert strip("", styled).splitlines()[-2:] == strip("", plain).splitlines()[-2:]  # the same words


def test_the_run_estimates_read_each_nodes_history_once(tmp_path, monkeypatch) -> None:
    from engine import Driver
    from engine.cli.run import _estimator

    pipe = tmp_path / "est_pipe.py"
    pipe.write_text(OK)
    dr = Driver({}, str(pipe)).with_cache(tmp_path / "c")
    dr.execute(["label"], inputs={"x": 1})
    reads: list[list[str]] = []
    real = dr.cache.store.node_histories
    monkeypatch.setattr(dr.cache.store, "node_histories", lambda names, *a, **k: reads.append(list(names)) or
                        real(names, *a, **k))
    estimate = _estimator(dr)
    first = estimate(["base", "doubled"])  # the plan line, when planning is over
    assert set(first) == {"base", "doubled"} and all(v >= 0 for v in first.values())
    assert estimate(["doubled", "base"]) == first  # the progress line, at the first node: no second read
    estimate(["label", "base"])
    assert reads == [["base", "doubled"], ["label"]]
    dr.cache.close()
