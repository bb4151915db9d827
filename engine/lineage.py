"""OpenLineage for Ripple (DESIGN §8): run lineage from the event stream, static lineage from the
graph, and impact / root-cause analysis from the graph and the run history.

Run lineage is a *consumer* of the event stream (``driver.add_listener(LineageListener(driver))``):
it never reaches into the executor, so the same listener works for in-process runs and for runs
replayed from a child process's JSON lines. Events are built and sent with the official
``openlineage-python`` client, configured as OpenLineage users expect (``openlineage.yml``,
``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``); the client is imported lazily so that
``import engine`` never needs it.

Mapping decisions (see README "Lineage"):

- one OpenLineage run per pipeline execution (job ``{pipeline}``, ``jobType`` DAG) and one child run
  per node of the plan (job ``{pipeline}.{node}``, ``jobType`` TASK, ``parent`` facet with ``root``).
  Cache hits are child runs too (START + COMPLETE, ``ripple_cache.decision = "hit"``) so the lineage
  graph of every run is complete; nodes skipped because an upstream failed get START + ABORT
  (OpenLineage has no SKIPPED state; ABORT is what dbt sends). A fan-out node is one child run for
  all its items.
- runIds are UUIDv7 *derived* from the Ripple run id and start time (``generate_static_uuid``), so
  the same Ripple run always maps to the same OpenLineage run and never reuses a terminated runId.
- each node's value is an output dataset ``ripple://{project}`` / ``{pipeline}.{node}`` carrying the
  data version (``version`` facet); its inputs are the upstream node datasets and any ``Path``/``File``
  parameter defaults (namespace ``file``, absolute path, as OpenLineage's dataset naming has it).
- sensitive nodes (``@tag(sensitive=True)``) and ``disable``-behavior nodes keep their job and
  source, but no data version of theirs appears anywhere (datasets, inputs, cache facet): a
  sensitive value must not touch lineage, and a disabled node's version is a random token.
- custom facets ``ripple_cache`` (node runs) and ``ripple_run`` (pipeline runs) are described by
  ``engine/lineage_facets.json``, whose ``$id`` is :data:`FACETS_SCHEMA_ID`.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from . import events as ev
from .errors import UsageError

if TYPE_CHECKING:
    from .driver import Driver
    from .graph import Node
    from .store import NodeRunRecord, Store

log = logging.getLogger("engine")

RIPPLE_VERSION = "0.1.0"
#: ``producer`` of every event and facet. A URN, not a URL: Ripple has no web home to claim yet,
#: and the spec only asks for a URI. Override with ``LineageListener(..., producer=...)``.
PRODUCER = f"urn:ripple:engine:{RIPPLE_VERSION}"
#: ``$id`` of the shipped custom-facet schema (``engine/lineage_facets.json``).
FACETS_SCHEMA_ID = "urn:ripple:spec:facets:1-0-0:RippleFacets.json"
FACETS_SCHEMA_FILE = Path(__file__).with_name("lineage_facets.json")
INTEGRATION = "RIPPLE"
INSTALL_HINT = "OpenLineage support needs openlineage-python: pip install 'ripple[lineage]'."

_TERMINAL = {"ok": "COMPLETE", "failed": "FAIL", "cancelled": "ABORT"}


def _require_client() -> None:
    try:
        import openlineage.client  # noqa: F401
    except ImportError:
        raise UsageError(INSTALL_HINT) from None


@functools.cache
def _facet_classes() -> tuple[type, type]:
    """The custom facet classes, built on first use so the client is imported only when needed."""
    import attr
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class RippleCacheRunFacet(RunFacet):
        """``ripple_cache``: the cache decision for one node run."""

        decision: str
        why: str | None = attr.field(default=None)
        codeVersion: str | None = attr.field(default=None)  # noqa: N815
        dataVersion: str | None = attr.field(default=None)  # noqa: N815
        savedSeconds: float | None = attr.field(default=None)  # noqa: N815
        rippleRunId: str | None = attr.field(default=None)  # noqa: N815

        @staticmethod
        def _get_schema() -> str:
            return FACETS_SCHEMA_ID + "#/$defs/RippleCacheRunFacet"

    @attr.define
    class RippleRunRunFacet(RunFacet):
        """``ripple_run``: one pipeline execution and the final state of its nodes."""

        rippleRunId: str  # noqa: N815
        outputs: list[str] | None = attr.field(default=None)
        executor: str | None = attr.field(default=None)
        status: str | None = attr.field(default=None)
        nodes: dict[str, str] | None = attr.field(default=None)

        @staticmethod
        def _get_schema() -> str:
            return FACETS_SCHEMA_ID + "#/$defs/RippleRunRunFacet"

    return RippleCacheRunFacet, RippleRunRunFacet


def _iso(t: float | None = None) -> str:
    """Timezone-aware UTC: the spec's date-time format rejects naive timestamps."""
    return (datetime.fromtimestamp(t, tz=UTC) if t is not None else datetime.now(UTC)).isoformat()


