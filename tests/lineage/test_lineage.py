"""OpenLineage integration: the real ``openlineage-python`` client with a fake only at the
transport edge, real drivers and stores in ``tmp_path``, and every emitted event validated against
the official JSON schemas (core schema plus each facet against its own schema file, offline)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

# Not importorskip: these are in the ``test`` extra, and a missing one must fail CI loudly rather than
# skip the schema validation silently. Only the schema folder itself may be absent (skip).
try:
    import jsonschema  # noqa: F401
    import openlineage.client  # noqa: F401
    import referencing  # noqa: F401
except ImportError as exc:  # pragma: no cover - a broken test environment
    raise ImportError(f"tests/lineage needs {exc.name} (in the test extra): pip install -e '.[test]'") from exc

from openlineage.client import OpenLineageClient  # noqa: E402
from openlineage.client.serde import Serde  # noqa: E402
from openlineage.client.transport.transport import Transport  # noqa: E402

from engine import Driver  # noqa: E402
from engine import events as ev  # noqa: E402
from engine.cli import main  # noqa: E402
from engine.lineage import (  # noqa: E402
    FACETS_SCHEMA_FILE,
    LineageListener,
    impact,
    root_cause,
    static_job_events,
)

REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------- the pipeline under test

NODES = '''
    """Numbers from a data file, with a sensitive step and a switchable failure."""
    from pathlib import Path

    from engine import tag

    from .util import _scale

    DATA = Path(__file__).parent / "data.txt"
    HIDDEN = Path(__file__).parent / "hidden.txt"


    def raw(path: Path = DATA) -> int:
        """The number in the data file."""
        return int(path.read_text())


    def doubled(raw: int) -> int:
        return _scale(raw)


    def peeked(doubled: int) -> int:
        return doubled + int(HIDDEN.read_text())


    @tag(sensitive=True, owner="security")
    def secret(doubled: int) -> int:
        return doubled * 1000 + 7


    def checked(doubled: int, explode: bool = False) -> int:
        if explode or doubled < 0:
            raise ValueError(f"doubled must be non-negative, got {doubled}")
        return doubled


    def report(checked: int, secret: int, peeked: int) -> str:
        return f"{checked}/{peeked}/{secret > 0}"
'''

UTIL = '''
    def _scale(x: int) -> int:
        return x * 2
'''

NODE_NAMES = ["raw", "doubled", "peeked", "secret", "checked", "report"]


class Project:
    """A pipeline package on disk, re-imported for each driver as a new process would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pkg = f"lineage_proj_{uuid.uuid4().hex[:8]}"
        self.dir = root / self.pkg
        self.dir.mkdir()
        (self.dir / "__init__.py").write_text("")
        (self.dir / "nodes.py").write_text(textwrap.dedent(NODES))
        (self.dir / "util.py").write_text(textwrap.dedent(UTIL))
        (self.dir / "data.txt").write_text("4")
        (self.dir / "hidden.txt").write_text("40")
        self.cache = root / ".ripple"

    def driver(self, **config: Any) -> Driver:
        for mod in [m for m in sys.modules if m == self.pkg or m.startswith(self.pkg + ".")]:
            del sys.modules[mod]
        importlib.invalidate_caches()
        if str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))
        return Driver(config, importlib.import_module(self.pkg)).with_cache(self.cache)

    def cleanup(self) -> None:
        for mod in [m for m in sys.modules if m == self.pkg or m.startswith(self.pkg + ".")]:
            del sys.modules[mod]
        while str(self.root) in sys.path:
            sys.path.remove(str(self.root))


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    p = Project(tmp_path)
    yield p
    p.cleanup()


class Collect(Transport):
    """In-memory transport: the client (with its own enrichment) is real, only delivery is fake.
    Events are serialised at emit time, exactly as a network transport would send them."""

    kind = "ripple_test_collect"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: Any) -> None:
        self.events.append(json.loads(Serde.to_json(event)))


