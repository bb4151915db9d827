"""The Dask executor against a real ``dask.distributed`` LocalCluster with 2 worker processes: the
same results, cache, events, failures and resume as in-process; hits never become tasks; values
move between workers, not through the driving process."""

from __future__ import annotations

import os
import re
import sys
import threading

import pandas as pd
import pytest
from distributed import Client, LocalCluster, SchedulerPlugin
from test_pools import READING

import demo_pipeline
from engine import Driver, events
from engine.core.dask import DaskExecutor
from engine.errors import UsageError

FANOUT = """
from engine import Collect, Parallelizable

def words(text: str) -> Parallelizable[str]:
    yield from text.split()

def shout(words: str, suffix: str = "!") -> str:
    return words.upper() + suffix

def length(shout: str) -> int:
    return len(shout)

def total(length: Collect[int]) -> int:
    return sum(length)

def joined(shout: Collect[str]) -> str:
    return " ".join(shout)
"""


@pytest.fixture(scope="module")
def address():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def dask(address):
    made = []

    def make(mod, cache, config=None):
        dr = Driver(dict(config or {}), mod).with_executor("dask", address=address).with_cache(cache)
        made.append(dr)
        return dr

    yield make
    for dr in made:
        dr.executor.shutdown()
        dr.cache.close()


def _statuses(result):
    """Status and why per node, without the run ids a why may cite (each store has its own)."""
    return {name: (r.status, re.sub(r" \(since run \w+\)", "", r.why) if r.status != "cached" else "")
            for name, r in result.records.items()}


def test_demo_matches_sequential_then_all_hits_without_a_task(dask, tmp_path, address):
    seq = Driver({}, demo_pipeline).with_cache(tmp_path / "seq")
    expected = seq.run(["report", "region_scorecard"])
    seq.cache.close()
    dr = dask(demo_pipeline, tmp_path / "dask")
    got = dr.run(["report", "region_scorecard"])
    assert got.status == "ok"
    assert got.outputs["report"] == expected.outputs["report"]
    # equal to the last bits but for summation order (arrays that crossed a pickle are aligned differently)
    pd.testing.assert_frame_equal(got.outputs["region_scorecard"], expected.outputs["region_scorecard"], rtol=1e-12)
    assert {n: r.status for n, r in got.records.items()} == {n: r.status for n, r in expected.records.items()}
    assert dr.executor.submitted > 0

    with Client(address) as client:
        client.register_plugin(_Started())
        before = client.run_on_scheduler(_started)
        again = dr.run(["report", "region_scorecard"])
        after = client.run_on_scheduler(_started)
    assert again.count("cached") == len(again.records) and again.count("ran") == 0
    assert dr.executor.submitted == 0 and after == before  # no task reached the scheduler
    assert again.outputs["report"] == expected.outputs["report"]


class _Started(SchedulerPlugin):
    """Counts tasks the scheduler starts (the scheduler of a LocalCluster lives in this process)."""

    name = "ripple-test-started"

    def __init__(self) -> None:
        self.started = 0

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish == "processing":
            self.started += 1


def _started(dask_scheduler) -> int:
    return dask_scheduler.plugins[_Started.name].started


def test_fanout_matches_sequential_and_items_hit(dask, make_module, tmp_path):
    mod = make_module(FANOUT)
    dr = dask(mod, tmp_path / "dask")
    for text, shout_why in (("a bb ccc", "3 items"), ("a bb ccc", ""), ("a bb cccc dd", "2 of 4 items ran")):
        seq = Driver({}, mod).with_cache(tmp_path / "seq")
        expected = seq.run(["total", "joined"], inputs={"text": text})
        seq.cache.close()
        got = dr.run(["total", "joined"], inputs={"text": text})
        assert got.outputs == expected.outputs
        assert _statuses(got) == _statuses(expected)
        if shout_why:
            assert got.records["shout"].why == shout_why
        else:
            assert got.records["length"].why == "all 3 items cached" and dr.executor.submitted == 0


