"""Isolated runs: every run started by watch mode or the dashboard executes in a child process.

Why a child process: a hung node must be stoppable, a node that calls ``os._exit``, segfaults or is
OOM-killed must not take the watcher or the dashboard down, and each run must import the code as it
is on disk *now* (``importlib.reload`` leaves stale module state behind). The parent never imports
the user's code.

Public API (the dashboard relies on it)::

    req = RunRequest("demo_pipeline", outputs=["report"], inputs={"top_n": "5"})
    run = IsolatedRun(req, on_event, worker=WarmWorker("demo_pipeline"))  # worker optional
    run.start()             # non-blocking; events arrive on a reader thread via on_event
    run.stop()              # SIGTERM to the child's process group, SIGKILL after `timeout`
    outcome = run.wait()    # RunOutcome(run_id, status, returncode, reason)

Protocol. The child writes each ``engine.events.Event`` as one JSON line to an inherited pipe; the
parent's reader thread turns lines back into events (``events.from_json``). Besides the engine's
events the child sends ``Message`` events with two private levels that carry data for the watcher,
not text for humans: ``level="graph"`` (JSON: nodes, edges, origin function of each node, the
project-local modules loaded, the data files behind ``Path``/``File`` values) when
``RunRequest.describe`` is set, and ``level="files"`` (JSON: files each executed node read) at the
end of every run. UIs should not display those two levels. With ``capture_output=True`` the child's
stdout/stderr come back as ``Message(level="output")`` events instead of going to the terminal.

Exit codes of the child: 0 run ok, 1 a node failed, 2 load/graph/usage error (sent first as a
``Message(level="error")`` with file and line). Anything else, or a missing ``RunFinished``, is a
crash: the parent synthesises ``NodeFailed`` for the node(s) that were running and a
``RunFinished(status="failed")``.

Warm worker. Importing pandas costs ~0.3 s, more than the whole save-to-run budget. A
``WarmWorker`` is a long-lived process that has imported the pipeline's third-party modules (found
by scanning its source files' imports with ``ast``) and Ripple's engine, but none of the
pipeline's own modules. Control runs over a ``SOCK_SEQPACKET`` unix socketpair (message
boundaries kept, file descriptors passed with ``socket.send_fds``):

* parent -> worker: ``{"op": "run", "token": t, "request": {...}}`` with the write end of the
  run's event pipe (and of its output pipe) attached; the worker forks, the fork becomes its own
  process group, chdirs, imports the pipeline fresh, runs, and streams events into that pipe;
* worker -> parent: ``{"op": "ready"}``, ``{"op": "started", "token", "pid"}`` and, once the worker
  reaped the fork, ``{"op": "exit", "token", "code"}`` (``code`` as ``subprocess`` reports it:
  negative for a signal).

The worker reaps its forks (``SIGCHLD`` + wakeup fd, so its loop is single-threaded and fork is
safe), kills each finished fork's process group to leave nothing behind, and exits — killing any
fork still running — when the control socket closes (the parent exited or called ``close``). Where
``fork`` is unavailable, or the worker died, a run is a plain spawn of
``python -m engine.runner --child``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import events as ev
from .loading import drop_racy_pycs

GRAPH_LEVEL = "graph"
FILES_LEVEL = "files"
OUTPUT_LEVEL = "output"
#: Message levels that carry data for programs, not text for people.
DATA_LEVELS = frozenset({GRAPH_LEVEL, FILES_LEVEL})

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


@dataclass
class RunRequest:
    """One run, as the CLI would be asked for it (raw strings are typed in the child)."""

    pipeline: str
    outputs: list[str] | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    cache_dir: str | None = None
    no_cache: bool = False
    recompute: list[str] = field(default_factory=list)
    cwd: str | None = None
    run_id: str | None = None
    #: send a ``Message(level="graph")`` describing the graph before running (watch mode needs it)
    describe: bool = False
    #: emit ``node_planned`` predictions before running (the dashboard shows them; headless watch doesn't)
    plan_events: bool = True
    #: deliver the child's stdout/stderr as ``Message(level="output")`` events
    capture_output: bool = False
    #: as ``ripple run --executor`` / ``--max-size``
    executor: str | None = None
    max_size: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRequest:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class RunOutcome:
    run_id: str
    #: "ok" | "failed" | "cancelled" | "crashed" | "error" (load/graph error)
    status: str
    returncode: int | None
    reason: str = ""


# ============================================================================================ child side


class _EventWriter:
    """Writes events as JSON lines to a pipe; thread-safe because pool executors emit from threads."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def emit(self, event: ev.Event) -> None:
        data = (event.to_json() + "\n").encode()
        with self.lock:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]


