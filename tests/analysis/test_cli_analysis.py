"""``ripple profile``, the honest ``ripple plan``, the run summary, ``ripple runs`` columns,
``--status`` and ``runs diff``: text and ``--json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.cli import main

PIPE = '''
def base(x: int) -> int:
    return x % 2


def _work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def heavy(base: int) -> int:
    return _work(200000) + base


def checked(heavy: int, fail: bool = False) -> int:
    if fail:
        raise ValueError("boom")
    return heavy
'''


@pytest.fixture
def pipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "clianalysis.py").write_text(PIPE)
    return "clianalysis.py"


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_profile_needs_cached_inputs_then_names_functions_and_lines(pipe, capsys) -> None:
    assert main(["profile", pipe, "heavy", "--input", "x=1"]) == 2
    err = capsys.readouterr().err
    assert "inputs of heavy are not cached yet (base)" in err and f"ripple run {pipe} --outputs base" in err
    assert main(["run", pipe, "--input", "x=1", "--outputs", "base"]) == 0
    capsys.readouterr()
    runs_before = _json(capsys, "runs", "--json")[1]
    code, doc = _json(capsys, "profile", pipe, "heavy", "--input", "x=1", "--json", "--no-pyinstrument")
    assert _json(capsys, "runs", "--json")[1] == runs_before  # a profile records no run
    assert code == 0 and doc["node"] == "heavy" and doc["pyinstrument"] is None
    funcs = {f["function"]: f for f in doc["functions"]}
    assert funcs["_work"]["project"] and funcs["_work"]["calls"] == 1
    assert doc["lines"][0]["code"] in ("total += i * i % 7", "return _work(200000) + base", "for i in range(n):")
    assert {h["code"] for h in doc["lines"]} >= {"total += i * i % 7", "return _work(200000) + base"}
    assert main(["profile", pipe, "heavy", "--input", "x=1"]) == 0
    out = capsys.readouterr().out
    assert "hottest lines" in out and "_work" in out and "call tree (pyinstrument)" in out


def test_profile_unknown_node_is_a_usage_error(pipe, capsys) -> None:
    assert main(["profile", pipe, "nope"]) == 2
    assert "unknown node 'nope'" in capsys.readouterr().err


def test_a_node_that_raises_under_the_profiler_is_a_failed_node(pipe, capsys) -> None:
    assert main(["run", pipe, "--input", "x=1", "--outputs", "heavy"]) == 0
    capsys.readouterr()
    assert main(["profile", pipe, "checked", "--input", "x=1", "--input", "fail=true"]) == 1
    err = capsys.readouterr().err
    assert "checked (" in err and "failed while profiled: ValueError: boom" in err and "Traceback" not in err


def test_plan_then_run_agree_and_the_summary_compares_them(pipe, capsys) -> None:
    code, run = _json(capsys, "run", pipe, "--input", "x=1", "--json")
    pred = run["prediction"]
    assert code == 0 and {k: pred[k] for k in ("will_run", "may_run", "hit", "ran", "surprises")} == {
        "will_run": 3, "may_run": 0, "hit": 0, "ran": 3, "surprises": []}
    assert pred["estimate_seconds"] == 0.0 and pred["ran_seconds"] > 0  # no history yet to estimate from
    code, plan = _json(capsys, "plan", pipe, "--input", "x=1", "--json")
    assert plan["summary"]["will_run"] == 0 and plan["summary"]["hit"] == 3
    code, plan = _json(capsys, "plan", pipe, "--input", "x=3", "--json")  # same base value: early cutoff
    rows = {n["name"]: n for n in plan["nodes"]}
    assert rows["base"]["will"] == "run" and rows["heavy"]["will"] == "may run"
    assert rows["heavy"]["estimate_seconds"] > 0 and plan["summary"]["estimate_max_seconds"] > 0
    assert main(["plan", pipe, "--input", "x=3"]) == 0
    out = capsys.readouterr().out
    assert "will run" in out and "may run" in out and "1 will run, 2 may run, 0 cached; estimated" in out
    assert main(["run", pipe, "--input", "x=3"]) == 0
    out = capsys.readouterr().out
    assert "plan: 1 will run, 2 may run, 0 cached (est. " in out and "; 1 ran in " in out


def test_runs_columns_status_filter_and_diff(pipe, capsys) -> None:
    _json(capsys, "run", pipe, "--input", "x=1", "--json")
    code, failed = _json(capsys, "run", pipe, "--input", "x=1", "--input", "fail=true", "--json")
    assert code == 1
    code, runs = _json(capsys, "runs", "--json")
    assert [r["status"] for r in runs] == ["failed", "ok"]
    assert runs[0]["failed_node"] == "checked" and runs[1]["failed_node"] is None
    assert runs[0]["pipeline"] and runs[0]["outputs"] == ["checked"]
    code, only = _json(capsys, "runs", "--status", "failed", "--json")
    assert [r["run_id"] for r in only] == [failed["run_id"]]
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "failed node" in out and "pipeline" in out and "outputs" in out and "checked" in out
    ok_id, failed_id = runs[1]["run_id"], runs[0]["run_id"]
    code, diff = _json(capsys, "runs", "diff", ok_id, failed_id, "--json")
    changed = {c["node"]: c for c in diff["changed"]}
    assert set(changed) == {"checked", "heavy", "base"} or set(changed) >= {"checked"}
    assert changed["checked"]["status_a"] == "ran" and changed["checked"]["status_b"] == "failed"
    assert "decision" in changed["checked"]["changes"] and "inputs" in changed["checked"]["changes"]
    assert main(["runs", "diff", ok_id[:6], "last"]) == 0
    out = capsys.readouterr().out
    assert "checked" in out and "decision" in out
    assert main(["runs", "diff", ok_id]) == 2
    assert "needs two run ids" in capsys.readouterr().err


def test_no_cache_dir_for_runs_diff(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RIPPLE_CACHE_DIR", os.fspath(tmp_path / "none"))
    assert main(["runs", "diff", "a", "b"]) == 2
    assert "no cache at" in capsys.readouterr().err


def test_runs_bottlenecks_ranks_and_counts_what_the_cache_saved(pipe, capsys) -> None:
    _json(capsys, "run", pipe, "--input", "x=1", "--json")
    code, cold = _json(capsys, "runs", "bottlenecks", "--json")
    assert code == 0 and cold["ranking"][0]["node"] == "heavy" and cold["ranking"][0]["critical"]
    assert cold["critical_path"]["nodes"] == ["base", "heavy", "checked"]
    assert cold["saved_this_run"] == 0.0
    _json(capsys, "run", pipe, "--input", "x=1", "--json")  # all hits
    code, warm = _json(capsys, "runs", "bottlenecks", "last", "--json")
    heavy = next(r for r in cold["ranking"] if r["node"] == "heavy")["seconds"]
    assert warm["ranking"] == [] and warm["saved_this_run"] >= heavy * 0.99
    assert warm["saved_total"] == pytest.approx(warm["saved_this_run"])
    assert main(["runs", "bottlenecks", cold["run_id"]]) == 0
    out = capsys.readouterr().out
    assert "critical path" in out and "parallel execution could save" in out and "cache saved" in out