def _client_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openlineage-python")
    except PackageNotFoundError:
        return "unknown"


def make_client() -> Any:
    """``OpenLineageClient()`` configured the OpenLineage way (yml / env); a clear error if absent."""
    _require_client()
    from openlineage.client import OpenLineageClient

    return OpenLineageClient()


def _private_version(node: Node | None, version: str | None) -> bool:
    """True when a data version must not leave the process: the node is sensitive, or the version
    is the random token of a ``disable`` node (it says nothing true about the value)."""
    return bool(version) and ((node is not None and node.sensitive) or str(version).startswith("disabled:"))


def declared_files(node: Node) -> list[str]:
    """Absolute paths of ``Path``/``File`` parameter defaults: the data files a node declares."""
    from .files import File

    if not node.optional:
        return []
    try:
        params = inspect.signature(node.origin).parameters
    except (TypeError, ValueError):
        return []
    out = []
    for p in sorted(node.optional):
        default = params[p].default if p in params else None
        if isinstance(default, PurePath | File):
            out.append(os.path.abspath(os.fspath(default)))
    return out


class _Naming:
    """Job and dataset names shared by run and static lineage, so both describe the same graph."""

    def __init__(self, driver: Driver, namespace: str, job_prefix: str | None, producer: str) -> None:
        self.driver = driver
        self.namespace = namespace
        self.base = job_prefix or driver.pipeline_name
        self.dataset_namespace = f"ripple://{Path(driver.project_root).name or 'project'}"
        self.producer = producer
        self._job_facets: dict[str, dict[str, Any]] = {}
        self._git: dict[str, str] | None = None

    def job_name(self, node: str | None = None) -> str:
        return self.base if node is None else f"{self.base}.{node}"

    # ------------------------------------------------------------------ datasets
    def output(self, node: str, version: str | None) -> Any:
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.facet_v2 import dataset_type_dataset, dataset_version_dataset

        facets: dict[str, Any] = {"datasetType": dataset_type_dataset.DatasetTypeDatasetFacet(
            datasetType="JOB_OUTPUT", producer=self.producer)}
        n = self.driver.graph.nodes.get(node)
        if version and not _private_version(n, version):
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=version, producer=self.producer)
        return OutputDataset(namespace=self.dataset_namespace, name=self.job_name(node), facets=facets)

    def inputs(self, node: str, versions: dict[str, str]) -> list[Any]:
        from openlineage.client.event_v2 import InputDataset
        from openlineage.client.facet_v2 import dataset_version_dataset

        graph = self.driver.graph
        n = graph.nodes[node]
        out = []
        for up in dict.fromkeys(s for s in n.deps.values() if s in graph.nodes):
            facets: dict[str, Any] = {}
            v = versions.get(up)
            if v and not _private_version(graph.nodes[up], v):
                facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=v, producer=self.producer)
            out.append(InputDataset(namespace=self.dataset_namespace, name=self.job_name(up), facets=facets))
        for path in declared_files(n):
            out.append(InputDataset(namespace="file", name=path))
        return out

    # ------------------------------------------------------------------ job facets
    def job(self, node: str | None) -> Any:
        from openlineage.client.event_v2 import Job

        return Job(namespace=self.namespace, name=self.job_name(node), facets=self.job_facets(node))

    def job_facets(self, node: str | None) -> dict[str, Any]:
        key = node or ""
        got = self._job_facets.get(key)
        if got is None:
            got = self._job_facets[key] = self._build_job_facets(node)
        return got

    def _build_job_facets(self, node: str | None) -> dict[str, Any]:
        from openlineage.client.facet_v2 import documentation_job, job_type_job, source_code_job, tags_job

        p = self.producer
        facets: dict[str, Any] = {"jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration=INTEGRATION, jobType="DAG" if node is None else "TASK", producer=p)}
        if node is None:
            mods = self.driver.modules
            if mods and getattr(mods[0], "__file__", None):
                loc = self._location(mods[0].__file__, 1)
                if loc is not None:
                    facets["sourceCodeLocation"] = loc
            doc = (getattr(mods[0], "__doc__", None) or "").strip() if mods else ""
            if doc:
                facets["documentation"] = documentation_job.DocumentationJobFacet(description=doc, producer=p)
            return facets
        n = self.driver.graph.nodes[node]
        src = _source(n)
        if src:
            facets["sourceCode"] = source_code_job.SourceCodeJobFacet(language="python", sourceCode=src, producer=p)
        loc = self._location(n.file, n.line)
        if loc is not None:
            facets["sourceCodeLocation"] = loc
        if n.doc:
            facets["documentation"] = documentation_job.DocumentationJobFacet(description=n.doc, producer=p)
        tags = [tags_job.TagsJobFacetFields(key=str(k), value=str(v), source="RIPPLE")
                for k, v in sorted(n.tags.items()) if isinstance(v, str | int | float | bool)]
        if tags:
            facets["tags"] = tags_job.TagsJobFacet(tags=tags, producer=p)
        return facets

    def _location(self, file: str, line: int) -> Any:
        """``git`` when the project is in a git work tree (URL of the file at HEAD on an http(s)
        remote, else a ``file://`` URL), otherwise type ``file`` with a ``file://`` URL: the spec's
        ``url`` must be a URI, and a local path is the only honest one we have."""
        from openlineage.client.facet_v2 import source_code_location_job

        if not file:
            return None
        path = Path(file).resolve()
        git = self._git_info()
        url = path.as_uri() + (f"#L{line}" if line else "")
        if git:
            try:
                rel = path.relative_to(git["top"]).as_posix()
            except ValueError:
                git = {}
        if git:
            remote = git.get("remote", "")
            web = remote[:-4] if remote.endswith(".git") else remote
            if web.startswith(("https://", "http://")) and git.get("sha"):
                url = f"{web}/blob/{git['sha']}/{rel}" + (f"#L{line}" if line else "")
            return source_code_location_job.SourceCodeLocationJobFacet(
                type="git", url=url, repoUrl=remote or None, path=rel, version=git.get("sha") or None,
                branch=git.get("branch") or None, producer=self.producer)
        try:
            rel = path.relative_to(Path(self.driver.project_root).resolve()).as_posix()
        except ValueError:
            rel = str(path)
        return source_code_location_job.SourceCodeLocationJobFacet(type="file", url=url, path=rel,
                                                                    producer=self.producer)

    def _git_info(self) -> dict[str, str]:
        if self._git is None:
            self._git = _git_info(Path(self.driver.project_root))
        return self._git


def _git_info(root: Path) -> dict[str, str]:
    """Top folder, HEAD sha, branch and origin URL; empty when not a git work tree (or no git)."""
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    top = git("rev-parse", "--show-toplevel")
    if not top:
        return {}
    return {"top": top, "sha": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "remote": git("config", "--get", "remote.origin.url")}


def _source(node: Node) -> str:
    try:
        return inspect.getsource(node.origin)
    except (OSError, TypeError):
        return ""


@dataclass
class _ChildRun:
    run_id: str
    started: bool = False


class LineageListener:
    """Turns one driver's run events into OpenLineage RunEvents (see the module docstring).

    A broken transport (collector down) must not fail the pipeline, nor stall it: the client's HTTP
    transport retries each event for ~9 s before giving up, which would add minutes to a run. So
    after a failed send no event is attempted for ``pause_seconds`` (they are counted in ``errors``
    and ``dropped``); then sending is tried again, so a collector that comes back gets the later
    runs of a watch session. Send errors are logged once; the listener stays attached.
    """

    pause_seconds = 30.0

    def __init__(self, driver: Driver, client: Any = None, namespace: str = "ripple",
                 job_prefix: str | None = None, *, producer: str = PRODUCER) -> None:
        _require_client()
        self.driver = driver
        self.client = client if client is not None else make_client()
        self.names = _Naming(driver, namespace, job_prefix, producer)
        self.producer = producer
        self.sent = 0
        self.errors = 0
        self.dropped = 0
        self._down_since: float | None = None
        self._lock = threading.Lock()
        self._runs: dict[str, str] = {}  # ripple run id -> OpenLineage run id
        self._children: dict[tuple[str, str], _ChildRun] = {}
        self._versions: dict[str, dict[str, str]] = {}
        self._planned: dict[str, dict[str, str]] = {}
        self._states: dict[str, dict[str, str]] = {}
        self._meta: dict[str, ev.RunStarted] = {}
        self._warned: set[str] = set()

    def openlineage_run_id(self, ripple_run_id: str) -> str | None:
        """The OpenLineage runId of a Ripple run this listener has seen."""
        return self._runs.get(ripple_run_id)

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            handler = getattr(self, "_on_" + event.kind, None)
            if handler is not None:
                handler(event)

    # ------------------------------------------------------------------ events
    def _on_run_started(self, e: ev.RunStarted) -> None:
        from openlineage.client.event_v2 import Run
        from openlineage.client.facet_v2 import processing_engine_run
        from openlineage.client.uuid import generate_static_uuid

        run_uuid = str(generate_static_uuid(datetime.fromtimestamp(e.t, tz=UTC),
                                            f"ripple:{self.names.base}:{e.run_id}".encode()))
        self._runs[e.run_id] = run_uuid
        self._meta[e.run_id] = e
        self._versions[e.run_id] = {}
        self._planned[e.run_id] = {}
        self._states[e.run_id] = {}
        _, RunFacet = _facet_classes()  # noqa: N806
        facets = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=RIPPLE_VERSION, name="Ripple", openlineageAdapterVersion=_client_version(),
                producer=self.producer),
            "ripple_run": RunFacet(rippleRunId=e.run_id, outputs=list(e.outputs), executor=e.executor,
                                   status="running", producer=self.producer),
        }
        self._send("START", e.t, Run(runId=run_uuid, facets=facets), self.names.job(None))

    def _on_node_planned(self, e: ev.NodePlanned) -> None:
        self._planned.setdefault(e.run_id, {})[e.node] = e.why

    def _on_node_started(self, e: ev.NodeStarted) -> None:
        child = self._child(e.run_id, e.node, e.t)
        if child is None or child.started:
            return  # a fan-out node: one child run for all its items
        child.started = True
        self._node_event("START", e.run_id, e.node, e.t, child, decision=None)

    def _on_node_cached(self, e: ev.NodeCached) -> None:
        self._versions.setdefault(e.run_id, {})[e.node] = e.data_version
        self._finish_node(e.run_id, e.node, e.t, "COMPLETE", "hit", e.why, e.code_version, e.data_version,
                          saved=e.saved_seconds)

    def _on_node_finished(self, e: ev.NodeFinished) -> None:
        self._versions.setdefault(e.run_id, {})[e.node] = e.data_version
        self._finish_node(e.run_id, e.node, e.t, "COMPLETE", "ran", e.why, e.code_version, e.data_version)

    def _on_node_failed(self, e: ev.NodeFailed) -> None:
        from openlineage.client.facet_v2 import error_message_run

        err = error_message_run.ErrorMessageRunFacet(
            message=f"{e.error_type}: {e.error}" if e.error_type else e.error, programmingLanguage="python",
            stackTrace=e.traceback or None, producer=self.producer)
        self._finish_node(e.run_id, e.node, e.t, "FAIL", "failed", "", self._code_version(e.node), "",
                          extra={"errorMessage": err})

    def _on_node_skipped(self, e: ev.NodeSkipped) -> None:
        self._finish_node(e.run_id, e.node, e.t, "ABORT", "skipped", e.reason, self._code_version(e.node), "")

    def _on_run_finished(self, e: ev.RunFinished) -> None:
        from openlineage.client.event_v2 import Run
        from openlineage.client.facet_v2 import error_message_run

        run_uuid = self._runs.get(e.run_id)
        if run_uuid is None:
            return
        for rid, node in list(self._children):
            if rid == e.run_id:  # cancelled mid-node: every child run still needs its terminal event
                self._finish_node(rid, node, e.t, "ABORT", "skipped", f"run {e.status}", self._code_version(node), "")
        started = self._meta.pop(e.run_id, None)
        _, RunFacet = _facet_classes()  # noqa: N806
        facets: dict[str, Any] = {"ripple_run": RunFacet(
            rippleRunId=e.run_id, outputs=list(started.outputs) if started else None,
            executor=started.executor if started else None, status=e.status,
            nodes=dict(self._states.pop(e.run_id, {})), producer=self.producer)}
        if e.status != "ok" and e.error:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=e.error, programmingLanguage="python", producer=self.producer)
        self._send(_TERMINAL.get(e.status, "FAIL"), e.t, Run(runId=run_uuid, facets=facets), self.names.job(None))
        for d in (self._versions, self._planned):
            d.pop(e.run_id, None)
        self._runs.pop(e.run_id, None)
        self._warned.discard(e.run_id)

    # ------------------------------------------------------------------ helpers
    def _child(self, run_id: str, node: str, t: float) -> _ChildRun | None:
        from openlineage.client.uuid import generate_static_uuid

        if run_id not in self._runs or node not in self.driver.graph.nodes:
            return None
        key = (run_id, node)
        child = self._children.get(key)
        if child is None:
            uid = generate_static_uuid(datetime.fromtimestamp(t, tz=UTC),
                                       f"ripple:{self._runs[run_id]}:{node}".encode())
            child = self._children[key] = _ChildRun(str(uid))
        return child

    def _code_version(self, node: str) -> str:
        cache = getattr(self.driver, "cache", None)
        n = self.driver.graph.nodes.get(node)
        if cache is None or n is None:
            return ""
        try:
            return str(cache.code_version(n).digest)
        except Exception:  # noqa: BLE001 - a version is a nicety here, never a reason to lose the event
            return ""

    def _finish_node(self, run_id: str, node: str, t: float, state: str, decision: str, why: str,
                     code_version: str, data_version: str, *, saved: float | None = None,
                     extra: dict[str, Any] | None = None) -> None:
        child = self._child(run_id, node, t)
        if child is None:
            return
        if not child.started:
            child.started = True
            self._node_event("START", run_id, node, t, child, decision=None)
        self._states.setdefault(run_id, {})[node] = {"hit": ev.CACHED}.get(decision, decision)
        cache_facet = self._cache_facet(run_id, node, decision, why, code_version, data_version, saved)
        self._node_event(state, run_id, node, t, child, decision=decision,
                         run_facets={"ripple_cache": cache_facet, **(extra or {})},
                         output_version=data_version or None)
        self._children.pop((run_id, node), None)

    def _cache_facet(self, run_id: str, node: str, decision: str, why: str, code_version: str,
                     data_version: str, saved: float | None) -> Any:
        CacheFacet, _ = _facet_classes()  # noqa: N806
        n = self.driver.graph.nodes.get(node)
        private = _private_version(n, data_version)
        return CacheFacet(decision=decision, why=why or self._planned.get(run_id, {}).get(node) or None,
                          codeVersion=code_version or None,
                          dataVersion=None if private or not data_version else data_version,
                          savedSeconds=round(saved, 6) if saved else None, rippleRunId=run_id,
                          producer=self.producer)

    def _node_event(self, state: str, run_id: str, node: str, t: float, child: _ChildRun, *,
                    decision: str | None, run_facets: dict[str, Any] | None = None,
                    output_version: str | None = None) -> None:
        from openlineage.client.event_v2 import Run
        from openlineage.client.facet_v2 import parent_run

        parent_uuid = self._runs[run_id]
        pjob = self.names.job_name(None)
        parent = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent_uuid), job=parent_run.Job(namespace=self.names.namespace, name=pjob),
            root=parent_run.Root(run=parent_run.RootRun(runId=parent_uuid),
                                 job=parent_run.RootJob(namespace=self.names.namespace, name=pjob)),
            producer=self.producer)
        facets = {"parent": parent, **(run_facets or {})}
        versions = self._versions.get(run_id, {})
        outputs = [self.names.output(node, output_version)] if decision in (None, "hit", "ran") else []
        self._send(state, t, Run(runId=child.run_id, facets=facets), self.names.job(node),
                   inputs=self.names.inputs(node, versions), outputs=outputs)

    def _send(self, state: str, t: float, run: Any, job: Any, *, inputs: list[Any] | None = None,
              outputs: list[Any] | None = None) -> None:
        from openlineage.client.event_v2 import RunEvent, RunState

        if self._down_since is not None:
            if time.monotonic() - self._down_since < self.pause_seconds:
                self.errors += 1
                self.dropped += 1
                return
            self._down_since = None
        event = RunEvent(eventType=RunState[state], eventTime=_iso(t), run=run, job=job, inputs=inputs or [],
                         outputs=outputs or [], producer=self.producer)
        try:
            self.client.emit(event)
            self.sent += 1
        except Exception as exc:  # noqa: BLE001 - lineage must never fail the pipeline
            self.errors += 1
            self._down_since = time.monotonic()
            if "send" not in self._warned:
                self._warned.add("send")
                log.warning("OpenLineage: could not send an event (%s: %s); the run continues, and no "
                            "events are sent for the next %.0f s", type(exc).__name__, exc, self.pause_seconds)


