"""Bad input at the ``ripple`` command line: one clear sentence, the right exit status, no traceback
of Ripple's internals, nothing lost.

Every test asserts the exit status, that stderr holds no ``Traceback`` and that the message names
what it should (file:line, node, flag, what to do). Most call ``engine.cli.main`` in-process; the
ones where the process boundary matters (Ctrl-C, worker processes, ``--json`` on a real stdout) run
real subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from processes import default_sigint

from engine._text import summarize
from engine.cli import main

OK = """
def base(x: int) -> int:
    return x + 1

def doubled(base: int) -> int:
    return base * 2
"""


def fails(capsys, argv, code=2):
    """Run ``ripple argv`` in-process; assert the exit status and a one-line, traceback-free error."""
    got = main(argv)
    out, err = capsys.readouterr()
    assert got == code, (got, out, err)
    assert "Traceback" not in err
    assert err.startswith("ripple: error: "), err
    assert err.count("\n") == 1, err
    return err


def _flat(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------ usage


def test_no_arguments_prints_usage_with_every_command_exit_2(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.startswith("usage: ripple")
    for cmd in ("run", "plan", "graph", "watch", "cache", "runs"):
        assert cmd in err
    assert "ripple COMMAND --help" in err


def test_help_texts_describe_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["runs", "--help"])
    assert info.value.code == 0
    out = _flat(capsys.readouterr().out)
    assert "how many runs to show" in out and "store location" in out and "print JSON" in out
    with pytest.raises(SystemExit):
        main(["cache", "prune", "--help"])
    out = _flat(capsys.readouterr().out)
    assert "--older-than AGE evict entries unused for AGE" in out and "store location" in out
    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    out = _flat(capsys.readouterr().out)
    assert "--executor" in out and "--max-size" in out  # watch runs honour them like `ripple run`
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "pipeline prints go to stderr" in _flat(capsys.readouterr().out)


def test_runs_limit_must_be_positive(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["runs", "--limit", "0", "--cache-dir", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--limit: '0' must be 1 or more" in err and "Traceback" not in err


# ------------------------------------------------------------------------------- loading the pipeline


def test_nonexistent_pipeline(capsys, tmp_path):
    err = fails(capsys, ["run", "no_such_ripple_pipeline_xyz", "--no-cache"])
    assert "no pipeline module named 'no_such_ripple_pipeline_xyz'" in err
    err = fails(capsys, ["run", str(tmp_path / "nope.py"), "--no-cache"])
    assert f"{tmp_path / 'nope.py'} does not exist" in err


def test_path_to_a_non_python_file(capsys, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("hello\n")
    err = fails(capsys, ["run", str(tmp_path / "notes.txt"), "--no-cache"])
    assert f"{tmp_path / 'notes.txt'} is not a .py file" in err
    monkeypatch.chdir(tmp_path)  # relative, and it looks like a dotted name
    err = fails(capsys, ["graph", "notes.txt"])
    assert "notes.txt is not a .py file" in err


def test_empty_folder_and_namespace_folder(capsys, tmp_path, monkeypatch):
    empty = tmp_path / f"ripple_err_empty_{uuid.uuid4().hex[:6]}"
    empty.mkdir()
    err = fails(capsys, ["run", str(empty), "--no-cache"])
    assert f"folder {empty} holds no .py pipeline modules" in err
    monkeypatch.chdir(tmp_path)
    # a folder without __init__.py is a folder pipeline however it is named, not a namespace package
    err = fails(capsys, ["run", empty.name, "--no-cache"])
    assert f"folder {empty.name} holds no .py pipeline modules" in err
    err = fails(capsys, ["graph", empty.name])
    assert "holds no .py pipeline modules" in err


def test_package_whose_init_raises(capsys, tmp_path):
    pkg = tmp_path / f"ripple_err_pkg_{uuid.uuid4().hex[:6]}"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("x = 1\nraise RuntimeError('boom in init')\n")
    err = fails(capsys, ["run", str(pkg), "--no-cache"])
    assert f"{pkg / '__init__.py'}:2:" in err and "RuntimeError: boom in init" in err
    assert "fix the module and run again" in err


def test_syntax_error_names_file_and_line(capsys, pipeline):
    path = pipeline("def a() -> int:\n    return 1\n\ndef b(:\n    pass\n")
    err = fails(capsys, ["run", path, "--no-cache"])
    assert f"{path}:4: syntax error" in err and "fix it" in err


def test_missing_third_party_package(capsys, pipeline):
    path = pipeline("import os\nimport ripple_no_such_dependency_xyz\n\ndef a() -> int:\n    return 1\n")
    err = fails(capsys, ["run", path, "--no-cache"])
    assert f"{path}:2:" in err and "ripple_no_such_dependency_xyz" in err and "install the package" in err


def test_module_calling_sys_exit_at_import(capsys, pipeline):
    path = pipeline("import sys\nsys.exit(5)\n\ndef a() -> int:\n    return 1\n")
    err = fails(capsys, ["run", path, "--no-cache"])
    assert f"{path}:2:" in err and "sys.exit(5)" in err and '__name__ == "__main__"' in err


def test_decorator_with_bad_arguments(capsys, pipeline):
    path = pipeline("from engine import cache\n\n@cache(behavior='bogus')\ndef a() -> int:\n    return 1\n")
    err = fails(capsys, ["run", path, "--no-cache"])
    assert f"{path}:3:" in err and "'bogus'" in err and "recompute" in err
    path = pipeline("from engine import tag\n\n@tag\ndef a() -> int:\n    return 1\n")
    err = fails(capsys, ["run", path, "--no-cache"])
    assert f"{path}:3:" in err and "@tag(key=value)" in err


# ------------------------------------------------------------------------------------ graph errors


def test_cycle(capsys, pipeline):
    path = pipeline("def a(b: int) -> int:\n    return b\n\ndef b(a: int) -> int:\n    return a\n")
    err = fails(capsys, ["plan", path, "--no-cache"])
    assert f"{path}:" in err and "cycle" in err and "break the loop" in err


def test_duplicate_nodes_across_two_modules(capsys, tmp_path):
    folder = tmp_path / f"ripple_err_dup_{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "ripple_err_m1.py").write_text("def total() -> int:\n    return 1\n")
    (folder / "ripple_err_m2.py").write_text("\ndef total() -> int:\n    return 2\n")
    err = fails(capsys, ["run", str(folder), "--no-cache"])
    assert "node 'total' is defined twice" in err
    assert str(folder / "ripple_err_m1.py") in err and str(folder / "ripple_err_m2.py") in err


def test_type_mismatch(capsys, pipeline):
    path = pipeline("def a() -> int:\n    return 1\n\ndef b(a: str) -> str:\n    return a\n")
    err = fails(capsys, ["graph", path])
    assert f"{path}:4: type mismatch" in err and "b(a: str)" in err


# ------------------------------------------------------------------------------- flags and values


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--outputs", "doubeld"], "--outputs names unknown output 'doubeld' (did you mean 'doubled'?)"),
        (["--outputs", ""], "--outputs '' names no node"),
        (["--outputs", ","], "--outputs ',' names no node"),
        (["--input", "x"], "--input 'x' is not NAME=VALUE; write e.g."),
        (["--input", "xx=1"], "--input xx: pipeline ripple_pipe_"),
        (["--input", "base=3"], "--input base: base is a node computed by pipeline"),
        (["--input", "x=1.5"], "--input x: '1.5' is not a valid int; give a int value."),
        (["--config", "x=abc"], "--config x: 'abc' is not a valid int"),
        (["--config", "oops"], "--config 'oops' is not NAME=VALUE"),
        (["--executor", "bogus"], "unknown executor 'bogus'"),
        (["--executor", "proceses"], "(did you mean 'processes'?)"),
        (["--executor", "threads:0"], "the worker count must be a whole number"),
        (["--executor", "threads:abc"], "the worker count must be a whole number"),
        (["--executor", "sequential:2"], "the sequential executor takes no worker count"),
        (["--recompute", "nope"], "--recompute names unknown node 'nope'"),
        (["--max-size", "lots"], "--max-size 'lots': expected a number"),
    ],
)
def test_bad_flags_exit_2(capsys, pipeline, argv, message):
    args = argv if any(a.startswith(("--input", "--config")) for a in argv) else ["--input", "x=1", *argv]
    err = fails(capsys, ["run", pipeline(OK), "--no-cache", *args])
    assert message in err


def test_unknown_input_suggests_the_close_match(capsys, pipeline):
    err = fails(capsys, ["run", pipeline(OK), "--no-cache", "--input", "xx=1"])
    assert "has no input named 'xx' (did you mean 'x'?); inputs are: x" in err


def test_trailing_comma_in_outputs_is_fine(capsys, pipeline):
    assert main(["run", pipeline(OK), "--no-cache", "--json", "--input", "x=1", "--outputs", "base,"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["outputs"] == {"base": "2"} and "Traceback" not in err


def test_config_values_are_typed(capsys, pipeline):
    path = pipeline("def a(n: int, flag: bool, tags: list) -> str:\n    return f'{n + 1} {flag} {tags}'\n")
    assert main(["run", path, "--no-cache", "--json", "--config", "n=4", "--config", "flag=false",
                 "--config", "tags=[1, 2]"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["outputs"] == {"a": "5 False [1, 2]"} and "Traceback" not in err
    err = fails(capsys, ["run", path, "--no-cache", "--config", "n=4", "--config", "flag=maybe",
                         "--config", "tags=[]"])
    assert "--config flag: 'maybe' is not a boolean; use true or false." in err


def test_graph_outputs_are_checked(capsys, pipeline):
    path = pipeline(OK)
    err = fails(capsys, ["graph", path, "--outputs", "dubled"])
    assert "unknown output 'dubled' (did you mean 'doubled'?)" in err and f"ripple graph {path}" in err
    err = fails(capsys, ["graph", path, "--outputs", "x"])  # an input, not a node
    assert "unknown output 'x'" in err


def test_watch_checks_its_flags_before_watching(capsys, pipeline):
    err = fails(capsys, ["watch", pipeline(OK), "--once", "--executor", "bogus"])
    assert "bogus" in err and "threads" in err
    err = fails(capsys, ["watch", pipeline(OK), "--once", "--outputs", ","])
    assert "--outputs ',' names no node" in err


# ------------------------------------------------------------------------------------ the store


def test_cache_dir_pointing_at_a_file(capsys, pipeline, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    err = fails(capsys, ["run", pipeline(OK), "--input", "x=1", "--cache-dir", str(afile)])
    assert str(afile) in err
    assert afile.read_text() == "x"  # nothing of the user's was touched


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_cache_dir_unwritable(capsys, pipeline, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        err = fails(capsys, ["run", pipeline(OK), "--input", "x=1", "--cache-dir", str(ro / "store")])
        assert str(ro) in err
    finally:
        ro.chmod(0o755)


def test_corrupted_meta_sqlite_is_rebuilt_or_named(capsys, pipeline, tmp_path):
    path = pipeline(OK)
    store = tmp_path / "store"
    assert main(["run", path, "--input", "x=1", "--cache-dir", str(store), "--json"]) == 0
    capsys.readouterr()
    (store / "meta.sqlite").write_bytes(os.urandom(8192))  # garbage: moved aside, rebuilt
    for p in store.glob("meta.sqlite-*"):
        p.unlink()
    assert main(["run", path, "--input", "x=1", "--cache-dir", str(store), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["outputs"] == {"doubled": "4"} and "Traceback" not in err


def test_damaged_store_that_sqlite_half_reads_is_one_clear_line(capsys, pipeline, tmp_path, monkeypatch):
    """Whatever the store raises while reading a damaged file, the user gets the store's path and
    what to do — not a traceback (the store itself should quarantine it; see the report)."""
    from engine import store as store_mod

    def broken(self):
        raise UnicodeDecodeError("utf-8", b"\x9a", 0, 1, "invalid start byte")

    monkeypatch.setattr(store_mod.Store, "_open_connection", broken)
    db = tmp_path / "store" / "meta.sqlite"
    db.parent.mkdir()
    err = fails(capsys, ["runs", "--cache-dir", str(tmp_path / "store")])
    assert f"the cache store {db} is damaged" in err and "--no-cache" in err
    err = fails(capsys, ["run", pipeline(OK), "--input", "x=1", "--cache-dir", str(tmp_path / "store")])
    assert "is damaged" in err


def test_prune_bad_age_and_size(capsys, tmp_path):
    (tmp_path / "store").mkdir()
    err = fails(capsys, ["cache", "prune", "--cache-dir", str(tmp_path / "store"), "--older-than", "3x"])
    assert "--older-than '3x'" in err and "7d" in err
    err = fails(capsys, ["cache", "prune", "--cache-dir", str(tmp_path / "store"), "--max-size", "huge"])
    assert "--max-size 'huge'" in err and "500MB" in err


def test_runs_with_no_store(capsys, tmp_path):
    err = fails(capsys, ["runs", "--cache-dir", str(tmp_path / "nothing")])
    assert f"no cache at {tmp_path / 'nothing'}" in err and "run a pipeline first" in err
    err = fails(capsys, ["cache", "stats", "--cache-dir", str(tmp_path / "nothing")])
    assert "no cache at" in err


# ------------------------------------------------------------------------------------ node behaviour


def test_node_calling_sys_exit_is_a_failed_node(capsys, pipeline, tmp_path):
    path = pipeline("import sys\n\ndef a() -> int:\n    sys.exit(3)\n\ndef b(a: int) -> int:\n    return a\n\n"
                    "def c() -> int:\n    return 5\n")
    assert main(["run", path, "--cache-dir", str(tmp_path / "s")]) == 1
    out, err = capsys.readouterr()
    assert "internal error" not in err and "engine/" not in err  # the user's frames only, no ripple internals
    squash = "".join(err.split())  # the failure goes to stderr
    assert "".join(f"node a ({path}:3) failed: SystemExit: 3".split()) in squash
    assert "Fixthecauseandrunagain" in squash
    assert main(["run", path, "--cache-dir", str(tmp_path / "s"), "--json"]) == 1  # c was kept
    doc = json.loads(capsys.readouterr().out)
    assert {n["name"]: n["status"] for n in doc["nodes"]} == {"a": "failed", "b": "skipped", "c": "cached"}


def test_node_raising_keyboard_interrupt(capsys, pipeline, tmp_path):
    path = pipeline("def a() -> int:\n    return 1\n\ndef b(a: int) -> int:\n    raise KeyboardInterrupt\n")
    store = str(tmp_path / "s")
    # a node raising KeyboardInterrupt is that node's failure (exit 1); only a real Ctrl-C is 130
    # (tests/cli/test_clean_failures.py::test_real_ctrl_c_exits_130_and_json_still_prints_its_document)
    assert main(["run", path, "--cache-dir", store]) == 1
    out, err = capsys.readouterr()
    assert "KeyboardInterrupt" in "".join((out + err).split()) and "ripple: interrupted" not in err
    assert main(["runs", "--cache-dir", store, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["status"] == "failed"
    assert runs[0]["ran"] == 1 and runs[0]["failed"] == 1


def test_node_prints_go_to_stderr_with_json(capsys, pipeline):
    path = pipeline("print('import noise')\n\ndef a() -> int:\n    for i in range(500):\n"
                    "        print('noise', i)\n    return 1\n")
    assert main(["run", path, "--no-cache", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["outputs"] == {"a": "1"}
    assert "noise 499" in err and "import noise" in err and "Traceback" not in err
    assert main(["plan", path, "--no-cache", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"][0]["name"] == "a"


def test_unpicklable_values_succeed_with_a_warning(capsys, caplog, pipeline, tmp_path):
    path = pipeline("import threading\n\ndef lock() -> object:\n    return threading.Lock()\n\n"
                    "def gen() -> object:\n    return (i for i in range(3))\n\n"
                    "def uses(lock: object) -> str:\n    return type(lock).__name__\n")
    assert main(["run", path, "--cache-dir", str(tmp_path / "s"), "--outputs", "uses,gen"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    # pytest's log capture takes the warning here; on a terminal it reads "ripple: warning: lock (...)"
    shown = err + caplog.text
    assert f"lock ({path}:3) returned a value that cannot be fingerprinted" in shown
    assert f"gen ({path}:6)" in shown and "uses: lock" in out


def test_huge_output_summary_stays_short(capsys, pipeline):
    path = pipeline("def big() -> str:\n    return 'x' * 2_000_000\n\n"
                    "def many() -> list:\n    return list(range(1_000_000))\n\n"
                    "def lines() -> str:\n    return '\\n'.join(str(i) for i in range(50_000))\n")
    assert main(["run", path, "--no-cache", "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert all(len(v) <= 100 for v in doc["outputs"].values()), doc["outputs"]
    assert doc["outputs"]["lines"] == "0 (+49999 lines)" and "Traceback" not in err
    assert main(["run", path, "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 200


def test_summarize_never_raises():
    class BadRepr:
        def __repr__(self):
            raise RuntimeError("no")

        @property
        def shape(self):
            raise RuntimeError("no shape")

    assert "BadRepr" in summarize(BadRepr())
    assert len(summarize(10 ** 5000)) <= 100
    assert summarize({i: "y" * 50 for i in range(10_000)}).endswith("…")


def test_processes_executor_with_unpicklable_value(capsys, pipeline):
    path = pipeline("def fn() -> object:\n    return lambda v: v + 1\n\ndef applied(fn: object) -> int:\n"
                    "    return fn(1)\n")
    assert main(["run", path, "--no-cache", "--executor", "processes", "--json"]) == 1
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert "Traceback" not in err
    assert doc["error"]["node"] == "fn" and "picklable" in doc["error"]["message"]
    assert main(["run", path, "--no-cache", "--executor", "threads", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == {"applied": "2"}


def test_internal_error_is_one_line(capsys, pipeline, monkeypatch):
    from engine.driver import Driver

    def boom(self, *a, **k):
        raise RuntimeError("something inside ripple broke")

    monkeypatch.setattr(Driver, "run", boom)
    err = fails(capsys, ["run", pipeline(OK), "--no-cache", "--input", "x=1"], code=1)
    assert "internal error in ripple run: RuntimeError: something inside ripple broke" in err
    assert "RIPPLE_DEBUG=1" in err


# ----------------------------------------------------------------------------- real subprocesses

SLOW = """
import os, time

