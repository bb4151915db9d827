"""Issue 14, results and selection: ``ripple show``, ``run -o DIR``, ``--select``/``--exclude``, ``-j``,
``--fail-fast``/``--keep-going``, ``-q``, ``cache prune --dry-run``, ``[tool.ripple]`` defaults and
finding the store from a subfolder. Real subprocesses: exit codes and which stream says what."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SHOP = '''
import pandas as pd
from engine import tag


@tag(stage="ingest")
def orders(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"id": list(range(n)), "amount": [1.5 * i for i in range(n)]})


@tag(stage="clean")
def total(orders: pd.DataFrame) -> float:
    return float(orders["amount"].sum())


def report(total: float) -> str:
    return "line one\\nline two\\nthe total is " + str(total)


def summary(total: float) -> dict:
    return {"total": total, "ok": True}
'''

FAILING = '''
import time


def a() -> int:
    return 1


def boom(a: int) -> int:
    raise ValueError("boom " + "x" * 150)


def later(a: int) -> int:
    time.sleep(0.2)
    return a + 1
'''


def ripple(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "", "CI": "1", **(env or {})}
    full.pop("COLUMNS")
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=full, timeout=120)


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    (tmp_path / "shop.py").write_text(SHOP)
    return tmp_path


# ------------------------------------------------------------------------------------------- show


def test_show_prints_a_string_in_full_and_says_when_it_computed(shop: Path) -> None:
    r = ripple("show", "shop.py", "report", cwd=shop)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "line one\nline two\nthe total is 4.5\n"
    assert "not cached; computed now" in r.stderr
    again = ripple("show", "shop.py", "report", cwd=shop)
    assert again.stdout == r.stdout and "not cached" not in again.stderr


def test_show_dataframe_has_shape_head_and_dtypes(shop: Path) -> None:
    r = ripple("show", "shop.py", "orders", "--config", "n=30", cwd=shop)
    assert r.returncode == 0, r.stderr
    assert "orders: DataFrame 30 rows × 2 columns" in r.stdout
    assert "dtypes: id: int64, amount: float64" in r.stdout
    assert "20 more rows" in r.stdout


def test_show_json_csv_and_file(shop: Path) -> None:
    r = ripple("show", "shop.py", "summary", "--format", "json", cwd=shop)
    assert json.loads(r.stdout) == {"total": 4.5, "ok": True}
    r = ripple("show", "shop.py", "orders", "--format", "csv", cwd=shop)
    assert r.stdout.splitlines() == ["id,amount", "0,0.0", "1,1.5", "2,3.0"]
    r = ripple("show", "shop.py", "orders", "--format", "json", "-o", "out/o.json", cwd=shop)
    assert r.returncode == 0 and r.stdout == ""
    assert json.loads((shop / "out" / "o.json").read_text())[1] == {"id": 1, "amount": 1.5}
    r = ripple("show", "shop.py", "total", "--format", "csv", cwd=shop)
    assert r.returncode == 2 and "not a table" in r.stderr


def test_show_parquet(shop: Path) -> None:
    import pandas as pd

    r = ripple("show", "shop.py", "orders", "--format", "parquet", "-o", "o.parquet", cwd=shop)
    assert r.returncode == 0, r.stderr
    assert pd.read_parquet(shop / "o.parquet")["amount"].tolist() == [0.0, 1.5, 3.0]


def test_show_unknown_node_and_selection(shop: Path) -> None:
    r = ripple("show", "shop.py", "reprot", cwd=shop)
    assert r.returncode == 2 and "did you mean 'report'" in r.stderr and r.stdout == ""
    r = ripple("show", "shop.py", "--select", "total,summary", "--format", "json", cwd=shop)
    assert json.loads(r.stdout) == {"total": 4.5, "summary": {"total": 4.5, "ok": True}}


# ----------------------------------------------------------------------------------- run control


def test_run_output_dir_writes_requested_outputs(shop: Path) -> None:
    r = ripple("run", "shop.py", "-o", "results", "--select", "orders,report,summary", cwd=shop)
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in (shop / "results").iterdir())
    assert "report.txt" in files and "summary.json" in files
    assert any(f.startswith("orders.") for f in files)
    assert (shop / "results" / "report.txt").read_text().endswith("the total is 4.5")
    assert "wrote results" in r.stdout


def test_select_and_exclude_on_run_plan_graph(shop: Path) -> None:
    r = ripple("run", "shop.py", "--json", "--select", "tag:stage=clean", cwd=shop)
    doc = json.loads(r.stdout)
    assert sorted(n["name"] for n in doc["nodes"]) == ["orders", "total"] and list(doc["outputs"]) == ["total"]
    r = ripple("plan", "shop.py", "--json", "--select", "total+", "--exclude", "summary", cwd=shop)
    assert sorted(n["name"] for n in json.loads(r.stdout)["nodes"]) == ["orders", "report", "total"]
    r = ripple("graph", "shop.py", "--format", "list", "--select", "+total", cwd=shop)
    assert [line.split()[0] for line in r.stdout.splitlines() if line and not line.startswith("inputs")] == \
        ["orders", "total"]
    r = ripple("run", "shop.py", "--select", "tota", cwd=shop)
    assert r.returncode == 2 and "did you mean 'total'" in r.stderr


def test_jobs_is_a_thread_executor_and_conflicts_with_executor(shop: Path) -> None:
    r = ripple("run", "shop.py", "-j", "3", "--no-cache", cwd=shop)
    assert r.returncode == 0, r.stderr
    r = ripple("run", "shop.py", "-j", "3", "--executor", "processes", cwd=shop)
    assert r.returncode == 2 and "give one of them" in r.stderr
    r = ripple("run", "shop.py", "-j", "0", cwd=shop)
    assert r.returncode == 2 and "1 or more" in r.stderr


def test_keep_going_is_the_default_and_fail_fast_stops(tmp_path: Path) -> None:
    (tmp_path / "f.py").write_text(FAILING)
    r = ripple("run", "f.py", "--json", "--no-cache", cwd=tmp_path)
    status = {n["name"]: n["status"] for n in json.loads(r.stdout)["nodes"]}
    assert r.returncode == 1 and status["later"] == "ran"
    r = ripple("run", "f.py", "--json", "--no-cache", "--fail-fast", cwd=tmp_path)
    status = {n["name"]: n["status"] for n in json.loads(r.stdout)["nodes"]}
    assert r.returncode == 1 and status["boom"] == "failed" and status["later"] == "skipped"
    help_text = ripple("run", "--help", cwd=tmp_path).stdout
    assert "--keep-going" in help_text and "(the default)" in help_text


def test_failures_go_to_stderr_and_pipes_do_not_wrap(tmp_path: Path) -> None:
    (tmp_path / "f.py").write_text(FAILING)
    r = ripple("run", "f.py", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1
    assert "Traceback" not in r.stdout and "Traceback" in r.stderr
    assert "node boom" in r.stderr and "failed: ValueError" in r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("boom"))
    assert "x" * 150 in row  # one line, not folded at 80 columns


def test_quiet_prints_only_the_summary(shop: Path) -> None:
    r = ripple("run", "shop.py", "-q", cwd=shop)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [line for line in r.stdout.splitlines() if line.startswith("OK in")]
    assert len(r.stdout.splitlines()) == 1


def test_cache_prune_needs_a_criterion_and_dry_run_removes_nothing(shop: Path) -> None:
    assert ripple("run", "shop.py", cwd=shop).returncode == 0
    r = ripple("cache", "prune", cwd=shop)
    assert r.returncode == 2 and "--max-size" in r.stderr and "--older-than" in r.stderr and "removed nothing" in r.stderr
    before = json.loads(ripple("cache", "stats", "--json", cwd=shop).stdout)["entries"]
    r = ripple("cache", "prune", "--max-size", "0", "--dry-run", cwd=shop)
    assert r.returncode == 0 and f"would remove {before} entries" in r.stdout and "nothing removed" in r.stdout
    assert json.loads(ripple("cache", "stats", "--json", cwd=shop).stdout)["entries"] == before
    r = ripple("cache", "prune", "--max-size", "0", cwd=shop)
    assert f"removed {before} entries" in r.stdout


# ------------------------------------------------------------------------------ project defaults


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent('''
        [project]
        name = "shopproj"

        [tool.ripple]
        pipeline = "shop.py"
        outputs = ["summary"]
        config = { n = 4 }
    '''))
    (tmp_path / "shop.py").write_text(SHOP)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    return tmp_path


def test_bare_run_uses_tool_ripple_defaults_from_any_folder(tmp_path: Path) -> None:
    root = _project(tmp_path)
    r = ripple("run", "--json", cwd=root / "sub" / "deeper")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert list(doc["outputs"]) == ["summary"] and "9.0" in doc["outputs"]["summary"]  # n = 4: 0+1.5+3+4.5
    assert (root / ".ripple").is_dir() and not (root / "sub" / "deeper" / ".ripple").exists()
    r = ripple("show", "total", cwd=root / "sub")
    assert r.returncode == 0 and r.stdout.strip() == "9.0"
    flags_win = ripple("run", "--json", "--config", "n=2", "--outputs", "total", cwd=root)
    assert json.loads(flags_win.stdout)["outputs"] == {"total": "1.5"}
    runs = ripple("runs", "--json", cwd=root / "sub" / "deeper")
    assert runs.returncode == 0, runs.stderr
    stats = ripple("cache", "stats", "--json", cwd=root / "sub")
    assert stats.returncode == 0 and json.loads(stats.stdout)["path"] == str(root / ".ripple")


def test_bare_run_without_a_default_says_what_it_needs(tmp_path: Path) -> None:
    r = ripple("run", cwd=tmp_path)
    assert r.returncode == 2
    assert "needs a PIPELINE" in r.stderr and "[tool.ripple] pipeline" in r.stderr


def test_watch_and_tui_take_the_selection(shop: Path) -> None:
    r = ripple("watch", "shop.py", "--once", "--json", "--no-cache", "--select", "+total", cwd=shop)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    ran = {e["node"] for e in events if e.get("type") == "node_finished"}
    assert ran == {"orders", "total"}
    from engine.cli import build_parser
    from engine.cli._common import run_request

    request = run_request(build_parser().parse_args(["tui", "shop.py", "--select", "report+", "--exclude", "x"]))
    assert request.select == ["report+"] and request.exclude == ["x"]


def test_this_checkout_names_the_demo_as_its_default_pipeline() -> None:
    """The repo's own ``[tool.ripple] pipeline`` makes a bare command work here (graph: nothing is written)."""
    repo = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "engine.cli", "graph", "--format", "json"], cwd=repo,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pipeline"] == "demo_pipeline"


@pytest.mark.parametrize(("given", "executor"), [("4", "threads:4"), ("1", "sequential"),
                                                 ("tcp://127.0.0.1:8786", "dask=tcp://127.0.0.1:8786"),
                                                 ("dask", "dask"), ("dask:2", "dask:2")])
def test_jobs_takes_a_count_or_a_dask_scheduler(given: str, executor: str) -> None:
    from engine.cli import build_parser
    from engine.cli._select import apply_run_control

    args = build_parser().parse_args(["run", "demo_pipeline", "-j", given])
    apply_run_control(args)
    assert args.executor == executor