def test_a_file_a_fan_out_item_read_on_a_worker_is_recorded_with_its_entry(dask, make_module, tmp_path):
    """Each item's entry, written on the worker that computed it, records what the item's run read
    there, and the expander's what it read: when a file changes, what read it runs again instead of
    being served the old contents."""
    mod = make_module(READING)
    factor = tmp_path / "factor.txt"
    factor.write_text("2")
    (tmp_path / "more.txt").write_text("0")
    assert dask(mod, tmp_path / "c").run(["total"], inputs={"n": 3}).outputs == {"total": 6}
    assert dask(mod, tmp_path / "c").run(["total"], inputs={"n": 3}).records["scaled"].status == "cached"
    factor.write_text("5")
    again = dask(mod, tmp_path / "c").run(["total"], inputs={"n": 3})
    assert again.outputs == {"total": 15}
    assert (again.records["scaled"].status, again.records["scaled"].why) == ("ran", "3 items")
    (tmp_path / "more.txt").write_text("1")  # read by the expander, on a worker
    more = dask(mod, tmp_path / "c").run(["total"], inputs={"n": 3})
    assert more.outputs == {"total": 30} and more.records["items"].status == "ran"


def test_failure_then_fix_resumes_from_what_succeeded(dask, tmp_path):
    dr = dask(demo_pipeline, tmp_path / "c", {"holdout_region": "Atlantis"})
    failed = dr.run(["report"])
    assert failed.status == "failed" and failed.failed_node == "region_spotlight"
    assert "Atlantis" in failed.records["region_spotlight"].error
    assert failed.records["report"].status == "skipped"
    assert failed.records["fitted_model"].status == "ran"
    fixed = dask(demo_pipeline, tmp_path / "c", {"holdout_region": "North"}).run(["report"])
    assert fixed.status == "ok"
    ran = {n for n, r in fixed.records.items() if r.status == "ran"}
    assert ran == {"region_spotlight", "report"}
    assert fixed.records["fitted_model"].status == "cached"


def test_events_arrive_in_order_per_node(dask, make_module, tmp_path):
    mod = make_module(FANOUT + """
def broken(total: int) -> int:
    raise RuntimeError("nope")

def after(broken: int) -> int:
    return broken
""")
    dr = dask(mod, tmp_path / "c")
    seen: list[events.Event] = []
    dr.add_listener(seen.append)
    dr.run(["joined", "after"], inputs={"text": "x yy"})
    per_node: dict[str, list[str]] = {}
    for e in seen:
        if getattr(e, "node", ""):
            per_node.setdefault(e.node, []).append(e.kind)
    assert seen[0].kind == "run_started" and seen[-1].kind == "run_finished"
    assert per_node["words"] == ["node_planned", "node_started", "node_finished"]
    assert per_node["shout"] == ["node_planned", "node_started", "node_finished"]
    assert per_node["broken"] == ["node_planned", "node_started", "node_failed"]
    assert per_node["after"] == ["node_planned", "node_skipped"]
    failed = next(e for e in seen if e.kind == "node_failed")
    assert failed.error == "nope" and failed.line > 0


def test_data_versions_are_those_of_the_driving_process(dask, make_module, tmp_path):
    """A value versioned on a worker (a project class instance, a path) gets the data version the
    sequential executor gives it, so switching executors keeps every hit."""
    mod = make_module("""
import dataclasses
from pathlib import Path

@dataclasses.dataclass
class Point:
    x: int

def point(x: int) -> Point:
    return Point(x)

def where(point: Point) -> Path:
    return Path(__file__).parent / f"p{point.x}.txt"
""")

    def versions(dr):
        got: dict[str, str] = {}
        dr.add_listener(lambda e: got.__setitem__(e.node, e.data_version) if e.kind == "node_finished" else None)
        dr.run(["where"], inputs={"x": 3})
        return got

    seq = Driver({}, mod).with_cache(tmp_path / "seq")
    expected = versions(seq)
    seq.cache.close()
    assert versions(dask(mod, tmp_path / "dask")) == expected and expected["point"]


