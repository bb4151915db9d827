"""Issue 9: the code trace and the read recorder themselves, under the running Python.

Run under 3.11 (the C-profiler fallback) and 3.12+ (``sys.monitoring``): the same promises hold
with either mechanism, and the mechanism-specific ones are checked where they apply.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_never_stale import Project, fresh_env  # noqa: F401 - the fixture is used by name

from engine.caching import tracing
from engine.caching.tracing import CodeTrace
from engine.core.reads import ReadRecorder

MONITORING = sys.version_info >= (3, 12)


def _alpha() -> int:
    return 1


def _beta() -> int:
    return 2


def _names(trace: CodeTrace) -> set[str]:
    return {c.co_name for c in trace.codes if c.co_filename == __file__}


def test_the_mechanism_is_the_one_for_this_python() -> None:
    assert tracing.mechanism() == ("sys.monitoring" if MONITORING else "cProfile")


def test_nested_traces_keep_their_own_sets_and_the_outer_one_gets_both() -> None:
    with CodeTrace() as outer:
        _alpha()
        with CodeTrace() as inner:
            _beta()
    assert _names(inner) == {"_beta"}
    assert _names(outer) == {"_alpha", "_beta"}


def test_concurrent_traces_in_two_threads_do_not_mix() -> None:
    barrier = threading.Barrier(2)
    found: dict[str, set[str]] = {}

    def node(name: str, fn) -> None:
        with CodeTrace() as t:
            barrier.wait()
            for _ in range(200):
                fn()
            barrier.wait()
        found[name] = _names(t)

    threads = [threading.Thread(target=node, args=("a", _alpha)), threading.Thread(target=node, args=("b", _beta))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == {"a": {"_alpha"}, "b": {"_beta"}}


def _plus_one(x: int) -> int:
    return x + 1


def test_many_short_recordings_in_two_threads_never_fail_their_call() -> None:
    """A pool's workers record every node (and fan-out item) they run: on 3.11, switching profilers
    in two threads at once made CPython refuse about one switch in 20,000, failing that node with
    "Cannot install a profile function while another profile function is being installed"."""
    from engine.core.execute import _call_tracked

    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda i: _call_tracked(_plus_one, {"x": i}, ("/nonexistent",)), range(30_000)))
    failed = [r[1][0] for r in got if not r[0]]
    assert not failed, f"{len(failed)} calls failed, e.g. {failed[0]}"
    assert [r[1] for r in got[:3]] == [1, 2, 3]


def test_threads_and_pools_a_node_starts_are_part_of_its_recording(tmp_path: Path) -> None:
    data = tmp_path / "seen.txt"
    data.write_text("x")
    rec = ReadRecorder()
    with rec:
        t = threading.Thread(target=lambda: (_alpha(), data.read_text(), os.getenv("RIPPLE_T_NOPE")))
        t.start()
        t.join()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: _beta(), range(4)))
    reads = rec.paths
    assert str(data) in reads
    assert reads.seen["env"] == {"RIPPLE_T_NOPE": None}
    assert {q for f, q in reads.seen["code"] if f == __file__} >= {"_alpha", "_beta"}


def test_the_previous_profiler_is_restored_and_no_tool_id_is_kept() -> None:
    def mine(frame, event, arg) -> None:
        return None

    sys.setprofile(mine)
    try:
        with CodeTrace():
            _alpha()
        assert sys.getprofile() is mine
    finally:
        sys.setprofile(None)
    if MONITORING:
        assert all(sys.monitoring.get_tool(i) != "ripple" for i in range(6))


@pytest.mark.skipif(not MONITORING, reason="sys.monitoring exists from Python 3.12 on")
def test_one_event_per_function_with_sys_monitoring(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    original = tracing._MONITOR.on_start

    def counting(code, offset):
        if code is _alpha.__code__:
            calls.append(code)
        return original(code, offset)

    monkeypatch.setattr(tracing._MONITOR, "on_start", counting)
    with CodeTrace() as t:
        for _ in range(1000):
            _alpha()
    assert len(calls) == 1 and "_alpha" in _names(t)
    with CodeTrace() as again:  # DISABLE from the first node does not hide the function from the next
        _alpha()
    assert "_alpha" in _names(again) and len(calls) == 2


@pytest.mark.skipif(not MONITORING, reason="sys.monitoring exists from Python 3.12 on")
def test_falls_back_to_a_profile_function_when_every_tool_id_is_taken() -> None:
    taken = [i for i in range(6) if sys.monitoring.get_tool(i) is None]
    for i in taken:
        sys.monitoring.use_tool_id(i, "someone else")
    try:
        assert tracing.mechanism() == "setprofile"
        with CodeTrace() as t:
            _beta()
        assert _names(t) == {"_beta"}
    finally:
        for i in taken:
            sys.monitoring.free_tool_id(i)


EXECUTORS = {
    "PKG/__init__.py": "",
    "PKG/models.py": "class Model:\n    def predict(self, x):\n        return x * 2\n",
    "PKG/nodes.py": (
        "import os\n\nfrom .models import Model\n\n\n"
        "def model():\n    return Model()\n\n\n"
        "def pred(model) -> int:\n    return model.predict(3)\n\n\n"
        "def via_env() -> str:\n    return os.getenv('RIPPLE_T_EXEC', 'e')\n"
    ),
}


@pytest.mark.parametrize("executor", ["threads", "processes:2"])
def test_every_executor_records_code_and_environment(fresh_env: Path, executor: str) -> None:  # noqa: F811
    fresh_env.mkdir()
    p = Project(fresh_env, EXECUTORS)

    def ran() -> set[str]:
        p.purge()
        from engine import Driver

        dr = Driver({}, str(fresh_env / p.pkg), executor=executor).with_cache(fresh_env / ".ripple")
        try:
            result = dr.run(["pred", "via_env"])
            assert result.status == "ok", result.error
            return {n for n, r in result.records.items() if r.status == "ran"}
        finally:
            dr.cache.close()

    assert ran() == {"model", "pred", "via_env"}
    assert ran() == set()
    os.environ["RIPPLE_T_EXEC"] = "changed"
    assert ran() == {"via_env"}
    (fresh_env / p.pkg / "models.py").write_text("class Model:\n    def predict(self, x):\n        return x * 5\n")
    assert ran() == {"model", "pred"}


def test_a_py_file_opened_as_data_is_a_read_but_an_import_is_not(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import uuid

    name = f"imported_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("X = 1\n")
    (tmp_path / "table.py").write_text("rows = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    rec = ReadRecorder()
    with rec:
        importlib.import_module(name)
        (tmp_path / "table.py").read_text()
    assert list(rec.paths) == [str(tmp_path / "table.py")]
    sys.modules.pop(name, None)


def test_a_run_under_an_outer_c_profiler_neither_crashes_nor_goes_stale(tmp_path: Path) -> None:
    """pyinstrument installs a C profile function Python cannot reinstall; on 3.11 the code tracing
    (a cProfile) displaces it: the run still works and still traces the helper it calls."""
    (tmp_path / "prof_pipe.py").write_text("from prof_helpers import h\n\n\ndef a() -> int:\n    return h()\n")
    (tmp_path / "prof_helpers.py").write_text("def h():\n    return 1\n")
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from pyinstrument import Profiler
        from engine import Driver
        import prof_pipe
        with Profiler():
            out = Driver({{}}, prof_pipe).with_cache({str(tmp_path / "c")!r}).execute(["a"])
        print(out["a"])
    """)
    run = lambda: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)  # noqa: E731
    first = run()
    assert first.returncode == 0 and first.stdout.split()[-1] == "1", first.stderr
    (tmp_path / "prof_helpers.py").write_text("def h():\n    return 2\n")
    second = run()
    assert second.returncode == 0 and second.stdout.split()[-1] == "2", second.stderr


