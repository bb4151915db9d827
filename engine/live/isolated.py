from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable

from engine import events as ev
from engine.event_types import read_line
from engine.live.protocol import EXIT_ERROR, EXIT_FAILED, EXIT_OK, OUTPUT_LEVEL, RunOutcome, RunRequest
from engine.live.worker import WarmWorker, WorkerUnavailable, _child_env, _ForkHandle

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
        self.run_id = request.run_id or os.urandom(6).hex()
        self.pid: int | None = None
        self.used_worker = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._handle: _ForkHandle | None = None
        self._done = threading.Event()
        self._outcome: RunOutcome | None = None
        self._stopping = False
        self._stop_reason = "stopped by user"
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
                cmd = [sys.executable, "-m", "engine.live", "--child", "--fd", str(w),
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
            events = read_line(line.decode())
        except (ValueError, KeyError, TypeError, IndexError):
            return
        for event in events:
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
            status, reason = "cancelled", self._stop_reason
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
                    self._deliver(ev.NodeSkipped(self.run_id, now, node=node, reason=f"run {reason}"))
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
    def stop(self, timeout: float = 2.0, *, reason: str = "stopped by user") -> None:
        """SIGTERM the child's process group; SIGKILL if it is still there after ``timeout``;
        ``reason``: what the outcome says (watch mode: "cancelled by a save")."""
        if not self._started or self._done.is_set() or self.pid is None:
            return
        self._stop_reason = reason
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