# ---------------------------------------------------------------------- static lineage


def static_job_events(driver: Driver, namespace: str = "ripple", job_prefix: str | None = None, *,
                      producer: str = PRODUCER) -> list[Any]:
    """JobEvents (no run) for the pipeline and every node: the graph's lineage before anything runs."""
    _require_client()
    from openlineage.client.event_v2 import JobEvent

    names = _Naming(driver, namespace, job_prefix, producer)
    graph = driver.graph
    now = _iso()
    finals = [n for n in graph.order if not graph.succ[n]]
    files = sorted({p for n in graph.order for p in declared_files(graph.nodes[n])})
    from openlineage.client.event_v2 import InputDataset

    out = [JobEvent(eventTime=now, producer=producer, job=names.job(None),
                    inputs=[InputDataset(namespace="file", name=p) for p in files],
                    outputs=[names.output(n, None) for n in finals])]
    for n in graph.order:
        out.append(JobEvent(eventTime=now, producer=producer, job=names.job(n), inputs=names.inputs(n, {}),
                            outputs=[names.output(n, None)]))
    return out


def to_json(event: Any) -> str:
    """One event as the client serialises it (what a transport would send)."""
    from openlineage.client.serde import Serde

    return Serde.to_json(event)


class PrintTransport:
    """A client transport writing each event as one JSON line (``ripple lineage emit --print``)."""

    def __new__(cls, stream: Any) -> Any:  # a real ``Transport`` subclass, built lazily
        from openlineage.client.transport.transport import Transport

        class _Print(Transport):
            kind = "ripple_print"

            def __init__(self, out: Any) -> None:
                self.out = out

            def emit(self, event: Any) -> None:
                self.out.write(to_json(event) + "\n")
                self.out.flush()

        return _Print(stream)


