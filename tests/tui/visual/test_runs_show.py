"""``ripple runs show RUN_ID`` (table, ``--timeline``, ``--json``, ``--html``) over a real store,
and the HTML report opened in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main

PIPE = '''
import time


def base() -> int:
    return 2


def doubled(base: int) -> int:
    time.sleep(0.02)
    return base * 2


def tripled(base: int) -> int:
    return base * 3


def broken(doubled: int, tripled: int) -> int:
    raise ValueError("no luck <b>today</b>")


def after(broken: int) -> int:
    return broken
'''


@pytest.fixture
def failed_run(pipeline: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    path = pipeline(PIPE)
    store = str(tmp_path / "store")
    assert main(["run", path, "--cache-dir", store, "--outputs", "after"]) == 1
    capsys.readouterr()
    return path, store


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_show_lists_every_node_with_status_time_cache_and_why(failed_run: tuple[str, str],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path, store = failed_run
    out = _out(capsys, "runs", "show", "last", "--cache-dir", store, "--pipeline", path)
    assert "failed" in out.splitlines()[0]
    for node in ("base", "doubled", "tripled", "broken", "after"):
        assert node in out
    assert "no luck" in out and "skipped" in out and "miss" in out


def test_show_by_prefix_json_and_an_unknown_id(failed_run: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, store = failed_run
    runs = json.loads(_out(capsys, "runs", "--cache-dir", store, "--json"))
    run_id = runs[0]["run_id"]
    doc = json.loads(_out(capsys, "runs", "show", run_id[:5], "--cache-dir", store, "--json"))
    assert doc["run"]["run_id"] == run_id and {n["node"] for n in doc["nodes"]} >= {"base", "broken"}
    assert all(n["started"] for n in doc["nodes"] if n["status"] != "skipped")  # start times are kept
    bars = {b["node"]: b for b in doc["timeline"]["bars"]}
    assert bars["doubled"]["end"] - bars["doubled"]["start"] >= 0.02
    assert main(["runs", "show", "nope", "--cache-dir", store]) == 2
    err = capsys.readouterr().err
    assert "no run 'nope'" in err and "Traceback" not in err
    assert main(["runs", "show", "--cache-dir", store]) == 2
    assert "needs one RUN_ID" in capsys.readouterr().err


def test_show_timeline_draws_the_chart(failed_run: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    path, store = failed_run
    out = _out(capsys, "runs", "show", "last", "--timeline", "--width", "90", "--cache-dir", store, "--pipeline", path)
    lines = out.splitlines()
    assert "critical path" in lines[0] and "base → doubled → broken" in lines[0]
    doubled = next(line for line in lines if line.startswith("*doubled"))
    assert "█" in doubled and len(doubled) <= 90
    assert any(line.lstrip("* ").startswith("after") and "skip" in line for line in lines)


def _report(failed_run: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    path, store = failed_run
    page = tmp_path / "report.html"
    out = _out(capsys, "runs", "show", "last", "--html", str(page), "--cache-dir", store, "--pipeline", path)
    assert str(page) in out
    return page.read_text(encoding="utf-8")


def test_html_report_is_self_contained(failed_run: tuple[str, str], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    html = _report(failed_run, tmp_path, capsys)
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    assert "<script" not in html and "<link" not in html
    for node in ("base", "doubled", "tripled", "broken", "after"):
        assert f'id="node-{node}"' in html and f'id="row-{node}"' in html
    assert 'class="node st-failed" id="node-broken"' in html
    assert "ValueError: no luck &lt;b&gt;today&lt;/b&gt;" in html  # escaped, in the failure section
    assert "prefers-color-scheme: dark" in html


def test_html_report_without_the_graph_keeps_the_rest(failed_run: tuple[str, str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, store = failed_run
    page = tmp_path / "nograph.html"
    assert main(["runs", "show", "last", "--html", str(page), "--cache-dir", store,
                 "--pipeline", "no_such_ripple_pipeline_xyz"]) == 0
    assert "could not load pipeline 'no_such_ripple_pipeline_xyz'" in capsys.readouterr().err
    html = page.read_text(encoding="utf-8")
    assert "could not be loaded" in html and 'id="row-broken"' in html and "no luck" in html


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.browser
def test_demo_report_opens_in_headless_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary on this machine (apt-get install chromium)")
    import demo_pipeline
    from engine import Driver

    store = tmp_path / "store"
    dr = Driver({}, demo_pipeline).with_cache(str(store))
    dr.execute(["report"])
    page = tmp_path / "demo.html"
    _out(capsys, "runs", "show", "last", "--html", str(page), "--cache-dir", str(store), "--pipeline", "demo_pipeline")
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run([*argv, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90, env=env)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for node in dr.graph.order:
        assert f'id="node-{node}"' in dom.stdout, node
    assert "<svg" in dom.stdout and "demo_pipeline" in dom.stdout
    shot = tmp_path / "demo.png"
    subprocess.run([*argv, f"--screenshot={shot}", "--window-size=1400,1600", page.as_uri()],
                   capture_output=True, timeout=90, env=env)
    assert shot.exists() and shot.stat().st_size > 20_000