def test_what_a_node_saw_on_a_worker_is_rechecked(dask, make_module, tmp_path, address, monkeypatch):
    """The records a worker keeps with an entry (here: an environment variable the node read) make
    the next run re-run the node when what it saw changed, as in-process. The driving process
    re-checks them, so the environment must be the same there (as the code and the files must)."""
    mod = make_module("""
import os

def greeting() -> str:
    return os.environ.get("RIPPLE_DASK_TEST_GREETING", "unset")
""")
    with Client(address) as client:
        client.run(lambda: os.environ.update(RIPPLE_DASK_TEST_GREETING="hello"))  # on the workers
        monkeypatch.setenv("RIPPLE_DASK_TEST_GREETING", "hello")  # and here
        try:
            assert dask(mod, tmp_path / "c").execute(["greeting"]) == {"greeting": "hello"}
            assert dask(mod, tmp_path / "c").run(["greeting"]).records["greeting"].status == "cached"
            client.run(lambda: os.environ.update(RIPPLE_DASK_TEST_GREETING="bonjour"))
            monkeypatch.setenv("RIPPLE_DASK_TEST_GREETING", "bonjour")
            again = dask(mod, tmp_path / "c").run(["greeting"])
        finally:
            client.run(lambda: os.environ.pop("RIPPLE_DASK_TEST_GREETING", None))
    assert again.records["greeting"].status == "ran" and again.outputs == {"greeting": "bonjour"}


def test_a_damaged_entry_a_worker_needs_is_rebuilt_not_a_failure(dask, make_module, tmp_path):
    mod = make_module("""
def blob(n: int) -> bytes:
    return b"x" * n

def size(blob: bytes, k: int) -> int:
    return len(blob) + k
""")
    dr = dask(mod, tmp_path / "c")
    assert dr.execute(["size"], inputs={"n": 100_000, "k": 0}) == {"size": 100_000}
    damaged = [f for f in (tmp_path / "c" / "objects").rglob("*") if f.is_file()]
    for f in damaged:
        f.write_bytes(b"not what was stored")
    got = dr.run(["size"], inputs={"n": 100_000, "k": 1})  # blob hits, size's task cannot load it
    assert damaged and got.status == "ok" and got.outputs == {"size": 100_001}
    assert got.records["blob"].status == "ran" and got.records["blob"].why == "cached value was damaged"


def test_values_move_between_workers_not_through_the_driver(dask, make_module, tmp_path):
    mod = make_module(f"""
import os

class OnlyOnWorkers:
    def __init__(self, n):
        self.n = n

    def __reduce__(self):
        return (_rebuild, (self.n,))

def _rebuild(n):
    if os.getpid() == {os.getpid()}:
        raise RuntimeError("an intermediate value reached the driving process")
    return OnlyOnWorkers(n)

def big(seed: int) -> OnlyOnWorkers:
    return OnlyOnWorkers(seed * 2)

def small(big: OnlyOnWorkers, k: int) -> int:
    return big.n + k
""")
    dr = dask(mod, tmp_path / "c")
    assert dr.execute(["small"], inputs={"seed": 21, "k": 0}) == {"small": 42}
    again = dr.run(["small"], inputs={"seed": 21, "k": 0})  # written on the worker, read back as a hit here
    assert again.records["big"].status == again.records["small"].status == "cached"
    partly = dr.run(["small"], inputs={"seed": 21, "k": 1})  # the hit is loaded by the task that needs it
    assert partly.records["big"].status == "cached" and partly.records["small"].status == "ran"
    assert partly.outputs == {"small": 43}


def test_ctrl_c_cancels_the_clusters_tasks(dask, make_module, tmp_path, address):
    mod = make_module("""
import time

def slow() -> int:
    time.sleep(60)
    return 1
""")
    dr = dask(mod, tmp_path / "c")
    keys: list[str] = []

    def interrupt(event):
        if event.kind == "node_started":
            raise KeyboardInterrupt

    dr.add_listener(interrupt)
    with Client(address) as client:
        watcher = threading.Event()
        with pytest.raises(KeyboardInterrupt):
            dr.run(["slow"])
        # the scheduler forgets every task of the run (the worker's thread is released, not waited for)
        for _ in range(600):  # a bounded wait for the scheduler to forget them, not a timing check
            keys = client.run_on_scheduler(_slow_keys)
            if not keys:
                break
            watcher.wait(0.05)
    assert keys == []


def _slow_keys(dask_scheduler) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks if str(k).startswith("slow-")]


def test_executor_specs_and_errors(address):
    from engine.core.pool import make_executor

    ex = make_executor(f"dask={address}")
    assert isinstance(ex, DaskExecutor) and ex.address == address
    assert make_executor("dask:3").workers == 3
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:1", timeout=1).client()