@pytest.fixture
def transport() -> Collect:
    return Collect()


@pytest.fixture
def client(transport: Collect) -> OpenLineageClient:
    return OpenLineageClient(transport=transport)


# ---------------------------------------------------------------------- offline schema validation


def _spec_dir() -> Path:
    env = os.environ.get("RIPPLE_OPENLINEAGE_SPEC")
    return Path(env) if env else REPO.parent / "shared" / "openlineage-spec"


_LOCATIONS = (("InputDatasetFacet", "input"), ("OutputDatasetFacet", "output"), ("DatasetFacet", "dataset"),
              ("RunFacet", "run"), ("JobFacet", "job"))


class Spec:
    """The official schemas, resolved from local files by their ``$id`` (never the network)."""

    def __init__(self, root: Path) -> None:
        from jsonschema import Draft202012Validator, FormatChecker
        from referencing import Registry, Resource

        docs = [json.loads((root / "OpenLineage.json").read_text())]
        docs += [json.loads(p.read_text()) for p in sorted((root / "facets").glob("*.json"))]
        docs.append(json.loads(FACETS_SCHEMA_FILE.read_text()))
        self.core_id = docs[0]["$id"]
        self.registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)
        #: (where the facet sits, facet key) -> schema $id; keys like `documentation` are shared
        self.facets: dict[tuple[str, str], str] = {}
        for d in docs[1:]:
            if d is docs[-1]:  # Ripple's own file describes both its (run) facets
                self.facets.update((("run", k), d["$id"]) for k in d["properties"])
                continue
            (key,) = d["properties"]
            name = d["$id"].rsplit("/", 1)[-1].removesuffix(".json")
            if name == "LineageFacet":
                self.facets[("job", key)] = self.facets[("dataset", key)] = d["$id"]
                continue
            where = next(loc for suffix, loc in _LOCATIONS if name.endswith(suffix))
            self.facets[(where, key)] = d["$id"]
        checker = FormatChecker()
        for fmt, fn in Draft202012Validator.FORMAT_CHECKER.checkers.items():
            checker.checkers[fmt] = fn

        @checker.checks("uri")
        def _uri(value: object) -> bool:  # rfc3987 is not installed: check the essentials
            return not isinstance(value, str) or (bool(urlsplit(value).scheme) and not any(c.isspace() for c in value))

        self.checker = checker
        self._validators: dict[str, Any] = {}

    def validator(self, ref: str) -> Any:
        from jsonschema import Draft202012Validator

        v = self._validators.get(ref)
        if v is None:
            v = self._validators[ref] = Draft202012Validator({"$ref": ref}, registry=self.registry,
                                                             format_checker=self.checker)
        return v

    def validate(self, event: dict[str, Any]) -> int:
        """The whole event against its type in the core schema, then every facet against its own file;
        returns how many facets were checked. An unknown facet fails: nothing escapes validation."""
        kind = event["schemaURL"].rsplit("/", 1)[-1]
        assert kind in ("RunEvent", "JobEvent", "DatasetEvent"), event["schemaURL"]
        errors = sorted(self.validator(f"{self.core_id}#/$defs/{kind}").iter_errors(event), key=str)
        assert not errors, f"{kind} invalid: {[(list(e.absolute_path), e.message) for e in errors[:3]]}"
        checked = 0
        for where, facets in self._facets_of(event):
            for key, facet in facets.items():
                schema_id = self.facets.get((where, key))
                assert schema_id, f"no schema for {where} facet {key!r}"
                assert facet["_schemaURL"].split("#")[0] == schema_id, (key, facet["_schemaURL"])
                errs = list(self.validator(schema_id).iter_errors({key: facet}))
                assert not errs, f"{where} facet {key} invalid: {[e.message for e in errs[:3]]}"
                checked += 1
        return checked

    @staticmethod
    def _facets_of(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        if "run" in event:
            yield "run", event["run"].get("facets") or {}
        if "job" in event:
            yield "job", event["job"].get("facets") or {}
        for ds in event.get("inputs") or []:
            yield "dataset", ds.get("facets") or {}
            yield "input", ds.get("inputFacets") or {}
        for ds in event.get("outputs") or []:
            yield "dataset", ds.get("facets") or {}
            yield "output", ds.get("outputFacets") or {}


@pytest.fixture(scope="module")
def spec() -> Spec:
    root = _spec_dir()
    if not (root / "OpenLineage.json").is_file():
        pytest.skip(f"OpenLineage JSON schemas not found at {root}; set RIPPLE_OPENLINEAGE_SPEC to the folder "
                    "holding OpenLineage.json and facets/")
    return Spec(root)


# ---------------------------------------------------------------------- helpers


def _run(project: Project, client: OpenLineageClient, **config: Any) -> tuple[Driver, Any, list[ev.Event]]:
    dr = project.driver(**config)
    seen: list[ev.Event] = []
    dr.add_listener(seen.append)
    dr.add_listener(LineageListener(dr, client))
    result = dr.run(["report"])
    return dr, result, seen


def _by_job(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        out.setdefault(e["job"]["name"], []).append(e)
    return out


# ---------------------------------------------------------------------- run lineage


def test_run_lineage_sequence_cache_and_failure(project: Project, client: OpenLineageClient,
                                                transport: Collect, spec: Spec) -> None:
    pipe = project.pkg
    dr, result, seen = _run(project, client)
    assert result.status == "ok"
    first = list(transport.events)
    assert [e["eventType"] for e in (first[0], first[-1])] == ["START", "COMPLETE"]
    assert first[0]["job"]["name"] == first[-1]["job"]["name"] == pipe
    assert first[0]["job"]["facets"]["jobType"] == {**first[0]["job"]["facets"]["jobType"], "jobType": "DAG",
                                                    "integration": "RIPPLE", "processingType": "BATCH"}
    pipeline_run = first[0]["run"]["runId"]
    assert uuid.UUID(pipeline_run).version == 7
    jobs = _by_job(first[1:-1])
    assert set(jobs) == {f"{pipe}.{n}" for n in NODE_NAMES}
    dv = {e.node: e.data_version for e in seen if isinstance(e, ev.NodeFinished)}
    for name in NODE_NAMES:
        start, end = jobs[f"{pipe}.{name}"]
        assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
        assert start["run"]["runId"] == end["run"]["runId"] != pipeline_run
        parent = end["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == pipeline_run and parent["job"]["name"] == pipe
        assert parent["root"]["run"]["runId"] == pipeline_run
        assert end["run"]["facets"]["ripple_cache"]["decision"] == "ran"
        assert end["job"]["facets"]["jobType"]["jobType"] == "TASK"
        assert f"def {name}(" in end["job"]["facets"]["sourceCode"]["sourceCode"]
        loc = end["job"]["facets"]["sourceCodeLocation"]
        assert loc["type"] == "file" and loc["url"].startswith("file://") and loc["path"] == f"{pipe}/nodes.py"
        (out,) = end["outputs"]
        assert out["namespace"] == f"ripple://{project.root.name}" and out["name"] == f"{pipe}.{name}"
        if name != "secret":
            assert out["facets"]["version"]["datasetVersion"] == dv[name]
    raw_inputs = jobs[f"{pipe}.raw"][1]["inputs"]
    assert raw_inputs == [{"namespace": "file", "name": str(project.dir / "data.txt"), "facets": {},
                           "inputFacets": {}}]
    doubled_in = jobs[f"{pipe}.doubled"][1]["inputs"]
    assert [(i["name"], i["facets"]["version"]["datasetVersion"]) for i in doubled_in] == [(f"{pipe}.raw", dv["raw"])]
    assert first[-1]["run"]["facets"]["ripple_run"]["nodes"] == dict.fromkeys(NODE_NAMES, "ran")

    # second run: cached nodes are child runs too, with the hit and what it saved
    transport.events.clear()
    _, result, _ = _run(project, client)
    second = _by_job(transport.events)
    assert transport.events[0]["run"]["runId"] != pipeline_run
    hit = second[f"{pipe}.doubled"][-1]["run"]["facets"]["ripple_cache"]
    assert hit["decision"] == "hit" and hit["dataVersion"] == dv["doubled"] and hit["codeVersion"]
    assert second[f"{pipe}.doubled"][-1]["outputs"][0]["facets"]["version"]["datasetVersion"] == dv["doubled"]
    # secret is sensitive (never cached), so it and its dependent run again
    assert second[f"{pipe}.secret"][-1]["run"]["facets"]["ripple_cache"]["decision"] == "ran"
    assert second[f"{pipe}.report"][-1]["run"]["facets"]["ripple_cache"]["decision"] == "ran"
    for events in (first, transport.events):
        for e in events:
            spec.validate(e)

    # failure: FAIL with the error facet and the trimmed traceback; dependents ABORT as skipped
    transport.events.clear()
    dr, result, seen = _run(project, client, explode=True)
    assert result.status == "failed"
    third = _by_job(transport.events)
    fail = third[f"{pipe}.checked"][-1]
    assert fail["eventType"] == "FAIL"
    err = fail["run"]["facets"]["errorMessage"]
    assert err["message"] == "ValueError: doubled must be non-negative, got 8"
    assert err["programmingLanguage"] == "python"
    assert "Traceback" in err["stackTrace"] and "raise ValueError" in err["stackTrace"]
    assert "engine/execution.py" not in err["stackTrace"]
    assert fail["run"]["facets"]["ripple_cache"]["decision"] == "failed" and fail["outputs"] == []
    skipped = third[f"{pipe}.report"]
    assert [e["eventType"] for e in skipped] == ["START", "ABORT"]
    assert skipped[-1]["run"]["facets"]["ripple_cache"]["decision"] == "skipped"
    end = transport.events[-1]
    assert end["job"]["name"] == pipe and end["eventType"] == "FAIL"
    assert "checked" in end["run"]["facets"]["errorMessage"]["message"]
    assert end["run"]["facets"]["ripple_run"]["nodes"]["checked"] == "failed"
    for e in transport.events:
        spec.validate(e)
    # each child run has exactly one START and one terminal event
    for events in third.values():
        assert [e["eventType"] for e in events][0] == "START" and len(events) == 2


def test_sensitive_node_value_never_reaches_lineage(project: Project, client: OpenLineageClient,
                                                    transport: Collect) -> None:
    _, _, seen = _run(project, client)
    secret_versions = {e.data_version for e in seen if getattr(e, "node", "") == "secret" and
                       getattr(e, "data_version", "")}
    assert secret_versions  # the engine did version it; lineage must not carry it
    text = "\n".join(json.dumps(e) for e in transport.events)
    for v in secret_versions:
        assert v not in text
    assert "disabled:" not in text
    secret_events = _by_job(transport.events)[f"{project.pkg}.secret"]
    assert "version" not in secret_events[-1]["outputs"][0]["facets"]
    assert "dataVersion" not in secret_events[-1]["run"]["facets"]["ripple_cache"]
    report_in = {i["name"]: i for i in _by_job(transport.events)[f"{project.pkg}.report"][-1]["inputs"]}
    assert "version" not in report_in[f"{project.pkg}.secret"]["facets"]
    assert "version" in report_in[f"{project.pkg}.checked"]["facets"]
    # the job itself stays visible, with its source and tags
    assert "sourceCode" in secret_events[-1]["job"]["facets"]


def test_broken_transport_never_fails_the_run(project: Project) -> None:
    class Down(Transport):
        kind = "down"

        def emit(self, event: Any) -> None:
            raise ConnectionError("collector unreachable")

    dr = project.driver()
    listener = LineageListener(dr, OpenLineageClient(transport=Down()))
    dr.add_listener(listener)
    assert dr.run(["report"]).status == "ok"
    assert listener.errors > 0 and listener.sent == 0


# ---------------------------------------------------------------------- static lineage


def test_static_job_events_validate_and_send_through_file_transport(project: Project, spec: Spec,
                                                                    tmp_path: Path) -> None:
    from openlineage.client.transport.file import FileConfig, FileTransport

    dr = project.driver()
    events = static_job_events(dr)
    out = tmp_path / "static.jsonl"
    client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(out), append=True)))
    for e in events:
        client.emit(e)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 1 + len(NODE_NAMES)
    for e in lines:
        assert "run" not in e and e["schemaURL"].endswith("#/$defs/JobEvent")
        spec.validate(e)
    jobs = {e["job"]["name"]: e for e in lines}
    pipe = project.pkg
    report = jobs[f"{pipe}.report"]
    assert sorted(i["name"] for i in report["inputs"]) == [f"{pipe}.checked", f"{pipe}.peeked", f"{pipe}.secret"]
    assert [o["name"] for o in report["outputs"]] == [f"{pipe}.report"]
    assert jobs[pipe]["job"]["facets"]["jobType"]["jobType"] == "DAG"
    assert [o["name"] for o in jobs[pipe]["outputs"]] == [f"{pipe}.report"]


