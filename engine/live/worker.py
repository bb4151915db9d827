from __future__ import annotations

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
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.live.child import child_entry
from engine.live.project import is_library, project_dirs
from engine.live.protocol import EXIT_ERROR, RunRequest

# ============================================================================================ warm worker






def scan_preload(pipeline: str, cwd: str | None = None) -> list[str]:
    """Top-level modules the pipeline imports that are not its own (third-party and stdlib).

    Found with ``ast`` (nothing of the user's is imported) and checked with ``find_spec`` on the
    top-level name only, which does not import it; a module whose source lives in the project is
    never preloaded, because the worker would then serve stale code.
    """
    cwd = cwd or os.getcwd()
    files, root = project_dirs(pipeline, cwd)
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
                            and not is_library(os.path.realpath(origin))):
            continue
        out.append(name)
    return out


#: What every run imports that is not the user's code. A module a run first imports in its fork is
#: imported again by every run (a fork starts from the worker's memory): ~10 ms per save when the event
#: records, the predictions, the miss explanations and the history records were left to the fork.
#: tests/live/test_handover.py fails when a run imports an engine module that is not here (e.g. after
#: an import moved into a function).
_ENGINE_PRELOAD = ("engine", "engine.driver", "engine.core.graph", "engine.core.execute", "engine.core.inputs",
                   "networkx", "engine.caching.cache", "engine.caching.session", "engine.caching.code_version",
                   "engine.caching.data_version", "engine.store", "engine.files", "engine.core.reads", "sqlite3",
                   "xxhash", "pickle", "inspect", "typing",
                   # loaded on first use, once per run: events, predictions, explanations, history, graph doc
                   "engine.event_types", "engine.caching.predict", "engine.caching.decisions",
                   "engine.caching.explain", "engine.store.reports", "engine.core.render", "engine.core.selection",
                   # storing a result, tracing a node's code (cProfile below 3.12), a package's submodules,
                   # the cache as pool executors see it
                   "engine.caching.observed", "engine.caching.tracing", "difflib", "sysconfig", "cProfile",
                   "pkgutil", "engine.caching.remote")


def worker_main(ctrl_fd: int, preload: list[str]) -> int:
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
                    code = child_entry(request, fds[0], fds[1] if len(fds) > 1 else None)
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
    (``python -m engine.live --child``) where fork is unavailable (see the module docstring)."""

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
                [sys.executable, "-m", "engine.live", "--worker", "--fd", str(child.fileno()),
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
    here = str(Path(__file__).resolve().parents[2])  # the folder that holds `engine/`
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if here not in parts:
        env["PYTHONPATH"] = os.pathsep.join([here, *parts])
    return env
