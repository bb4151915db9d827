from __future__ import annotations

import functools
import inspect
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine._log import log
from engine._version import __version__
from engine.errors import UsageError

if TYPE_CHECKING:
    from engine.core.graph import Node
    from engine.driver import Driver



RIPPLE_VERSION = __version__
#: ``producer`` of every event and facet. A URN, not a URL: Ripple has no web home to claim yet,
#: and the spec only asks for a URI. Override with ``LineageListener(..., producer=...)``.
PRODUCER = f"urn:ripple:engine:{RIPPLE_VERSION}"
#: ``$id`` of the shipped custom-facet schema (``engine/lineage/facets.json``).
FACETS_SCHEMA_ID = "urn:ripple:spec:facets:1-0-0:RippleFacets.json"
FACETS_SCHEMA_FILE = Path(__file__).with_name("facets.json")
INTEGRATION = "RIPPLE"
INSTALL_HINT = "OpenLineage support needs openlineage-python: pip install 'ripple[lineage]'."

_TERMINAL = {"ok": "COMPLETE", "failed": "FAIL", "cancelled": "ABORT"}


def require_client() -> None:
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
    require_client()
    from openlineage.client import OpenLineageClient

    return OpenLineageClient()


def _private_version(node: Node | None, version: str | None) -> bool:
    """True when a data version must not leave the process: the node is sensitive, or the version
    is the random token of a ``disable`` node (it says nothing true about the value)."""
    return bool(version) and ((node is not None and node.sensitive) or str(version).startswith("disabled:"))


def declared_files(node: Node) -> list[str]:
    """Absolute paths of ``Path``/``File`` parameter defaults: the data files a node declares."""
    from engine.files import File

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
        require_client()
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