# ---------------------------------------------------------------------- impact and root cause


def test_impact_of_a_node_and_of_data_files(project: Project, client: OpenLineageClient) -> None:
    dr, _, _ = _run(project, client)
    imp = impact(dr, "doubled")
    assert imp.kind == "node" and imp.downstream == ["peeked", "secret", "checked", "report"]
    declared = impact(dr, str(project.dir / "data.txt"))
    assert declared.kind == "file" and declared.sources == ["raw"] and declared.readers == {"raw": "declared"}
    assert declared.downstream == ["doubled", "peeked", "secret", "checked", "report"]
    recorded = impact(dr, str(project.dir / "hidden.txt"))  # opened inside the node, seen by the store
    assert recorded.readers == {"peeked": "recorded"} and recorded.downstream == ["report"]


def test_root_cause_names_the_changed_upstream_helper(project: Project, client: OpenLineageClient) -> None:
    dr, result, _ = _run(project, client)
    assert result.status == "ok"
    assert root_cause(dr).note.startswith("no failed run")
    (project.dir / "util.py").write_text(textwrap.dedent(UTIL).replace("x * 2", "-x * 2"))
    dr, result, _ = _run(project, client)
    assert result.status == "failed" and result.failed_node == "checked"
    rc = root_cause(dr)
    assert rc.node == "checked" and rc.error and "non-negative" in rc.error
    first = rc.probable[0]
    assert (first.node, first.kind) == ("doubled", "code")
    assert first.before != first.after
    assert f"{project.pkg}.util._scale" in first.parts
    follows = [c for c in rc.changes if not c.probable]
    assert ("doubled", "data") in [(c.node, c.kind) for c in follows]
    assert root_cause(dr, node="checked").good_run_id == rc.good_run_id


