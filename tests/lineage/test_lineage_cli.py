"""Issue 14, lineage from every command: ``--lineage console|file:PATH|URL`` on run/watch,
``[tool.ripple] lineage``, ``OpenLineageTracker`` / ``Driver.with_lineage``, root-cause of the
failing node's own code, and the schema-validation tests failing (not skipping) without their
dependencies."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

import openlineage.client  # noqa: F401 - in the test extra: fail loudly, never skip
import pytest

from engine import Driver
from engine.lineage import OpenLineageTracker

PIPE = "def a() -> int:\n    return 1\n\n\ndef b(a: int) -> int:\n    return a + 1\n"


def ripple(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "CI": "1"}, timeout=120, stdin=subprocess.DEVNULL)


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_run_lineage_console_goes_to_stderr_and_keeps_json_stdout(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text(PIPE)
    r = ripple("run", "p.py", "--json", "--no-cache", "--lineage", "console", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "ok"
    events = _events(r.stderr)
    assert [e["eventType"] for e in events][0] == "START" and events[-1]["eventType"] == "COMPLETE"
    assert {e["job"]["name"] for e in events} >= {"p", "p.a", "p.b"}


def test_run_lineage_file_and_bad_target(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text(PIPE)
    assert ripple("run", "p.py", "--lineage", "file:out/ol.jsonl", cwd=tmp_path).returncode == 0
    events = _events((tmp_path / "out" / "ol.jsonl").read_text())
    assert len(events) == 6 and events[-1]["eventType"] == "COMPLETE"
    r = ripple("run", "p.py", "--lineage", "bogus", cwd=tmp_path)
    assert r.returncode == 2 and "use console, file:PATH" in r.stderr


def test_run_lineage_url_posts_to_the_collector(tmp_path: Path) -> None:
    got: list[dict] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append({"path": self.path, "event": json.loads(self.rfile.read(int(self.headers["Content-Length"])))})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (tmp_path / "p.py").write_text(PIPE)
        r = ripple("run", "p.py", "--no-cache", "--lineage", f"http://127.0.0.1:{server.server_port}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    finally:
        server.shutdown()
    assert len(got) == 6 and {g["path"] for g in got} == {"/api/v1/lineage"}


def test_tool_ripple_lineage_applies_to_watch_too(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.ripple]\npipeline = "p.py"\nlineage = "file:ol.jsonl"\n')
    (tmp_path / "p.py").write_text(PIPE)
    r = ripple("run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(_events((tmp_path / "ol.jsonl").read_text())) == 6
    (tmp_path / "ol.jsonl").unlink()
    r = ripple("watch", "--once", "--no-cache", cwd=tmp_path)  # the run happens in a child process
    assert r.returncode == 0, r.stderr + r.stdout
    events = _events((tmp_path / "ol.jsonl").read_text())
    assert events and events[-1]["eventType"] == "COMPLETE"


class _Collect:
    def __init__(self) -> None:
        self.events: list = []

    def emit(self, event: object) -> None:
        self.events.append(event)


def _client() -> tuple[object, _Collect]:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.transport import Transport

    sink = _Collect()

    class T(Transport):
        kind = "collect"

        def emit(self, event: object) -> None:
            sink.emit(event)

    return OpenLineageClient(transport=T()), sink


def _module() -> types.ModuleType:
    m = types.ModuleType("tracked")
    exec(PIPE, m.__dict__)  # noqa: S102
    for f in (m.a, m.b):
        f.__module__ = "tracked"
    return m


def test_tracker_track_execution_emits_for_every_execution_in_the_block() -> None:
    client, sink = _client()
    tracker = OpenLineageTracker("my_pipeline", client=client)
    dr = Driver({}, _module())
    with tracker.track_execution():
        assert dr.execute(["b"]) == {"b": 2}
        dr.execute(["a"])
        Driver({}, _module()).execute(["b"])
    inside = len(sink.events)
    assert inside == 6 + 4 + 6
    assert {e.job.name for e in sink.events} >= {"my_pipeline", "my_pipeline.b"}
    dr.execute(["b"])  # outside the block: nothing more
    assert len(sink.events) == inside


def test_driver_with_lineage_emits_for_good() -> None:
    client, sink = _client()
    dr = Driver({}, _module()).with_lineage(OpenLineageTracker("my_pipeline", client=client))
    dr.execute(["b"])
    dr.execute(["b"])
    assert len(sink.events) == 12
    with pytest.raises(Exception, match="OpenLineageTracker"):
        Driver({}, _module()).with_lineage("console")


def test_root_cause_reports_the_failing_nodes_own_code_change(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text(PIPE)
    assert ripple("run", "p.py", cwd=tmp_path).returncode == 0
    (tmp_path / "p.py").write_text(PIPE.replace("return a + 1", "raise ValueError('now broken')"))
    assert ripple("run", "p.py", cwd=tmp_path).returncode == 1
    r = ripple("lineage", "root-cause", "p.py", "--json", cwd=tmp_path)
    doc = json.loads(r.stdout)
    assert doc["node"] == "b" and "now broken" in doc["error"]
    own = [c for c in doc["changes"] if c["node"] == "b"]
    assert own and own[0]["kind"] == "code" and own[0]["probable"]


def test_schema_validation_tests_fail_rather_than_skip_without_their_dependencies() -> None:
    text = (Path(__file__).with_name("test_lineage.py")).read_text()
    assert 'importorskip("jsonschema")' not in text and 'importorskip("referencing")' not in text
    assert 'importorskip("openlineage' not in text
    import jsonschema  # noqa: F401 - both in the test extra
    import referencing  # noqa: F401
    assert "pytest.skip(f\"OpenLineage JSON schemas not found" in text  # the only skip: no schema folder