def a() -> int:
    return 1

def b(a: int) -> int:
    open(os.environ["RIPPLE_TEST_STARTED"], "w").close()
    time.sleep(2.5)
    return a + 1

def c(b: int) -> int:
    return b
"""


def _ripple(*argv: str, cwd: Path, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *argv], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}, **kw)


@pytest.mark.parametrize("executor", ["sequential", "processes"])
def test_ctrl_c_during_run(tmp_path, executor):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it): exit 130, one line, no
    traceback from Ripple or its worker processes, finished nodes cached, the history says cancelled."""
    (tmp_path / "slowpipe.py").write_text(SLOW)
    started = tmp_path / "started"
    proc = _ripple("run", "slowpipe.py", "--cache-dir", "store", "--executor", executor, cwd=tmp_path,
                   env={"RIPPLE_TEST_STARTED": str(started)}, start_new_session=True, preexec_fn=default_sigint)
    deadline = time.time() + 20
    while not started.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert started.exists(), proc.communicate()
    time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "ripple: interrupted" in err
    runs = subprocess.run([sys.executable, "-m", "engine.cli", "runs", "--cache-dir", "store", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert runs.returncode == 0 and "Traceback" not in runs.stderr
    assert [r["status"] for r in json.loads(runs.stdout)] == ["cancelled"]  # not left "running"
    res = subprocess.run([sys.executable, "-m", "engine.cli", "plan", "slowpipe.py", "--cache-dir", "store",
                          "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and "Traceback" not in res.stderr
    will = {n["name"]: n["will"] for n in json.loads(res.stdout)["nodes"]}
    assert will == {"a": "hit", "b": "run", "c": "run"}  # a finished before the interrupt: kept


def test_json_stdout_stays_valid_with_noisy_worker_processes(tmp_path):
    (tmp_path / "noisy.py").write_text("def a() -> int:\n    for i in range(2000):\n        print('noise', i)\n"
                                       "    return 1\n\ndef b(a: int) -> int:\n    print('more')\n    return a\n")
    proc = _ripple("run", "noisy.py", "--no-cache", "--json", "--executor", "processes", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err
    assert json.loads(out)["outputs"] == {"b": "1"}
    assert "noise 1999" in err


def test_watch_once_reports_errors_on_stderr(tmp_path):
    (tmp_path / "broken.py").write_text("def a() -> int:\n    return 1\n\ndef b(:\n")
    proc = _ripple("watch", "broken.py", "--once", "--no-cache", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert "ripple: error:" in err and "broken.py:4" in err and "syntax error" in err


def test_engine_warnings_read_ripple_warning_on_stderr(tmp_path):
    (tmp_path / "locky.py").write_text("import threading\n\ndef lock() -> object:\n    return threading.Lock()\n\n"
                                       "def name(lock: object) -> str:\n    return type(lock).__name__\n")
    proc = _ripple("run", "locky.py", "--cache-dir", "store", "--json", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err
    assert json.loads(out)["outputs"] == {"name": "lock"}
    assert "ripple: warning: lock (" in err and "locky.py:3) returned a value that cannot be fingerprinted" in err


def test_closed_stdout_pipe_is_not_a_failed_node(tmp_path):
    """``ripple plan ... | head -1``: the reader went away; status 0, nothing on stderr (rich's own
    handling would exit 1, which reads as "a node failed")."""
    chain = ["def n0() -> int:\n    return 0\n"]
    chain += [f"def n{i}(n{i - 1}: int) -> int:\n    return n{i - 1} + 1\n" for i in range(1, 1500)]
    (tmp_path / "chain.py").write_text("\n".join(chain))
    for cmd in (["plan", "chain.py", "--no-cache"], ["graph", "chain.py"]):
        proc = _ripple(*cmd, cwd=tmp_path)
        assert proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 0, err
        assert "Traceback" not in err and "Exception ignored" not in err