# ---------------------------------------------------------------------- impact analysis


@dataclass
class Impact:
    """What a change to ``target`` reaches: ``sources`` are the nodes it touches directly, ``downstream``
    everything that depends on them (topological order, sources excluded)."""

    target: str
    kind: str  # "node" | "file"
    sources: list[str] = field(default_factory=list)
    downstream: list[str] = field(default_factory=list)
    #: for a file: node -> how it is known to read it ("declared" default / "recorded" read)
    readers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_store(driver: Driver, cache_dir: str | os.PathLike[str] | None = None) -> Store | None:
    """The pipeline's store if it exists; never creates one (analysis must not leave a cache behind)."""
    if getattr(driver, "cache", None) is not None:
        return driver.cache.store
    from .caching import project_settings, resolve_cache_dir
    from .store import Store

    path = resolve_cache_dir(cache_dir, Path(driver.project_root), project_settings(Path(driver.project_root)))
    return Store(path) if (path / "meta.sqlite").exists() else None


def impact(driver: Driver, target: str, store: Store | None = None) -> Impact:
    """Nodes downstream of a node, or of a data file (declared as a ``Path``/``File`` default, or
    recorded being read in the store's entries). A directory covers the files under it."""
    graph = driver.graph
    if target in graph.nodes:
        down = graph.downstream([target]) - {target}
        return Impact(target, "node", [target], [n for n in graph.order if n in down])
    candidates = [Path(target)] if Path(target).is_absolute() else [Path.cwd() / target,
                                                                      Path(driver.project_root) / target]
    paths = [os.path.abspath(p) for p in candidates]

    def covers(p: str) -> bool:
        p = os.path.abspath(p)
        return any(p == t or p.startswith(t.rstrip(os.sep) + os.sep) for t in paths)

    readers: dict[str, str] = {}
    for name in graph.order:
        if any(covers(p) for p in declared_files(graph.nodes[name])):
            readers[name] = "declared"
    store = store if store is not None else open_store(driver)
    if store is not None:
        for name, entries in store.entries_for(list(graph.nodes), full=True).items():
            if name in readers or not entries:
                continue
            latest = max(entries, key=lambda e: e.created)
            if any(covers(p) for p in (latest.files or {})):
                readers[name] = "recorded"
    if not readers and not any(os.path.exists(p) for p in paths):
        from .cli import _did_you_mean

        raise UsageError(f"{target!r} is neither a node of pipeline {driver.pipeline_name} nor an existing file"
                         f"{_did_you_mean(target, graph.nodes)}; give a node name or a data file path.")
    sources = [n for n in graph.order if n in readers]
    down = graph.downstream(sources) - set(sources)
    shown = next((p for p in paths if os.path.exists(p)), paths[0])
    return Impact(shown, "file", sources, [n for n in graph.order if n in down], readers)