def test_workers_import_the_code_as_it_is_now(dask, make_module, tmp_path):
    import importlib

    mod = make_module("def answer() -> int:\n    return 1\n")
    assert dask(mod, tmp_path / "c").execute(["answer"]) == {"answer": 1}
    with open(mod.__file__, "w") as f:
        f.write("def answer() -> int:\n    return 2\n")
    importlib.reload(mod)
    assert dask(mod, tmp_path / "c").execute(["answer"]) == {"answer": 2}


def test_workers_import_the_project_modules_a_node_uses_as_they_are_now(dask, make_module, tmp_path, address):
    """Not only the pipeline's packages: a helper module beside the pipeline, which a long-lived
    worker imported once, is imported again when it changed, as the driving process does."""
    import importlib
    import uuid

    helper = f"ripple_test_helper_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{helper}.py").write_text("def _scale(x):\n    return x * 2\n")
    mod = make_module(f"from {helper} import _scale\n\n\ndef base() -> int:\n    return 3\n\n\n"
                      "def scaled(base: int) -> int:\n    return _scale(base)\n")
    assert dask(mod, tmp_path / "c").execute(["scaled"]) == {"scaled": 6}
    with Client(address) as client:  # every worker has imported it (whichever ran the node)
        client.run(importlib.import_module, helper)
    (tmp_path / f"{helper}.py").write_text("def _scale(x):\n    return x * 5\n")
    sys.modules.pop(helper, None)  # the driving process imports the file as it is now, as a new one would
    importlib.reload(mod)
    assert dask(mod, tmp_path / "c").execute(["scaled"]) == {"scaled": 15}


def test_builder_and_driver_name_the_dask_executor(make_module, address):
    from engine import Builder

    mod = make_module("def a() -> int:\n    return 1\n")
    dr = Builder().with_modules(mod).with_remote_executor(f"dask={address}").build()
    assert isinstance(dr.executor, DaskExecutor) and dr.executor.address == address
    seen: list[str] = []
    dr.add_listener(lambda e: seen.append(e.text) if e.kind == "message" else None)
    assert dr.execute(["a"]) == {"a": 1}
    assert any(t.startswith("Dask dashboard: http") for t in seen)
    dr.executor.shutdown()


def test_watch_runs_in_its_child_process_on_dask(pipeline, address, tmp_path):
    """The run's client is watch mode's child process, the scheduler this one: neither the scheduler
    nor this process ever imports the pipeline (task payloads are unpickled on workers only)."""
    import subprocess
    import sys

    path = pipeline("def a() -> int:\n    return 1\n\n\ndef b(a: int) -> int:\n    return a + 1\n")
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "watch", path, "--once", "--executor",
                           f"dask={address}", "--cache-dir", str(tmp_path / "c")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "run ok: 2 ran" in proc.stdout and "Dask dashboard: http" in proc.stdout


def test_cli_runs_on_dask(capsys, pipeline, address, tmp_path):
    import json

    from engine.cli import main

    path = pipeline(FANOUT)
    code = main(["run", path, "--input", "text=a bb", "--outputs", "total,joined", "--executor", f"dask={address}",
                 "--cache-dir", str(tmp_path / "c"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["status"] == "ok" and doc["outputs"]["total"] == "5"
    assert main(["run", path, "--input", "text=a bb", "--executor", f"dask={address}",
                 "--cache-dir", str(tmp_path / "c")]) == 0
    assert "ripple: Dask dashboard: http" in capsys.readouterr().err
    assert main(["run", path, "--executor", "dask="]) == 2
    assert "give the scheduler's address, e.g. dask=tcp://host:8786" in capsys.readouterr().err
    assert main(["run", path, "--executor", "dsak"]) == 2
    assert "(did you mean 'dask'?)" in capsys.readouterr().err


def test_a_failing_expander_skips_its_block_as_sequentially(dask, make_module, tmp_path):
    mod = make_module(FANOUT.replace("    yield from text.split()",
                                     "    if not text:\n        raise ValueError('no text')\n    yield from text.split()"))
    seq = Driver({}, mod).with_cache(tmp_path / "seq")
    expected = seq.run(["total", "joined"], inputs={"text": ""})
    seq.cache.close()
    got = dask(mod, tmp_path / "dask").run(["total", "joined"], inputs={"text": ""})
    assert got.status == expected.status == "failed"
    assert _statuses(got) == _statuses(expected)
    assert got.records["shout"].status == "skipped" and "no text" in got.records["words"].error