class _ReadTracker:
    """Which data files each node opened (audit hook), so the watcher can watch them next time.

    Only active while a node runs (``NodeStarted`` .. its end), so imports and the store are not
    recorded. Sequential runs attribute exactly; pool runs attribute to the last started node.
    """

    _SKIP_SUFFIXES = (".py", ".pyc", ".pyi", ".so", ".pth")

    def __init__(self, skip: Iterable[str]) -> None:
        self.current: str | None = None
        self.reads: dict[str, set[str]] = {}
        self.skip = tuple(os.path.realpath(p) + os.sep for p in skip)
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or self.current is None:
            return
        path, mode = args[0], args[1]
        if isinstance(path, int) or path is None or (isinstance(mode, str) and ("w" in mode or "a" in mode)):
            return
        self.reads.setdefault(self.current, set()).add(os.fsdecode(path))

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.NodeStarted):
            self.current = event.node
        elif isinstance(event, ev.NodeFinished | ev.NodeFailed | ev.NodeCached):
            self.current = None

    def files(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for node, raw in self.reads.items():
            keep = set()
            for p in raw:
                real = os.path.realpath(p)
                if real.endswith(self._SKIP_SUFFIXES) or real.startswith(self.skip) or not os.path.isfile(real):
                    continue
                if f"{os.sep}.ripple{os.sep}" in real or f"{os.sep}__pycache__{os.sep}" in real:
                    continue
                keep.add(real)
            if keep:
                out[node] = sorted(keep)
        return out


def _is_library(path: str) -> bool:
    return "site-packages" in path or "dist-packages" in path or path.startswith((sys.prefix, sys.base_prefix))


def _describe(dr: Any, outputs: list[str], values: dict[str, Any], cwd: str) -> dict[str, Any]:
    """The graph as the watcher needs it: deps, origin function per node, modules and data files."""
    import inspect

    from .render import graph_document

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
        if real.startswith(root + os.sep) and not _is_library(real) and not real.startswith(engine_dir):
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
    run_id = request.run_id or uuid.uuid4().hex[:12]
    try:
        from .cli import _outputs, _typed, parse_value
        from .driver import Driver
        from .errors import RippleError, UsageError
    except BaseException as exc:  # noqa: BLE001 - an engine that cannot even import is an error run
        out.emit(ev.Message(run_id, time.time(), level="error", text=f"ripple engine failed to import: {exc}"))
        return EXIT_ERROR
    cwd = os.path.realpath(request.cwd or os.getcwd())
    try:
        os.chdir(cwd)
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
        files, root = _project_dirs(request.pipeline, cwd)
        drop_racy_pycs({root, *(f.parent for f in files)})
        config = {k: parse_value(v) for k, v in request.config.items()}
        dr = Driver(config, request.pipeline, executor=request.executor)
        if not request.no_cache:
            behaviors = {n: "recompute" for n in request.recompute}
            unknown = [n for n in behaviors if n not in dr.graph.nodes]
            if unknown:
                raise UsageError(f"recompute names unknown node {unknown[0]!r}; see `ripple graph {request.pipeline}`.")
            try:
                dr.with_cache(request.cache_dir, behaviors=behaviors, max_size=request.max_size)
            except ModuleNotFoundError as exc:
                if exc.name not in ("engine.cache", "engine.caching"):
                    raise
                out.emit(ev.Message(run_id, time.time(), level="warning",
                                    text="the persistent cache is not available in this build; running everything"))
        outputs = request.outputs or _outputs(dr, None)
        inputs = _typed(dr, dict(request.inputs))
        tracker = _ReadTracker([sys.prefix, sys.base_prefix, "/proc", "/dev", "/sys"])
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
        tracker.current = None
        with contextlib.suppress(Exception):
            out.emit(ev.Message(run_id, time.time(), level=FILES_LEVEL, text=json.dumps({"reads": tracker.files()})))
    return EXIT_OK if result.status == "ok" else EXIT_FAILED


def _child_entry(request: RunRequest, fd: int, out_fd: int | None) -> int:
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


# ============================================================================================ warm worker


def _package_files(folder: Path) -> list[Path]:
    """The modules of a package: subfolders count only if they are packages (``data/`` is not)."""
    out = []
    for p in sorted(folder.rglob("*.py")):
        rel = p.relative_to(folder).parts[:-1]
        if "__pycache__" in rel or any(not (folder.joinpath(*rel[: i + 1]) / "__init__.py").exists()
                                       for i in range(len(rel))):
            continue
        out.append(p)
    return out


def _project_dirs(pipeline: str, cwd: str) -> tuple[list[Path], Path]:
    """Source files of ``pipeline`` and its project root, found without importing anything."""
    from .loading import _looks_dotted, package_root

    path = Path(cwd, pipeline)
    if pipeline.endswith(".py") or os.sep in pipeline or (path.is_dir() and not _looks_dotted(pipeline)):
        path = path.resolve()
        if path.is_file():
            return [path], package_root(path)
        if path.is_dir() and (path / "__init__.py").exists():
            return _package_files(path), package_root(path)
        if path.is_dir():
            return sorted(path.glob("*.py")), path
        return [], Path(cwd)
    parts = pipeline.split(".")
    for base in [cwd, *sys.path]:
        if not base:
            base = cwd
        cand = Path(base, *parts)
        if cand.is_dir() and (cand / "__init__.py").exists():
            return _package_files(cand.resolve()), package_root(cand.resolve())
        if cand.with_suffix(".py").is_file():
            f = cand.with_suffix(".py").resolve()
            return [f], package_root(f)
    return [], Path(cwd)


def scan_preload(pipeline: str, cwd: str | None = None) -> list[str]:
    """Top-level modules the pipeline imports that are not its own (third-party and stdlib).

    Found with ``ast`` (nothing of the user's is imported) and checked with ``find_spec`` on the
    top-level name only, which does not import it; a module whose source lives in the project is
    never preloaded, because the worker would then serve stale code.
    """
    cwd = cwd or os.getcwd()
    files, root = _project_dirs(pipeline, cwd)
    local_tops = {p.stem if p.suffix == ".py" else p.name for p in root.iterdir()} if root.is_dir() else set()
    found: set[str] = set()
    for f in files:
        try:
            tree = ast.parse(f.read_bytes(), str(f))
        except (SyntaxError, OSError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    rroot = str(root.resolve())
    out = []
    for name in sorted(found):
        if name in local_tops or name in ("engine", "__future__"):
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        origin = (spec.origin or "") if spec else ""
        if spec is None or (origin and os.path.realpath(origin).startswith(rroot + os.sep)
                            and not _is_library(os.path.realpath(origin))):
            continue
        out.append(name)
    return out


_ENGINE_PRELOAD = ("engine", "engine.driver", "engine.graph", "engine.execution", "engine.cli", "networkx",
                   "engine.caching", "engine.cache", "engine.versioning", "engine.fingerprint", "engine.store", "engine.files",
                   "engine.reads", "sqlite3", "xxhash", "pickle", "inspect", "typing")


def _worker_main(ctrl_fd: int, preload: list[str]) -> int:
    """The warm worker's loop (see the module docstring for the protocol)."""
    sock = socket.socket(fileno=ctrl_fd)
    loaded = []
    for name in [*preload, *_ENGINE_PRELOAD]:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except BaseException:  # noqa: BLE001 - a module that fails here is simply not preloaded
            pass
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the worker ends
    children: dict[int, Any] = {}

    def send(msg: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            sock.send(json.dumps(msg).encode())

    send({"op": "ready", "pid": os.getpid(), "preloaded": loaded})

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            token = children.pop(pid, None)
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)  # stragglers the run left behind
            send({"op": "exit", "token": token, "code": os.waitstatus_to_exitcode(status)})

    try:
        while True:
            try:
                ready, _, _ = select.select([sock, wake_r], [], [])
            except InterruptedError:
                continue
            if wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
                reap()
            if sock not in ready:
                continue
            try:
                data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 4)
            except OSError:
                data, fds = b"", []
            if not data:
                break
            msg = json.loads(data)
            if msg.get("op") != "run":
                for fd in fds:
                    os.close(fd)
                continue
            request = RunRequest.from_dict(msg["request"])
            pid = os.fork()
            if pid == 0:  # ------------------------------------------------------- the run's fork
                code = EXIT_ERROR
                try:
                    os.setpgid(0, 0)
                    signal.set_wakeup_fd(-1)
                    for s in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
                        signal.signal(s, signal.SIG_DFL)
                    sock.close()
                    os.close(wake_r)
                    os.close(wake_w)
                    code = _child_entry(request, fds[0], fds[1] if len(fds) > 1 else None)
                except BaseException:  # noqa: BLE001
                    with contextlib.suppress(BaseException):
                        traceback.print_exc()
                finally:
                    os._exit(code)
            with contextlib.suppress(OSError):
                os.setpgid(pid, pid)  # both sides set it: no window where stop() misses the group
            for fd in fds:
                os.close(fd)
            children[pid] = msg.get("token")
            send({"op": "started", "token": msg.get("token"), "pid": pid})
            reap()
    finally:
        for pid in list(children):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        for pid in list(children):
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
    return 0


class WorkerUnavailable(RuntimeError):
    """The warm worker is gone or not usable; the caller falls back to a plain spawn."""


@dataclass
class _ForkHandle:
    token: int
    pid: int = 0
    code: int | None = None
    started: threading.Event = field(default_factory=threading.Event)
    exited: threading.Event = field(default_factory=threading.Event)


class WarmWorker:
    """A long-lived process that has imported the pipeline's third-party modules (e.g. pandas,
    numpy) but NOT the pipeline's own modules; each run is a fork of it, so every run imports the
    edited user code fresh but pays no third-party import cost. Falls back to a plain spawn
    (``python -m engine.runner --child``) where fork is unavailable (see the module docstring)."""

    def __init__(self, pipeline: str, cwd: str | None = None, preload: list[str] | None = None) -> None:
        self.pipeline = pipeline
        self.cwd = os.path.realpath(cwd or os.getcwd())
        self.preload = scan_preload(pipeline, self.cwd) if preload is None else list(preload)
        self.available = hasattr(os, "fork") and hasattr(socket, "send_fds") and sys.platform != "win32"
        self._lock = threading.Lock()
        self._handles: dict[int, _ForkHandle] = {}
        self._ready = threading.Event()
        self._dead = threading.Event()
        self._next = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        if not self.available:
            self._dead.set()
            return
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "engine.runner", "--worker", "--fd", str(child.fileno()),
                 "--preload", ",".join(self.preload), "--cwd", self.cwd],
                pass_fds=[child.fileno()], cwd=self.cwd, start_new_session=True, env=_child_env(),
            )
        except OSError:
            parent.close()
            self.available = False
            self._dead.set()
            return
        finally:
            child.close()
        self._sock = parent
        threading.Thread(target=self._read_loop, name="ripple-worker-reader", daemon=True).start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def wait_ready(self, timeout: float | None = 60.0) -> bool:
        """Block until the preloads are imported; ``False`` if the worker died or timed out."""
        self._ready.wait(timeout)
        return self._ready.is_set() and not self._dead.is_set()

    def _read_loop(self) -> None:
        assert self._sock is not None
        try:
            while True:
                data = self._sock.recv(1 << 16)
                if not data:
                    break
                msg = json.loads(data)
                op = msg.get("op")
                if op == "ready":
                    self._ready.set()
                    continue
                with self._lock:
                    h = self._handles.get(msg.get("token"))
                if h is None:
                    continue
                if op == "started":
                    h.pid = msg["pid"]
                    h.started.set()
                elif op == "exit":
                    h.code = msg["code"]
                    h.exited.set()
                    with self._lock:
                        self._handles.pop(h.token, None)
        except (OSError, ValueError):
            pass
        finally:
            self._dead.set()
            self._ready.set()
            with self._lock:
                handles = list(self._handles.values())
                self._handles.clear()
            for h in handles:  # the worker died: its forks were killed with it (or orphaned and killed below)
                if h.pid:
                    with contextlib.suppress(OSError):
                        os.killpg(h.pid, signal.SIGKILL)
                h.started.set()
                h.exited.set()

    def fork_run(self, request: RunRequest, fds: list[int], timeout: float = 60.0) -> _ForkHandle:
        """Ask the worker to fork a run writing into ``fds``; returns once the fork's pid is known."""
        if not self.available or self._dead.is_set() or self._sock is None:
            raise WorkerUnavailable("warm worker is not running")
        if not self.wait_ready(timeout):
            raise WorkerUnavailable("warm worker did not become ready")
        with self._lock:
            self._next += 1
            h = _ForkHandle(self._next)
            self._handles[h.token] = h
            msg = json.dumps({"op": "run", "token": h.token, "request": request.to_dict()}).encode()
            try:
                socket.send_fds(self._sock, [msg], fds)
            except OSError as exc:
                self._handles.pop(h.token, None)
                raise WorkerUnavailable(f"warm worker is gone: {exc}") from None
        if not h.started.wait(timeout) or not h.pid:
            raise WorkerUnavailable("warm worker did not start the run")
        return h

    def close(self) -> None:
        """End the worker (and any run it still has); reaps it so no zombie stays behind."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(2.0)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
            self._proc = None
        self._dead.set()

    def __enter__(self) -> WarmWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child_env() -> dict[str, str]:
    """The child must import this very engine even when it was not installed (a source checkout)."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parent.parent)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if here not in parts:
        env["PYTHONPATH"] = os.pathsep.join([here, *parts])
    return env