# ---------------------------------------------------------------------- root-cause analysis


@dataclass
class Change:
    """One difference between the failing run and the node's last good run."""

    node: str
    kind: str  # "code" | "data" | "file"
    before: str | None
    after: str | None
    #: changed code components (helpers, constants) for "code"; the path for "file"
    parts: list[str] = field(default_factory=list)
    #: a change that did not itself follow from another change upstream
    probable: bool = False


@dataclass
class RootCause:
    pipeline: str
    node: str | None = None
    run_id: str | None = None
    error: str | None = None
    good_run_id: str | None = None
    changes: list[Change] = field(default_factory=list)
    note: str = ""

    @property
    def probable(self) -> list[Change]:
        return [c for c in self.changes if c.probable]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_GOOD = (ev.RAN, ev.CACHED)


def root_cause(driver: Driver, store: Store | None = None, node: str | None = None,
               run_id: str | None = None) -> RootCause:
    """For the last failed run (or ``node``'s last failure): which upstream code versions, data versions
    and read files changed since that node's last good run.

    The failing node's own code is compared as it is now (a failed run records no code version for
    the node that raised); its upstream nodes are compared as the failing run recorded them.
    """
    from .files import file_version
    from .versioning import diff_parts

    graph = driver.graph
    store = store if store is not None else open_store(driver)
    out = RootCause(driver.pipeline_name, node)
    if store is None:
        raise UsageError(f"no run history for pipeline {driver.pipeline_name}; run it first (ripple run).")
    if node is not None and node not in graph.nodes:
        from .cli import _did_you_mean

        raise UsageError(f"--node names unknown node {node!r}{_did_you_mean(node, graph.nodes)}.")
    limit = max(int(getattr(store, "history_limit", 200) or 200), 1)
    failing: NodeRunRecord | None = None
    history: list[NodeRunRecord] = []
    if node is not None:
        history = store.node_history(node, limit=limit * 4)
        failing = next((r for r in history if r.status == ev.FAILED and (run_id is None or r.run_id == run_id)), None)
    else:
        for run in store.runs(limit=limit):
            if run.pipeline != driver.pipeline_name or run.status != "failed" or (run_id and run.run_id != run_id):
                continue
            failing = next((r for r in store.run_nodes(run.run_id) if r.status == ev.FAILED and r.node in graph.nodes),
                           None)
            if failing is not None:
                break
        if failing is not None:
            out.node = failing.node
            history = store.node_history(failing.node, limit=limit * 4)
    if failing is None:
        out.note = f"no failed run{f' of node {node}' if node else ''} in the history."
        return out
    out.run_id, out.error = failing.run_id, failing.error
    older = history[[r.run_id for r in history].index(failing.run_id) + 1:] if failing.run_id in \
        [r.run_id for r in history] else []
    good = next((r for r in older if r.status in _GOOD), None)
    if good is None:
        out.note = f"{failing.node} never succeeded before this failure; nothing to compare with."
        return out
    out.good_run_id = good.run_id
    bad_rows = {r.node: r for r in store.run_nodes(failing.run_id)}
    good_rows = {r.node: r for r in store.run_nodes(good.run_id)}
    cache = getattr(driver, "cache", None)
    ups = graph.upstream([failing.node])
    changes: list[Change] = []
    for name in [n for n in graph.order if n in ups]:
        before, after = good_rows.get(name), bad_rows.get(name)
        if before is None:
            continue
        g_entry = store.get(before.key) if before.key else None
        now_code, now_parts = (after.code_version if after else None), None
        if name == failing.node or not now_code:
            if cache is not None:
                cv = cache.code_version(graph.nodes[name])
                now_code, now_parts = cv.digest, cv.parts
        if now_code and before.code_version and now_code != before.code_version:
            if now_parts is None and after is not None and after.key:
                b_entry = store.get(after.key)
                now_parts = b_entry.code_parts if b_entry else None
            parts = diff_parts(g_entry.code_parts or {}, now_parts) if g_entry and now_parts is not None else []
            changes.append(Change(name, "code", before.code_version, now_code, parts))
        if after is not None and name != failing.node and before.data_version and after.data_version \
                and before.data_version != after.data_version \
                and not _private_version(graph.nodes[name], before.data_version):
            changes.append(Change(name, "data", before.data_version, after.data_version))
        for path, version in ((g_entry.files or {}) if g_entry else {}).items():
            try:
                now = file_version(path)
            except OSError:
                now = None
            if now != version:
                changes.append(Change(name, "file", version, now, [path]))
    changed_code = {c.node for c in changes if c.kind in ("code", "file")}
    changed_any = {c.node for c in changes}
    for c in changes:
        if c.kind in ("code", "file"):
            c.probable = True
        else:  # a data change is a cause only if nothing upstream of it changed too
            c.probable = c.node not in changed_code and not (graph.upstream([c.node]) - {c.node}) & changed_any
    changes.sort(key=lambda c: (not c.probable, graph.order.index(c.node)))
    out.changes = changes
    if not changes:
        out.note = "no upstream code, data or file changed since the last good run; the failure may depend " \
                   "on an input or config value, or on something outside the pipeline."
    return out