# ---------------------------------------------------------------------- CLI


@pytest.fixture
def ol_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OpenLineage configuration leaks in from the machine running the tests."""
    for k in list(os.environ):
        if k.startswith("OPENLINEAGE"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def test_cli_lineage_commands(project: Project, ol_env: None, capsys: pytest.CaptureFixture[str],
                              spec: Spec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = str(project.dir)
    assert main(["lineage", "emit", target, "--static", "--print"]) == 0
    static = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(static) == 1 + len(NODE_NAMES)
    for e in static:
        spec.validate(e)

    assert main(["lineage", "emit", target, "--print"]) == 0
    run = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert run[0]["eventType"] == "START" and run[-1]["eventType"] == "COMPLETE"
    for e in run:
        spec.validate(e)

    assert main(["lineage", "impact", target, "raw", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "node" and doc["downstream"][0] == "doubled"
    assert main(["lineage", "impact", target, str(project.dir / "hidden.txt")]) == 0
    assert "peeked" in capsys.readouterr().out

    (project.dir / "util.py").write_text(textwrap.dedent(UTIL).replace("x * 2", "-x * 2"))
    out_file = tmp_path / "events.jsonl"  # configured the OpenLineage way: env vars, file transport
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(out_file))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    project.cleanup()
    assert main(["lineage", "emit", target]) == 1  # a node failed
    captured = capsys.readouterr()
    assert "sent" in captured.err and "file" in captured.err
    sent = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert sent[-1]["eventType"] == "FAIL"
    for e in sent:
        spec.validate(e)

    assert main(["lineage", "root-cause", target, "--json"]) == 0
    rc = json.loads(capsys.readouterr().out)
    assert rc["node"] == "checked"
    assert any(c["node"] == "doubled" and c["kind"] == "code" and c["probable"] for c in rc["changes"])
    assert main(["lineage", "root-cause", target]) == 0
    assert "probable cause" in capsys.readouterr().out


def test_cli_lineage_errors_exit_2(project: Project, ol_env: None, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = str(project.dir)
    assert main(["lineage", "impact", target, "doubeld"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'doubled'" in err
    assert main(["lineage", "root-cause", target]) == 2  # nothing ran yet: no history
    assert "run it first" in capsys.readouterr().err
    assert main(["lineage", "emit", target, "--static"]) == 2  # no transport configured anywhere
    assert "OPENLINEAGE_URL" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "openlineage.client", None)  # as if openlineage-python were absent
    assert main(["lineage", "emit", target, "--static", "--print"]) == 2
    assert "pip install 'ripple[lineage]'" in capsys.readouterr().err


def test_import_engine_does_not_import_openlineage() -> None:
    code = ("import sys, engine, engine.cli, engine.driver; engine.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.startswith('openlineage')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


class _Collector:
    """A real HTTP lineage collector on localhost (stdlib server in a thread): the client's own
    HTTP transport, retries and serialisation are exercised end to end."""

    def __init__(self) -> None:
        import http.server

        collector = self
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.status = 201

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                collector.paths.append(self.path)
                if collector.status < 300:
                    collector.events.append(json.loads(body))
                self.send_response(collector.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_emit_to_a_real_http_collector_and_survive_its_failure(project: Project, ol_env: None,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    collector = _Collector()
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", collector.url)
        assert main(["lineage", "emit", str(project.dir)]) == 0
        err = capsys.readouterr().err
        assert f"sent {len(collector.events)} OpenLineage events via http" in err
        assert set(collector.paths) == {"/api/v1/lineage"}
        jobs = _by_job(collector.events)
        assert set(jobs) == {project.pkg, *(f"{project.pkg}.{n}" for n in NODE_NAMES)}
        assert collector.events[0]["eventType"] == "START" and collector.events[-1]["eventType"] == "COMPLETE"
        root = _spec_dir()
        if (root / "OpenLineage.json").is_file():
            spec = Spec(root)
            for e in collector.events:
                spec.validate(e)

        # The collector now rejects everything: the run still succeeds, quickly, and says what was lost.
        collector.status = 400
        before = len(collector.paths)
        started = time.monotonic()
        assert main(["lineage", "emit", str(project.dir)]) == 0
        assert time.monotonic() - started < 30  # not one ~9 s retry cycle per event
        assert len(collector.paths) == before + 1  # the first failure pauses sending
        assert "sent 0 OpenLineage events via http (14 failed to send)" in capsys.readouterr().err
        assert "could not send an event" in caplog.text and "400" in caplog.text
    finally:
        collector.close()
