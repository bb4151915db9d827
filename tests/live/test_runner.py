"""Isolated runs in real child processes: crashes, hangs and errors never reach the parent."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from processes import gone, warm_worker

from engine import events as ev
from engine.live.isolated import IsolatedRun
from engine.live.protocol import RunRequest
from engine.live.worker import WarmWorker, scan_preload

PIPELINE = '''
import os
import time


def first() -> int:
    return 1


def second(first: int) -> int:
    return first + 1


def third(second: int, mode: str = "ok") -> int:
    if mode == "exit":
        os._exit(3)
    if mode == "segv":
        import ctypes
        ctypes.string_at(0)
    if mode == "hang":
        time.sleep(60)
    if mode == "raise":
        raise ValueError("bad value")
    if mode == "print":
        print("hello from third")
    return second * 2
'''


class Events:
    """Collects events from the reader thread; waits on a condition, never on fixed sleeps."""

    def __init__(self) -> None:
        self.items: list[ev.Event] = []
        self.cond = threading.Condition()

    def __call__(self, event: ev.Event) -> None:
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def wait_for(self, pred: Callable[[ev.Event], bool], timeout: float = 10.0) -> ev.Event:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.items:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event in {timeout}s; got {[e.kind for e in self.items]}")
                self.cond.wait(left)

    def nodes(self, kind: str) -> list[str]:
        return [e.node for e in self.items if e.kind == kind]  # type: ignore[attr-defined]


def group_members(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:
            out.append(int(entry))
    return out


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "crashy.py"
    path.write_text(textwrap.dedent(PIPELINE))
    return path


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmWorker]:
    with warm_worker(tmp_path_factory.mktemp("worker") / "crashy.py") as w:
        yield w


def request(pipeline: Path, mode: str, **kw: object) -> RunRequest:
    return RunRequest(str(pipeline), inputs={"mode": mode}, no_cache=True, cwd=str(pipeline.parent), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("use_worker", [True, False], ids=["fork", "spawn"])
def test_ok_run_streams_engine_events(pipeline: Path, worker: WarmWorker, use_worker: bool) -> None:
    events = Events()
    run = IsolatedRun(request(pipeline, "print", capture_output=True), events, worker=worker if use_worker else None)
    run.start()
    out = run.wait(20)
    assert out.status == "ok" and out.returncode == 0, out
    assert run.used_worker is use_worker
    assert events.nodes("node_finished") == ["first", "second", "third"]
    assert any(e.kind == "message" and e.text == "hello from third" for e in events.items)  # type: ignore[attr-defined]
    assert gone(run.pid or 0)


def test_exception_in_user_code_is_a_normal_failed_run(pipeline: Path, worker: WarmWorker) -> None:
    events = Events()
    run = IsolatedRun(request(pipeline, "raise"), events, worker=worker)
    run.start()
    out = run.wait(20)
    assert out.status == "failed" and out.returncode == 1
    assert "third" in out.reason and "ValueError" in out.reason and "bad value" in out.reason
    assert events.nodes("node_failed") == ["third"]


def test_os_exit_in_a_node_is_a_crash_with_a_synthesised_failure(pipeline: Path, worker: WarmWorker) -> None:
    events = Events()
    run = IsolatedRun(request(pipeline, "exit"), events, worker=worker)
    run.start()
    out = run.wait(20)
    assert out.status == "crashed" and out.returncode == 3
    assert "3" in out.reason and "third" in out.reason
    failed = events.wait_for(lambda e: e.kind == "node_failed")
    assert failed.node == "third" and "3" in failed.error  # type: ignore[attr-defined]
    fin = events.wait_for(lambda e: e.kind == "run_finished")
    assert fin.status == "failed"  # type: ignore[attr-defined]
    assert gone(run.pid or 0) and not group_members(run.pid or 0)


def test_segfault_is_a_crash_naming_the_signal(pipeline: Path) -> None:
    events = Events()
    run = IsolatedRun(request(pipeline, "segv"), events)  # plain spawn: the fallback path crashes safely too
    run.start()
    out = run.wait(20)
    assert out.status == "crashed" and "SIGSEGV" in out.reason and "third" in out.reason
    assert events.nodes("node_failed") == ["third"]
    assert gone(run.pid or 0)


@pytest.mark.parametrize("use_worker", [True, False], ids=["fork", "spawn"])
def test_hung_node_is_stopped_within_two_seconds(pipeline: Path, worker: WarmWorker, use_worker: bool) -> None:
    events = Events()
    run = IsolatedRun(request(pipeline, "hang"), events, worker=worker if use_worker else None)
    run.start()
    events.wait_for(lambda e: e.kind == "node_started" and e.node == "third", timeout=20)  # type: ignore[attr-defined]
    t0 = time.monotonic()
    run.stop()
    out = run.wait(5)
    assert time.monotonic() - t0 < 2.0
    assert out.status == "cancelled" and out.reason == "stopped by user"
    assert events.wait_for(lambda e: e.kind == "run_finished").status == "cancelled"  # type: ignore[attr-defined]
    assert not run.running
    assert gone(run.pid or 0) and not group_members(run.pid or 0)


def test_load_error_is_an_error_outcome_with_file_and_line(tmp_path: Path, worker: WarmWorker) -> None:
    bad = tmp_path / "broken.py"
    bad.write_text("def a() -> int:\n    return 1\n\ndef b(a: int) -> int\n    return a\n")
    events = Events()
    run = IsolatedRun(RunRequest(str(bad), cwd=str(tmp_path), no_cache=True), events, worker=worker)
    run.start()
    out = run.wait(20)
    assert out.status == "error" and out.returncode == 2
    msg = events.wait_for(lambda e: e.kind == "message" and e.level == "error")  # type: ignore[attr-defined]
    assert msg.file.endswith("broken.py") and msg.line == 4  # type: ignore[attr-defined]
    assert "broken.py:4" in out.reason


def test_preload_scan_finds_third_party_not_project_modules(tmp_path: Path) -> None:
    pkg = tmp_path / "proj"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import json\nimport xxhash\nfrom . import b\nfrom proj import b as c\n")
    (pkg / "b.py").write_text("import rich.console\n")
    found = scan_preload("proj", str(tmp_path))
    assert "xxhash" in found and "rich" in found and "json" in found
    assert "proj" not in found and "b" not in found


def test_executor_and_size_budget_reach_the_child(pipeline: Path, worker: WarmWorker, tmp_path: Path) -> None:
    events = Events()
    req = RunRequest(str(pipeline), inputs={"mode": "ok"}, cwd=str(pipeline.parent), cache_dir=str(tmp_path / "c"),
                     executor="threads:2", max_size="1")
    run = IsolatedRun(req, events, worker=worker)
    run.start()
    assert run.wait(20).status == "ok"
    started = [e for e in events.items if isinstance(e, ev.RunStarted)]
    assert started and started[0].executor == "threads"
    from engine.store import Store

    with Store(tmp_path / "c") as store:
        assert store.stats().bytes <= 1  # the budget was enforced after the run
