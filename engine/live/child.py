from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from typing import Any

from engine import events as ev
from engine.core.loading import drop_racy_pycs
from engine.core.reads import ReadRecorder
from engine.live.project import is_library, project_dirs
from engine.live.protocol import EXIT_ERROR, EXIT_FAILED, EXIT_OK, FILES_LEVEL, GRAPH_LEVEL, RunRequest

# ============================================================================================ child side


class _EventWriter:
    """Writes events as JSON lines to a pipe; thread-safe because pool executors emit from threads.

    The plan's per-node predictions (one ``NodePlanned`` per node, all before the first node
    starts) go out in one write with the next other event: a write each was ~9 ms of a
    1,000-node run before its first node."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self._planned: list[str] = []

    def emit(self, event: ev.Event) -> None:
        line = event.to_json() + "\n"
        with self.lock:
            if isinstance(event, ev.NodePlanned):
                self._planned.append(line)
                return
            if self._planned:
                line = "".join(self._planned) + line
                self._planned.clear()
            view = memoryview(line.encode())
            while view:
                n = os.write(self.fd, view)
                view = view[n:]


class _NodeReads:
    """Which data files each node read, so the watcher can watch them next time: the one
    :class:`~engine.core.reads.ReadRecorder`, entered from a node's start event to its end.

    Sequential runs attribute exactly; pool runs attribute what the node's own thread read.
    """

    def __init__(self, skip: Iterable[str]) -> None:
        self.ignore = tuple(os.path.realpath(p) + os.sep for p in skip)
        self.current: str | None = None
        self._rec: ReadRecorder | None = None
        self.reads: dict[str, set[str]] = {}

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.NodeStarted):
            self.close()
            self.current, self._rec = event.node, ReadRecorder(self.ignore, probes=False)
            self._rec.__enter__()
        elif isinstance(event, ev.NodeFinished | ev.NodeFailed | ev.NodeCached) and event.node == self.current:
            self.close()

    def close(self) -> None:
        rec, node = self._rec, self.current
        self._rec = self.current = None
        if rec is None or node is None:
            return
        rec.__exit__(None, None, None)
        keep = {os.path.realpath(p) for p in rec.paths}
        keep = {p for p in keep if f"{os.sep}.ripple{os.sep}" not in p and f"{os.sep}__pycache__{os.sep}" not in p}
        if keep:
            self.reads.setdefault(node, set()).update(keep)

    def files(self) -> dict[str, list[str]]:
        return {node: sorted(paths) for node, paths in self.reads.items()}


def _describe(dr: Any, outputs: list[str], values: dict[str, Any], cwd: str) -> dict[str, Any]:
    """The graph as the watcher needs it: deps, origin function per node, modules and data files."""
    import inspect

    from engine.core.render import graph_document

    root = os.path.realpath(str(dr.project_root))
    g = dr.graph
    nodes: dict[str, Any] = {
        d["name"]: {"deps": sorted(set(d["deps"])), "module": d["module"], "symbol": d["symbol"],
                    "file": d["file"], "line": d["line"]}
        for d in graph_document(g)["nodes"]
    }
    modules = {}
    engine_dir = os.path.dirname(os.path.realpath(__file__)) + os.sep
    prefixes = tuple({root + os.sep, os.path.abspath(str(dr.project_root)) + os.sep})
    for mname, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if not f or not f.startswith(prefixes):  # cheap test first: thousands of library modules
            continue
        real = os.path.realpath(f)
        if real.startswith(root + os.sep) and not is_library(real) and not real.startswith(engine_dir):
            modules[mname] = real
    data: dict[str, list[str]] = {}
    for ext in g.externals.values():
        value = values.get(ext.name, inspect.Parameter.empty)
        candidates = [value]
        if value is inspect.Parameter.empty:
            candidates = []
            for consumer in ext.consumers:
                node = g.nodes[consumer]
                for param, src in node.deps.items():
                    if src != ext.name:
                        continue
                    try:
                        p = inspect.signature(node.origin).parameters.get(param)
                    except (TypeError, ValueError):
                        p = None
                    if p is not None and p.default is not inspect.Parameter.empty:
                        candidates.append(p.default)
        for v in candidates:
            if isinstance(v, os.PathLike) and not isinstance(v, str | bytes):
                path = os.path.realpath(os.path.join(cwd, os.fspath(v)))
                data.setdefault(path, [])
                data[path].extend(c for c in ext.consumers if c not in data[path])
    try:
        planned = list(dr.plan_for(outputs, [k for k in values if k not in dr.config], ()).order)
    except Exception:  # noqa: BLE001 - the run itself reports planning errors properly
        planned = list(g.order)
    return {"pipeline": dr.pipeline_name, "root": root, "nodes": nodes, "planned": planned,
            "outputs": outputs, "modules": modules, "data": data}


def run_child(request: RunRequest, fd: int) -> int:
    """Body of a run's child process: load, build, run, stream events to ``fd``; returns exit code."""
    out = _EventWriter(fd)
    run_id = request.run_id or os.urandom(6).hex()
    try:
        from engine.core.inputs import parse_value, resolve_outputs, typed_inputs
        from engine.driver import Driver
        from engine.errors import RippleError, UsageError
    except BaseException as exc:  # noqa: BLE001 - an engine that cannot even import is an error run
        out.emit(ev.Message(run_id, time.time(), level="error", text=f"ripple engine failed to import: {exc}"))
        return EXIT_ERROR
    cwd = os.path.realpath(request.cwd or os.getcwd())
    try:
        os.chdir(cwd)
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
        files, root = project_dirs(request.pipeline, cwd)
        drop_racy_pycs({root, *(f.parent for f in files)})
        config = {k: parse_value(v) for k, v in request.config.items()}
        dr = Driver(config, request.pipeline, executor=request.executor)
        if not request.no_cache:
            behaviors = {n: "recompute" for n in request.recompute}
            unknown = [n for n in behaviors if n not in dr.graph.nodes]
            if unknown:
                raise UsageError(f"recompute names unknown node {unknown[0]!r}; see `ripple graph {request.pipeline}`.")
            dr.with_cache(request.cache_dir, behaviors=behaviors, max_size=request.max_size)
        for spec, arg in request.driver_hooks:
            import importlib

            module, _, func = spec.partition(":")
            getattr(importlib.import_module(module), func)(dr, arg)
        outputs = request.outputs or resolve_outputs(dr, None)
        if request.select or request.exclude:
            from engine.core.selection import outputs_for

            outputs = list(dict.fromkeys([*(request.outputs or []), *outputs_for(dr.graph, request.select, request.exclude)]))
        inputs = typed_inputs(dr, dict(request.inputs))
        tracker = _NodeReads([sys.prefix, sys.base_prefix, "/proc", "/dev", "/sys"])
        if request.describe:
            info = _describe(dr, outputs, {**dr.config, **inputs}, cwd)
            out.emit(ev.Message(run_id, time.time(), level=GRAPH_LEVEL, text=json.dumps(info)))
    except RippleError as exc:
        out.emit(ev.Message(run_id, time.time(), level="error", text=exc.message, file=exc.file, line=exc.line))
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - an internal error is reported, not shown as a crash
        tb = traceback.format_exc(limit=-6)
        out.emit(ev.Message(run_id, time.time(), level="error", text=f"{type(exc).__name__}: {exc}\n{tb}"))
        return EXIT_ERROR
    dr.add_listener(tracker.on_event)
    dr.plan_events = request.plan_events
    dr.add_listener(out.emit)
    try:
        result = dr.run(outputs, inputs=inputs, run_id=run_id)
    except RippleError as exc:
        out.emit(ev.Message(run_id, time.time(), level="error", text=exc.message, file=exc.file, line=exc.line))
        return EXIT_ERROR
    finally:
        tracker.close()
        with contextlib.suppress(Exception):
            out.emit(ev.Message(run_id, time.time(), level=FILES_LEVEL, text=json.dumps({"reads": tracker.files()})))
    return EXIT_OK if result.status == "ok" else EXIT_FAILED


def child_entry(request: RunRequest, fd: int, out_fd: int | None) -> int:
    """Process setup shared by the spawned and the forked child, then ``run_child``."""
    os.set_inheritable(fd, False)  # grandchildren that exec must not keep the event pipe open
    if out_fd is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        with contextlib.suppress(Exception):
            sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        return run_child(request, fd)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()


# ============================================================================================ entry point
