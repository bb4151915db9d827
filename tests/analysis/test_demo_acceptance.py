"""The issue's acceptance on the demo, through the real ``ripple`` command in child processes:
the slow node tops the ranking and sits on the critical path, ``ripple profile`` names the function
and the lines where its time goes, and ``ripple plan`` agrees with the ``ripple run`` that follows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _ripple(*argv: str, cwd: Path) -> dict:
    env = {"PYTHONDONTWRITEBYTECODE": "1", "RIPPLE_CACHE_DIR": str(cwd / "cache")}
    import os

    p = subprocess.run([sys.executable, "-m", "engine.cli", *argv, "--json"], cwd=cwd, capture_output=True,
                       text=True, timeout=300, env={**os.environ, **env})
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _sets(plan: dict) -> tuple[set[str], set[str]]:
    return ({n["name"] for n in plan["nodes"] if n["will"] == "run"},
            {n["name"] for n in plan["nodes"] if n["will"] == "may run"})


def _ran(run: dict) -> set[str]:
    return {n["name"] for n in run["nodes"] if n["status"] == "ran"}


def test_demo_bottlenecks_profile_and_honest_plan(tmp_path: Path) -> None:
    shutil.copytree(REPO / "demo_pipeline", tmp_path / "demo_pipeline",
                    ignore=shutil.ignore_patterns("__pycache__", ".ripple"))
    _ripple("run", "demo_pipeline", cwd=tmp_path)

    report = _ripple("runs", "bottlenecks", cwd=tmp_path)
    assert report["ranking"][0]["node"] == "fitted_model" and report["ranking"][0]["critical"]
    assert "fitted_model" in report["critical_path"]["nodes"]
    assert report["ranking"][0]["share"] > 0.3

    prof = _ripple("profile", "demo_pipeline", "fitted_model", "--no-pyinstrument", cwd=tmp_path)
    project = [f["function"] for f in prof["functions"] if f["project"]]
    assert {"_blocked_cv", "_ridge_path"} <= set(project)
    assert prof["lines"][0]["file"].endswith("model.py") and prof["lines"][0]["share"] > 0.5
    assert any("_ridge_path" in h["code"] or "_blocked_cv" in h["code"] for h in prof["lines"][:3])

    # after a full run the plan is exactly what runs next
    will, may = _sets(_ripple("plan", "demo_pipeline", cwd=tmp_path))
    assert _ran(_ripple("run", "demo_pipeline", cwd=tmp_path)) == will

    # an upstream edit that leaves the data as it was: will run ⊆ what runs ⊆ will run + may run
    clean = tmp_path / "demo_pipeline" / "clean.py"
    text = clean.read_text()
    old = 'frame = frame[frame["store_id"].notna()]'
    assert text.count(old) == 1
    clean.write_text(text.replace(old, old + ".copy()"))
    plan = _ripple("plan", "demo_pipeline", cwd=tmp_path)
    will, may = _sets(plan)
    assert "orders_clean" in will and "fitted_model" in may
    ran = _ran(_ripple("run", "demo_pipeline", cwd=tmp_path))
    assert will <= ran <= will | may
    assert "fitted_model" not in ran  # early cutoff: the cleaned orders came out the same
