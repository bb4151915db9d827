"""`ripple run` with the cache, `ripple plan`, `ripple cache ...`, `ripple runs`, settings and the
size budget — through the real CLI in real subprocesses where the process boundary matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main as _main


def main(argv: list[str]) -> int:
    """Like a fresh `ripple` process: the pipeline module is imported anew each time."""
    sys.modules.pop("clipipe", None)
    return _main(argv)

PIPE = '''
from pathlib import Path

def numbers(n: int = 200) -> list:
    return list(range(n))

def total(numbers: list) -> int:
    return sum(numbers)

def report(total: int, label: str = "sum") -> str:
    if label == "boom":
        raise ValueError("label must not be boom")
    return f"{label}={total}"
'''


@pytest.fixture
def proj(tmp_path, monkeypatch):
    (tmp_path / "clipipe.py").write_text(PIPE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("RIPPLE_CACHE_DIR", raising=False)
    return tmp_path


def run_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["run", "clipipe.py", "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def statuses(doc: dict) -> dict[str, str]:
    return {n["name"]: n["status"] for n in doc["nodes"]}


def test_run_caches_by_default_and_reports_why(proj, capsys):
    code, doc = run_json(capsys)
    assert code == 0 and set(statuses(doc).values()) == {"ran"}
    assert all(n["why"] == "no cached result" for n in doc["nodes"])
    assert (proj / ".ripple" / "meta.sqlite").exists()
    code, doc = run_json(capsys)
    assert set(statuses(doc).values()) == {"cached"}
    assert all(n["why"].startswith("unchanged since") for n in doc["nodes"])


def test_no_cache_recompute_and_cache_dir(proj, capsys, monkeypatch):
    run_json(capsys)
    _, doc = run_json(capsys, "--no-cache")
    assert set(statuses(doc).values()) == {"ran"}
    _, doc = run_json(capsys, "--recompute", "total")
    assert statuses(doc) == {"numbers": "cached", "total": "ran", "report": "cached"}
    assert main(["run", "clipipe.py", "--recompute", "nope"]) == 2
    _, doc = run_json(capsys, "--cache-dir", str(proj / "elsewhere"))
    assert set(statuses(doc).values()) == {"ran"}
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(proj / "elsewhere"))
    _, doc = run_json(capsys)
    assert set(statuses(doc).values()) == {"cached"}


def test_failure_fix_resume_through_the_cli(proj, capsys):
    code, doc = run_json(capsys, "--input", "label=boom")
    assert code == 1
    assert statuses(doc) == {"numbers": "ran", "total": "ran", "report": "failed"}
    assert doc["error"]["node"] == "report" and "clipipe.py" in doc["error"]["location"]
    code, doc = run_json(capsys, "--input", "label=fixed")
    assert code == 0
    assert statuses(doc) == {"numbers": "cached", "total": "cached", "report": "ran"}


def test_plan_command(proj, capsys):
    run_json(capsys)
    (proj / "clipipe.py").write_text(PIPE.replace("return sum(numbers)", "return sum(numbers) * 1"))
    assert main(["plan", "clipipe.py", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["nodes"]}
    assert rows["numbers"]["will"] == "hit"
    assert rows["total"]["will"] == "run" and "code changed" in rows["total"]["why"]
    assert rows["report"]["will"] == "may run"  # total may reproduce its value (early cutoff)


def test_cache_stats_ls_prune_clear_and_runs(proj, capsys):
    run_json(capsys)
    run_json(capsys, "--input", "n=10")
    assert main(["cache", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["entries"] == 6 and stats["runs"] == 2
    assert main(["cache", "ls", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert sorted(e["node"] for e in entries) == ["numbers", "numbers", "report", "report", "total", "total"]
    assert main(["runs", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    # prune with the pipeline: entries of a node whose code changed can never be used again
    (proj / "clipipe.py").write_text(PIPE.replace("return sum(numbers)", "return sum(numbers) + 0"))
    assert main(["cache", "prune", "clipipe.py", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == 2
    assert main(["cache", "prune", "--max-size", "1", "--json"]) == 0
    capsys.readouterr()
    assert main(["cache", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0
    assert main(["cache", "prune", "--max-size", "lots"]) == 2
    assert main(["cache", "clear"]) == 0


def test_cache_commands_without_a_store_say_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RIPPLE_CACHE_DIR", raising=False)
    assert main(["cache", "stats"]) == 2
    assert "no cache at" in capsys.readouterr().err


def test_size_budget_from_pyproject_evicts_cheapest_per_byte_first(proj, capsys):
    (proj / "pyproject.toml").write_text('[tool.ripple]\nmax_size = "2k"\ncache_dir = "store"\n')
    (proj / "clipipe.py").write_text(PIPE.replace("n: int = 200", "n: int = 20000"))
    run_json(capsys)
    assert (proj / "store").is_dir() and not (proj / ".ripple").exists()
    from engine.store import Store

    with Store(proj / "store") as s:
        assert s.stats().bytes <= 2048
        assert {e.node for e in s.ls()} >= {"total", "report"}  # the big list of numbers went first


def test_history_is_recorded_with_why(proj, capsys):
    run_json(capsys)
    run_json(capsys, "--input", "label=boom")
    from engine.store import Store

    with Store(proj / ".ripple") as s:
        runs = s.runs()
        assert [r.status for r in runs] == ["failed", "ok"]
        failed = s.last_node_run("report")
        assert failed.status == "failed" and "label must not be boom" in failed.error
        assert s.last_node_run("total").hit


def test_debug_log_names_each_decision(proj):
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stdout);"
            "sys.argv=['ripple','run','clipipe.py','--json']; from engine.cli import main; main(sys.argv[1:])")
    out = subprocess.run([sys.executable, "-c", code], cwd=proj, env=env, capture_output=True, text=True, timeout=60)
    # under --json fd 1 is stderr while the run lasts (stdout stays one JSON document), so a handler
    # the user pointed at stdout lands on stderr then
    assert "numbers: run (no cached result)" in out.stderr and json.loads(out.stdout)
    out = subprocess.run([sys.executable, "-c", code], cwd=proj, env=env, capture_output=True, text=True, timeout=60)
    assert "numbers: hit (unchanged since" in out.stderr and json.loads(out.stdout)


def test_demo_pipeline_hits_failure_fix_resume(tmp_path):
    """The demo through `ripple run` alone: cold, all cached, a failure, the fix (resume)."""
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "RIPPLE_CACHE_DIR": str(tmp_path / "c")}

    def ripple(*args: str) -> tuple[int, dict]:
        p = subprocess.run([sys.executable, "-m", "engine.cli", "run", "demo_pipeline", "--json", *args], cwd=repo,
                           env=env, capture_output=True, text=True, timeout=240)
        return p.returncode, json.loads(p.stdout)

    code, cold = ripple()
    assert code == 0 and set(statuses(cold).values()) == {"ran"}
    code, warm = ripple()
    assert code == 0 and set(statuses(warm).values()) == {"cached"}
    code, broken = ripple("--config", "holdout_region=Atlantis", "--config", "holdout_weeks=6")
    assert code == 1 and broken["error"]["node"] == "region_spotlight"
    s = statuses(broken)
    assert s["region_spotlight"] == "failed" and s["report"] == "skipped" and s["fitted_model"] == "ran"
    code, fixed = ripple("--config", "holdout_weeks=6")
    s = statuses(fixed)
    assert code == 0
    assert s["fitted_model"] == "cached" and s["region_spotlight"] == "ran" and s["report"] == "ran"
    assert all(v == "cached" for k, v in s.items() if k not in {"region_spotlight", "report"})