def test_a_spawned_process_worker_records_the_code_its_node_ran(tmp_path: Path) -> None:
    """macOS and Windows start pool workers with ``spawn``: a worker inherits nothing, so the code
    tracing probe must be registered there too, or a helper only the trace can see goes unversioned."""
    pkg = tmp_path / "spawnpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("def helper():\n    return 1\n")
    (pkg / "nodes.py").write_text(textwrap.dedent("""
        import importlib

        def b() -> int:
            module = importlib.import_module("".join(["spawnpkg.", "hel", "pers"]))  # no analysis sees it
            return getattr(module, "hel" + "per")()
    """))
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        if __name__ == "__main__":
            from engine import Driver
            from engine.core.pool import ProcessExecutor

            dr = Driver({{}}, "spawnpkg", executor=ProcessExecutor(1, start_method="spawn"))
            result = dr.with_cache({str(tmp_path / "store")!r}).run(["b"])
            print(result.outputs["b"], result.records["b"].status)
    """)
    script = tmp_path / "run_spawned.py"
    script.write_text(code)

    def run() -> list[str]:
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert run() == ["1", "ran"]
    assert run() == ["1", "cached"]
    (pkg / "helpers.py").write_text("def helper():\n    return 2\n")
    assert run() == ["2", "ran"]


def test_a_file_beside_a_skipped_folder_whose_name_begins_alike_is_read(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The interpreter's folders (and the store's) are left out as folders: a project file next to a
    virtual environment, named like it (``venv-notes.txt`` beside ``venv``), is a read."""
    from engine.core import reads

    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "lib.txt").write_text("library")
    (tmp_path / "venv-notes.txt").write_text("mine")
    (tmp_path / "site-packages-notes.txt").write_text("mine too")
    monkeypatch.setattr(reads, "_SKIP_PREFIXES", reads.folders([str(tmp_path / "venv")]))
    rec = ReadRecorder(reads.folders([str(tmp_path / "store")]))
    with rec:
        for name in ("venv/lib.txt", "venv-notes.txt", "site-packages-notes.txt", "store-notes.txt"):
            path = tmp_path / name
            if not path.exists():
                path.write_text("x")
            path.read_text()
    assert sorted(os.path.basename(p) for p in rec.paths) == ["site-packages-notes.txt", "store-notes.txt",
                                                               "venv-notes.txt"]