def format_root_cause(rc: RootCause) -> str:
    if rc.run_id is None or rc.good_run_id is None:
        return f"{rc.pipeline}: {rc.note}"
    lines = [f"{rc.node} failed in run {rc.run_id}: {rc.error}",
             f"compared with its last good run {rc.good_run_id}:"]
    for c in rc.changes:
        what = {"code": "code changed", "data": "data changed", "file": "file changed"}[c.kind]
        detail = f" ({', '.join(c.parts)})" if c.parts else ""
        mark = "probable cause" if c.probable else "follows"
        lines.append(f"  {mark:14} {c.node}: {what}{detail} {(c.before or '')[:12]} -> {(c.after or '-')[:12]}")
    if rc.note:
        lines.append(rc.note)
    return "\n".join(lines)


def format_impact(imp: Impact) -> str:
    head = (f"{imp.target} is read by {', '.join(imp.sources) or 'no node'}" if imp.kind == "file"
            else f"node {imp.target}")
    down = ", ".join(imp.downstream) if imp.downstream else "nothing"
    return f"{head}\ndownstream ({len(imp.downstream)}): {down}"


# ---------------------------------------------------------------------- CLI


def lineage_command(args: Any) -> int:
    """``ripple lineage impact|root-cause|emit`` (dispatched lazily from ``engine.cli``)."""
    from . import cli

    action = args.lineage_command
    if action == "impact":
        dr = _plain_driver(args)
        imp = impact(dr, args.target, open_store(dr, getattr(args, "cache_dir", None)))
        print(json.dumps(imp.to_dict()) if args.json else format_impact(imp))
        return 0
    if action == "root-cause":
        dr = _plain_driver(args)
        store = open_store(dr, getattr(args, "cache_dir", None))
        if store is None:
            raise UsageError(f"no run history for pipeline {dr.pipeline_name}; run it first (ripple run "
                             f"{args.pipeline}) or pass --cache-dir.")
        from .caching import Cache

        dr.cache = Cache(dr, store, behaviors={}, default_behavior="default", max_size=None)
        try:
            rc = root_cause(dr, store, args.node)
        finally:
            store.close()
        print(json.dumps(rc.to_dict()) if args.json else format_root_cause(rc))
        return 0
    # emit
    _require_client()
    printing = bool(args.json or args.print)
    with cli._stdout_to_stderr() as out:
        client = _cli_client(out if printing else None)
        if args.static:
            dr = _plain_driver(args)
            events = static_job_events(dr, args.namespace, args.job_prefix)
            for e in events:
                client.emit(e)
            client.close(5.0)
            if not printing:
                print(f"ripple: sent {len(events)} OpenLineage JobEvents via {client.transport.kind}", file=sys.stderr)
            return 0
        dr = cli._driver(args)
        outputs = cli._outputs(dr, args.outputs)
        inputs = cli._typed(dr, cli._kv(args.input, "input"))
        listener = LineageListener(dr, client, args.namespace, args.job_prefix)
        dr.add_listener(listener)
        result = cli._run(dr, outputs, inputs)
        client.close(5.0)
    if not printing:
        print(f"ripple: run {result.run_id} {result.status}; sent {listener.sent} OpenLineage events via "
              f"{client.transport.kind}" + (f" ({listener.errors} failed to send)" if listener.errors else ""),
              file=sys.stderr)
    return 0 if result.status == "ok" else 1


def _plain_driver(args: Any) -> Driver:
    """A driver without a cache: analysis and static lineage must not create a store."""
    from . import cli
    from .driver import Driver

    raw, config = cli._config(args)
    dr = Driver(config, args.pipeline)
    dr._cli_pipeline = args.pipeline  # type: ignore[attr-defined]
    cli._check_nonempty(dr)
    cli._retype_config(dr, raw)
    return dr


def _cli_client(stream: Any) -> Any:
    """The printing client, or the configured one; refuse the client's silent console fallback."""
    from openlineage.client import OpenLineageClient

    if stream is not None:
        return OpenLineageClient(transport=PrintTransport(stream))
    client = OpenLineageClient()
    transport_conf = (client.config.transport or {}) if hasattr(client, "config") else {}
    if getattr(client.transport, "kind", "") == "console" and not transport_conf.get("type"):
        raise UsageError("no OpenLineage transport is configured; set OPENLINEAGE_URL (or "
                         "OPENLINEAGE__TRANSPORT__TYPE, or an openlineage.yml), or add --print to print the events.")
    return client