# ============================================================================================ parent side


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class IsolatedRun:
    """One run in a child process, with its events delivered to ``on_event`` on a reader thread.

    ``on_done`` (optional) is called once with the ``RunOutcome`` after the last event.
    """

    def __init__(self, request: RunRequest, on_event: Callable[[ev.Event], None], *,
                 worker: WarmWorker | None = None, on_done: Callable[[RunOutcome], None] | None = None) -> None:
        self.request = request
        self.on_event = on_event
        self.on_done = on_done
        self.worker = worker
        self.run_id = request.run_id or uuid.uuid4().hex[:12]
        self.pid: int | None = None
        self.used_worker = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._handle: _ForkHandle | None = None
        self._done = threading.Event()
        self._outcome: RunOutcome | None = None
        self._stopping = False
        self._started = False
        self._running: dict[str, None] = {}  # started-not-finished nodes, in start order
        self._seen_start = False
        self._finished: ev.RunFinished | None = None
        self._errors: list[ev.Message] = []
        self._first_failure: ev.NodeFailed | None = None

    @property
    def running(self) -> bool:
        return self._started and not self._done.is_set()

    def start(self) -> None:
        """Start the child and return at once (after the child's pid is known)."""
        if self._started:
            raise RuntimeError("an IsolatedRun can be started once")
        self._started = True
        req = RunRequest.from_dict({**self.request.to_dict(), "run_id": self.run_id})
        r, w = os.pipe()
        out_r = out_w = None
        if req.capture_output:
            out_r, out_w = os.pipe()
        fds = [w] + ([out_w] if out_w is not None else [])
        try:
            if self.worker is not None:
                try:
                    self._handle = self.worker.fork_run(req, fds)
                    self.pid = self._handle.pid
                    self.used_worker = True
                except WorkerUnavailable:
                    self._handle = None
            if self._handle is None:
                cmd = [sys.executable, "-m", "engine.runner", "--child", "--fd", str(w),
                       "--request", json.dumps(req.to_dict())]
                if out_w is not None:
                    cmd += ["--out-fd", str(out_w)]
                self._proc = subprocess.Popen(cmd, pass_fds=fds, cwd=req.cwd or None, start_new_session=True,
                                              env=_child_env())
                self.pid = self._proc.pid
        except BaseException:
            for fd in (r, w, out_r, out_w):
                if fd is not None:
                    os.close(fd)
            self._done.set()
            raise
        for fd in fds:
            os.close(fd)
        threading.Thread(target=self._monitor, args=(r, out_r), name=f"ripple-run-{self.run_id}",
                         daemon=True).start()

    # -- reading
    def _deliver(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self._seen_start = True
        elif isinstance(event, ev.NodeStarted):
            self._running[event.node] = None
        elif isinstance(event, ev.NodeFinished | ev.NodeCached | ev.NodeSkipped):
            self._running.pop(event.node, None)
        elif isinstance(event, ev.NodeFailed):
            self._running.pop(event.node, None)
            if self._first_failure is None:
                self._first_failure = event
        elif isinstance(event, ev.RunFinished):
            self._finished = event
        elif isinstance(event, ev.Message) and event.level == "error":
            self._errors.append(event)
        try:
            self.on_event(event)
        except Exception:  # noqa: BLE001 - a broken view must not stop the reader
            traceback.print_exc()

    def _monitor(self, r: int, out_r: int | None) -> None:
        bufs = {r: b"", **({out_r: b""} if out_r is not None else {})}
        open_fds = set(bufs)
        exited_at: float | None = None
        try:
            while open_fds:
                if exited_at is None and self._exit_known():
                    exited_at = time.monotonic()
                if exited_at is not None and time.monotonic() - exited_at > 1.0:
                    break  # a grandchild that escaped the group keeps the pipe open: stop waiting
                try:
                    ready, _, _ = select.select(list(open_fds), [], [], 0.1)
                except InterruptedError:
                    continue
                for fd in ready:
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        open_fds.discard(fd)
                        continue
                    data = bufs[fd] + chunk
                    *lines, bufs[fd] = data.split(b"\n")
                    for line in lines:
                        self._line(fd == r, line)
            for fd, rest in bufs.items():
                if rest.strip():
                    self._line(fd == r, rest)
        finally:
            for fd in bufs:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._finish()

    def _line(self, is_event: bool, line: bytes) -> None:
        if not is_event:
            self._deliver(ev.Message(self.run_id, time.time(), level=OUTPUT_LEVEL,
                                     text=line.decode(errors="replace").rstrip("\r")))
            return
        if not line.strip():
            return
        try:
            event = ev.from_json(line.decode())
        except (ValueError, KeyError, TypeError):
            return
        self._deliver(event)

    def _exit_known(self) -> bool:
        if self._handle is not None:
            return self._handle.exited.is_set()
        return self._proc is not None and self._proc.poll() is not None

    def _returncode(self) -> int | None:
        if self._handle is not None:
            self._handle.exited.wait()
            return self._handle.code
        assert self._proc is not None
        code = self._proc.wait()
        with contextlib.suppress(OSError):
            os.killpg(self._proc.pid, signal.SIGKILL)  # stragglers the run left behind
        return code

    def _finish(self) -> None:
        code = self._returncode()
        now = time.time()
        fin = self._finished
        if self._stopping and (fin is None or fin.status != "ok"):
            status, reason = "cancelled", "stopped by user"
        elif code == EXIT_ERROR and fin is None:
            status = "error"
            err = self._errors[-1] if self._errors else None
            where = f"{err.file}:{err.line}: " if err and err.file else ""
            reason = f"{where}{err.text}" if err else "the pipeline could not be loaded"
        elif fin is not None and code in (EXIT_OK, EXIT_FAILED):
            status = "ok" if fin.status == "ok" else fin.status
            reason = ""
            if status != "ok":
                f = self._first_failure
                reason = f"node {f.node} raised {f.error_type}: {f.error}" if f else (fin.error or "run failed")
        else:
            status = "crashed"
            if code is not None and code < 0:
                reason = f"killed by signal {_signal_name(-code)}"
                if -code == signal.SIGKILL:
                    reason += " (out of memory? the kernel's OOM killer sends SIGKILL)"
            elif code is None:
                reason = "child vanished (worker died)"
            else:
                reason = f"child exited with os._exit({code})"
        if status in ("crashed", "cancelled"):
            nodes = list(self._running)
            if status == "crashed" and nodes:
                reason = f"node {nodes[-1]}: {reason}"
            for node in nodes:
                if status == "crashed":
                    self._deliver(ev.NodeFailed(self.run_id, now, node=node, error=reason, error_type="Crash"))
                else:
                    self._deliver(ev.NodeSkipped(self.run_id, now, node=node, reason="run stopped"))
            if self._seen_start and (fin is None or status == "cancelled" and fin.status != "cancelled"):
                self._deliver(ev.RunFinished(self.run_id, now, status="failed" if status == "crashed" else "cancelled",
                                             failed=len(nodes) if status == "crashed" else 0, error=reason))
            elif not self._seen_start and status == "crashed":
                self._deliver(ev.Message(self.run_id, now, level="error", text=f"run crashed: {reason}"))
        self._outcome = RunOutcome(self.run_id, status, code, reason)
        self._done.set()
        if self.on_done is not None:
            try:
                self.on_done(self._outcome)
            except Exception:  # noqa: BLE001
                traceback.print_exc()

    # -- control
    def stop(self, timeout: float = 2.0) -> None:
        """SIGTERM the child's process group; SIGKILL if it is still there after ``timeout``."""
        if not self._started or self._done.is_set() or self.pid is None:
            return
        self._stopping = True
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGTERM)
        if not self._done.wait(timeout):
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
            self._done.wait(5.0)

    def wait(self, timeout: float | None = None) -> RunOutcome:
        """The outcome; raises ``TimeoutError`` if the run is still going after ``timeout``."""
        if not self._started:
            raise RuntimeError("IsolatedRun.wait() before start()")
        if not self._done.wait(timeout):
            raise TimeoutError(f"run {self.run_id} still running after {timeout}s")
        assert self._outcome is not None
        return self._outcome


# ============================================================================================ entry point


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.runner")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--child", action="store_true")
    mode.add_argument("--worker", action="store_true")
    p.add_argument("--fd", type=int, required=True)
    p.add_argument("--out-fd", type=int)
    p.add_argument("--request")
    p.add_argument("--preload", default="")
    p.add_argument("--cwd", default=None)
    args = p.parse_args(argv)
    if args.worker:
        return _worker_main(args.fd, [m for m in args.preload.split(",") if m])
    return _child_entry(RunRequest.from_dict(json.loads(args.request)), args.fd, args.out_fd)


if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
