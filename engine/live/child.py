from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

from engine import events as ev
from engine.core.loading import drop_racy_pycs
from engine.core.reads import ReadRecorder
from engine.event_types import batch_lines
from engine.files import folders
from engine.live.project import is_library, project_dirs
from engine.live.protocol import EXIT_ERROR, EXIT_FAILED, EXIT_OK, FILES_LEVEL, GRAPH_LEVEL, RunRequest

# ============================================================================================ child side


class _EventWriter:
    """Writes events as JSON lines to a pipe; thread-safe because pool executors emit from threads.

    The per-node predictions and cache hits (``NodePlanned``, ``NodeCached``: ~1,500 events before
    the first node of a 1,000-node pipeline starts after an edit) are held and go out in one write
    with the next other event, or ``hold`` seconds after the first of them at the latest (a timer), so
    a slow lookup does not keep them from a view, each run of one class as one line (``batch_json``:
    no dict nor encoding per event on either side). A write each cost the child ~9 ms, and the parent
    a wakeup and a parse per event, which on a busy 2-core machine is CPU taken from the child (holding
    the hits too took ~12 ms off bench_watch's gen1000 save-to-first-node p50 there)."""

    HELD = (ev.NodePlanned, ev.NodeCached)

    def __init__(self, fd: int, hold: float = 0.05) -> None:
        self.fd = fd
        self.hold = hold
        self.lock = threading.Lock()
        self._held: list[ev.Event] = []
        self._timer: threading.Timer | None = None

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, self.HELD):
            with self.lock:
                self._held.append(event)
                if self._timer is None:
                    self._timer = threading.Timer(self.hold, self.flush)
                    self._timer.daemon = True
                    self._timer.start()
            return
        line = event.to_json() + "\n"
        with self.lock:
            self._write(line)

    def flush(self) -> None:
        """Write what is held now."""
        with self.lock:
            self._write("")

    def _write(self, line: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._held:
            line = batch_lines(self._held) + line
            self._held.clear()
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
        self.ignore = folders(skip)
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


class Handed(MutableMapping[str, str]):
    """The memo the code versioner finds file analyses in, with the watcher's analyses of the saved
    files in front (``RunRequest.analyses``), so the run does not analyse a file the watcher just did.

    Safe because of the key: the versioner looks an analysis up under the digest of the bytes it read
    itself, and the watcher's key names the digest of the bytes it analysed; a file that changed again
    in between is looked up under another key, misses, and is analysed afresh. Keys of another Python
    or normaliser version, and values without the fields ``analyze_source`` writes, are never served.
    Handed analyses are not written to the store: they serve this run only; everything else reads and
    writes ``memo``."""

    _FIELDS = frozenset("n q k f l e d dd r dr".split())

    def __init__(self, analyses: dict[str, str], memo: MutableMapping[str, str]) -> None:
        from engine.caching.source_analysis import memo_key

        prefix = memo_key("")
        self.analyses = {k: v for k, v in analyses.items() if k.startswith(prefix) and isinstance(v, str)}
        self.memo = memo

    def __getitem__(self, key: str) -> str:
        text = self.analyses.get(key)
        if text is not None and self._is_analysis(text):
            return text
        return self.memo[key]

    @classmethod
    def _is_analysis(cls, text: str) -> bool:
        try:
            data = json.loads(text)
        except ValueError:
            return False
        if not isinstance(data, dict) or not isinstance(data.get("m"), str):
            return False
        defs = data.get("defs")
        return isinstance(defs, list) and all(isinstance(d, dict) and cls._FIELDS <= d.keys() for d in defs)

    def __setitem__(self, key: str, value: str) -> None:
        self.memo[key] = value

    def __delitem__(self, key: str) -> None:
        del self.memo[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.memo)

    def __len__(self) -> int:
        return len(self.memo)


def _modules_since(last: str | None) -> list[tuple[str, Any]]:
    """The modules imported after the one named ``last`` (all of them if it is gone), in import order.

    Only these can be the project's: the warm worker never imports the project (``scan_preload``), and
    a spawned child has imported nothing of it either when the run starts. ``sys.modules`` keeps import
    order, so the walk stops at ``last`` and never touches the modules before it, which in a fresh fork
    of a worker that preloaded pandas cost ~4 ms: every ``getattr`` writes a reference count into a
    page shared with the worker, which the kernel then copies."""
    out = []
    for name in reversed(sys.modules):
        if name == last:
            break
        out.append((name, sys.modules[name]))
    out.reverse()
    return out


def _describe(dr: Any, outputs: list[str], values: dict[str, Any], cwd: str, since: str | None) -> dict[str, Any]:
    """The graph as the watcher needs it: deps, origin function per node, modules and data files
    (``since``: the last module imported before the run began, see ``_modules_since``)."""
    import inspect

    from engine.core.render import symbol_of

    root = os.path.realpath(str(dr.project_root))
    g = dr.graph
    pred = g.pred
    nodes: dict[str, Any] = {  # what GraphDocument reads; not graph_document's whole text (5 ms at 1,000 nodes)
        name: {"deps": sorted(pred[name]), "module": n.module, "symbol": symbol_of(n), "file": n.file, "line": n.line}
        for name, n in ((name, g.nodes[name]) for name in g.order)
    }
    modules = {}
    engine_dir = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep  # engine/
    prefixes = tuple({root + os.sep, os.path.abspath(str(dr.project_root)) + os.sep})
    for mname, mod in _modules_since(since):
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
    since = next(reversed(sys.modules), None)
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
            if request.analyses:
                sources = dr.cache.versioner.sources
                sources.memo = Handed(request.analyses, sources.memo)
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
            info = _describe(dr, outputs, {**dr.config, **inputs}, cwd, since)
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
        with contextlib.suppress(OSError):
            out.flush()  # nothing held is left behind, whatever happened above
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
