"""The versioned cache end to end: the invalidation matrix, behaviors, early cutoff, resume,
damaged entries, lazy loading, inspection. Real SQLite store, real files, fresh imports."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from engine import Driver

BASE = {
    "util.py": '''
        SCALE = 10

        def _double(x):
            return x * 2

        class Shaper:
            def __init__(self, k):
                self.k = k

            def shape(self, x):
                return x + self.k
        ''',
    "nodes.py": '''
        from pathlib import Path

        from engine import parameterize, value, cache
        from . import util
        from .util import _double, Shaper

        OFFSET = 1
        DATA = Path(__file__).parent / "data.txt"
        HIDDEN = str(Path(__file__).parent / "hidden.txt")

        def _make_adder(n):
            def add(x):
                return x + n
            return add

        _add3 = _make_adder(3)

        def raw(data_file: Path = DATA) -> int:
            return int(data_file.read_text())

        def hidden() -> int:
            with open(HIDDEN) as f:
                return int(f.read())

        def base(raw: int) -> int:
            """Docstring."""
            result = raw + OFFSET
            return result

        def doubled(base: int) -> int:
            return _double(base)

        def scaled(base: int) -> int:
            return base * util.SCALE

        def shaped(base: int) -> int:
            return Shaper(2).shape(base)

        def closed(base: int) -> int:
            return _add3(base)

        def defaulted(base: int, k: int = 5) -> int:
            return base + k

        @parameterize(param_a={"m": value(7)})
        def param_base(base: int, m: int) -> int:
            return base * m

        def parity(base: int) -> int:
            return base % 2

        def after_parity(parity: int) -> int:
            return parity + 100

        def with_hidden(hidden: int, base: int) -> int:
            return hidden + base

        def unrelated(raw: int) -> int:
            return -raw

        def from_input(x: int, base: int) -> int:
            return x + base
        ''',
}

ALL = ["doubled", "scaled", "shaped", "closed", "defaulted", "param_a", "after_parity", "with_hidden",
       "unrelated", "from_input"]


class Project:
    """A pipeline package on disk, imported fresh for every run like a new process would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pkg = f"proj_{uuid.uuid4().hex[:8]}"
        self.dir = root / self.pkg
        self.dir.mkdir()
        (self.dir / "__init__.py").write_text("")
        for name, text in BASE.items():
            self.write(name, text)
        (self.dir / "data.txt").write_text("4")
        (self.dir / "hidden.txt").write_text("40")
        self.cache = root / "cache"
        self.drivers: list[Driver] = []

    def write(self, name: str, text: str) -> None:
        (self.dir / name).write_text(textwrap.dedent(text))

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.dir / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new, 1))

    def driver(self, **cache_kwargs) -> Driver:
        for mod in [m for m in sys.modules if m == self.pkg or m.startswith(self.pkg + ".")]:
            del sys.modules[mod]
        importlib.invalidate_caches()
        module = importlib.import_module(self.pkg)
        return Driver({}, module).with_cache(self.cache, **cache_kwargs)

    def run(self, outputs=ALL, inputs=None, **cache_kwargs):
        dr = self.driver(**cache_kwargs)
        result = dr.run(outputs, inputs={"x": 1} if inputs is None else inputs)
        self.drivers.append(dr)
        return dr, result

    def ran(self, outputs=ALL, inputs=None, **cache_kwargs) -> set[str]:
        _, result = self.run(outputs, inputs, **cache_kwargs)
        assert result.status == "ok", result.error
        return {n for n, r in result.records.items() if r.status == "ran"}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    p = Project(tmp_path)
    everything = p.ran()
    assert "doubled" in everything and "raw" in everything
    assert p.ran() == set(), "a second identical run must be fully cached"
    yield p
    for dr in p.drivers:
        dr.cache.close()


BASE_DOWN = {"base", "doubled", "scaled", "shaped", "closed", "defaulted", "param_a", "parity", "with_hidden",
             "from_input"}

MUST_RERUN = [
    ("node body", "nodes.py", "return _double(base)", "return _double(base) + 0", {"doubled"}),
    ("helper in same module", "nodes.py", "return add(x)\n    return add", "return add(x)\n    return add", None),
    ("helper in other module", "util.py", "return x * 2", "return x * 3", {"doubled"}),
    ("module constant", "nodes.py", "OFFSET = 1", "OFFSET = 2", BASE_DOWN | {"after_parity"} - {"after_parity"}),
    ("constant in other module", "util.py", "SCALE = 10", "SCALE = 11", {"scaled"}),
    ("decorator argument", "nodes.py", 'value(7)', 'value(8)', {"param_a"}),
    ("default parameter value", "nodes.py", "k: int = 5", "k: int = 6", {"defaulted"}),
    ("method of project class", "util.py", "return x + self.k", "return x + self.k + 1", {"shaped"}),
    ("closure value", "nodes.py", "_add3 = _make_adder(3)", "_add3 = _make_adder(4)", {"closed"}),
]


@pytest.mark.parametrize("label,file,old,new,expected", [m for m in MUST_RERUN if m[4] is not None],
                         ids=[m[0] for m in MUST_RERUN if m[4] is not None])
def test_edit_reruns_exactly_its_dependents(project, label, file, old, new, expected):
    project.edit(file, old, new)
    ran = project.ran()
    if label == "module constant":
        # base changes value (5 -> 6): parity flips too, so after_parity re-runs as well
        expected = BASE_DOWN | {"after_parity"}
    assert ran == expected


def test_helper_in_same_module_reruns(project):
    project.edit("nodes.py", "def add(x):\n        return x + n", "def add(x):\n        return x + n + 0")
    assert project.ran() == {"closed"}


def test_data_file_given_as_path_reruns_its_readers(project):
    (project.dir / "data.txt").write_text("6")
    assert project.ran() == {"raw"} | BASE_DOWN | {"unrelated"}


def test_file_read_without_declaring_it_reruns(project):
    (project.dir / "hidden.txt").write_text("41")
    dr, result = project.run()
    ran = {n for n, r in result.records.items() if r.status == "ran"}
    assert ran == {"hidden", "with_hidden"}
    assert "hidden.txt" in result.records["hidden"].why
    assert "hidden.txt" in dr.cache.explain("hidden")


def test_input_value_reruns_its_consumers(project):
    assert project.ran(inputs={"x": 2}) == {"from_input"}


def test_upstream_output_change_reruns_downstream(project):
    (project.dir / "data.txt").write_text("5")
    ran = project.ran()
    assert {"base", "parity", "after_parity"} <= ran


MUST_NOT_RERUN = [
    ("comment", "nodes.py", "result = raw + OFFSET", "result = raw + OFFSET  # a comment"),
    ("docstring", "nodes.py", '"""Docstring."""', '"""A different docstring."""'),
    ("reformatting", "nodes.py", "result = raw + OFFSET", "result = (raw\n                  +   OFFSET)"),
    ("quote style", "nodes.py", 'value(7)})', "value(7)}) "),
    ("renamed local", "nodes.py", "result = raw + OFFSET\n    return result", "total = raw + OFFSET\n    return total"),
    ("unrelated function", "nodes.py", "return -raw", "return -raw * 1"),
]


@pytest.mark.parametrize("label,file,old,new", MUST_NOT_RERUN, ids=[m[0] for m in MUST_NOT_RERUN])
def test_harmless_edit_reruns_nothing_it_should_not(project, label, file, old, new):
    project.edit(file, old, new)
    expected = {"unrelated"} if label == "unrelated function" else set()
    assert project.ran() == expected


def test_moving_a_function_reruns_nothing(project):
    text = (project.dir / "nodes.py").read_text()
    block = "def unrelated(raw: int) -> int:\n    return -raw\n"
    assert block in text
    text = text.replace(block, "")
    text = text.replace("def base(", block + "\n\ndef base(")
    (project.dir / "nodes.py").write_text(text)
    assert project.ran() == set()


def test_early_cutoff(project):
    # base: 5 -> 7 keeps parity at 1, so after_parity hits although parity re-ran
    (project.dir / "data.txt").write_text("6")
    ran = project.ran()
    assert "parity" in ran and "after_parity" not in ran


def test_behaviors(project):
    assert project.ran(behaviors={"doubled": "recompute"}) == {"doubled"}
    # disable: runs, stores nothing, dependents always miss
    ran = project.ran(behaviors={"base": "disable"})
    assert {"base", "doubled", "parity"} <= ran
    # ignore: runs, and dependents' keys leave it out, so they hit
    assert project.ran(behaviors={"raw": "ignore"}) >= {"raw"}
    assert project.ran(behaviors={"raw": "ignore"}) == {"raw"}


def test_decorator_behavior_and_precedence(project):
    project.edit("nodes.py", "def unrelated(", '@cache(behavior="recompute")\ndef unrelated(')
    assert "unrelated" in project.ran()
    assert project.ran() == {"unrelated"}
    assert project.ran(behaviors={"unrelated": "default"}) == set()


def test_sensitive_node_never_touches_disk(project):
    before = len(project.run()[0].cache.store.ls("unrelated"))
    project.edit("nodes.py", "def unrelated(", "from engine import tag\n\n@tag(sensitive=True)\ndef unrelated(")
    project.edit("nodes.py", "return -raw", "return -raw - 987654321")
    project.run()
    dr2, result = project.run()
    assert result.records["unrelated"].status == "ran"
    assert len(dr2.cache.store.ls("unrelated")) == before
    blob = b"".join(p.read_bytes() for p in project.cache.rglob("*") if p.is_file())
    assert b"987654325" not in blob and (-987654325).to_bytes(8, "little", signed=True) not in blob


def test_explain_names_the_changed_helper_with_diff(project):
    project.edit("util.py", "return x * 2", "return x * 3")
    dr, result = project.run()
    text = dr.cache.explain("doubled")
    assert "code changed" in text and "_double" in text
    assert "-    return x * 2" in text and "+    return x * 3" in text
    assert "unchanged" in dr.cache.explain("scaled") or "hit" in dr.cache.explain("scaled")


def test_plan_predicts_without_running(project):
    project.edit("util.py", "SCALE = 10", "SCALE = 12")
    dr = project.driver()
    rows = {n: (w, why) for n, w, why in dr.plan(ALL, inputs={"x": 1})}
    assert rows["scaled"][0] == "run" and "code changed" in rows["scaled"][1]
    assert rows["doubled"][0] == "hit"
    assert dr.cache.store.stats().runs == 2  # planning recorded no run
    dr.cache.close()


def test_stats(project):
    dr, _ = project.run()
    s = dr.cache.stats()
    assert s.hits == len(ALL) + 0 or s.hits > 0
    assert s.misses == 0 and s.hit_rate == 1.0 and s.entries > 0


def test_fully_cached_run_loads_only_outputs(project, monkeypatch):
    from engine.store import Store

    loaded = []
    real = Store.load
    monkeypatch.setattr(Store, "load", lambda self, e: loaded.append(e.node) or real(self, e))
    project.ran(outputs=["after_parity"])
    assert loaded == ["after_parity"]


def test_damaged_entry_is_a_miss_not_an_error(project):
    objects = [p for p in (project.cache / "objects").rglob("*") if p.is_file()] if (project.cache / "objects").exists() else []
    import sqlite3

    con = sqlite3.connect(project.cache / "meta.sqlite")
    con.execute("UPDATE entries SET inline = X'00' WHERE node = 'doubled'")
    con.commit()
    con.close()
    for p in objects:
        p.write_bytes(b"garbage")
    _, result = project.run()
    assert result.status == "ok"
    assert result.outputs["doubled"] == 10


def test_unfingerprintable_value_warns_once_and_is_not_cached(project, caplog):
    project.edit("nodes.py", "def unrelated(raw: int) -> int:\n    return -raw",
                 "def unrelated(raw: int):\n    return lambda: raw")
    with caplog.at_level(logging.WARNING, logger="engine"):
        project.ran(outputs=["unrelated"])
        assert project.ran(outputs=["unrelated"]) == {"unrelated"}
    assert any("cannot be fingerprinted" in r.message for r in caplog.records)


RESUME_PIPELINE = '''
import os, time
from pathlib import Path

MARK = Path(__file__).parent

def slow() -> int:
    (MARK / "slow.count").open("a").write("x")
    return 21

def doubled(slow: int) -> int:
    return slow * 2

def fragile(doubled: int) -> int:
    if (MARK / "BROKEN").exists():
        os.kill(os.getpid(), 9)
    return doubled + 1

def final(fragile: int) -> int:
    return fragile
'''


def test_resume_after_a_real_kill(tmp_path):
    pkg = tmp_path / "resume_pipe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "steps.py").write_text(RESUME_PIPELINE)
    (pkg / "BROKEN").write_text("")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "engine.cli", "run", "resume_pipe", "--json", "--cache-dir", str(tmp_path / "c")]
    first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == -signal.SIGKILL
    (pkg / "BROKEN").unlink()
    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    import json

    doc = json.loads(second.stdout)
    status = {n["name"]: n["status"] for n in doc["nodes"]}
    assert status == {"slow": "cached", "doubled": "cached", "fragile": "ran", "final": "ran"}
    assert (pkg / "slow.count").read_text() == "x"


def test_several_processes_share_one_store(tmp_path):
    pkg = tmp_path / "shared_pipe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text("def a(n: int) -> int:\n    return n * 2\n\ndef b(a: int) -> int:\n    return a + 1\n")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "engine.cli", "run", "shared_pipe", "--input", f"n={i % 3}",
                               "--json", "--cache-dir", str(tmp_path / "c")], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(6)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    started = time.time()
    final = subprocess.run([sys.executable, "-m", "engine.cli", "run", "shared_pipe", "--input", "n=1", "--json",
                            "--cache-dir", str(tmp_path / "c")], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60)
    assert '"status": "cached"' in final.stdout and time.time() - started < 60


FANOUT = '''
from pathlib import Path
from engine import Parallelizable, Collect

CALLS = Path(__file__).parent / "calls.txt"

def items(values: list) -> Parallelizable[int]:
    yield from values

def work(items: int) -> int:
    with open(CALLS, "a") as f:
        f.write(f"{items}\\n")
    return items * 10

def gathered(work: Collect[int]) -> int:
    return sum(work)
'''


def test_fan_out_items_are_cached_one_by_one(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"fan_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(FANOUT)
    calls = tmp_path / "calls.txt"

    def run(values):
        sys.modules.pop(name, None)
        dr = Driver({}, importlib.import_module(name)).with_cache(tmp_path / "c")
        result = dr.run(["gathered"], inputs={"values": values})
        dr.cache.close()
        return result

    assert run([1, 2, 3]).outputs["gathered"] == 60
    assert calls.read_text().split() == ["1", "2", "3"]
    second = run([1, 2, 3])
    assert {r.status for r in second.records.values()} == {"cached"}
    third = run([1, 2, 4])
    assert third.outputs["gathered"] == 70
    assert calls.read_text().split() == ["1", "2", "3", "4"]
    assert third.records["work"].why == "1 of 3 items ran"


PRODUCER = '''
from pathlib import Path

OUT = Path(__file__).parent / "out.txt"

def written(n: int) -> Path:
    OUT.write_text(str(n * 2))
    return OUT

def read_back(written: Path) -> int:
    return int(written.read_text())
'''


def test_a_path_returned_by_a_cached_node_is_rechecked(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"prod_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(PRODUCER)

    def run():
        sys.modules.pop(name, None)
        dr = Driver({}, importlib.import_module(name)).with_cache(tmp_path / "c")
        result = dr.run(["read_back"], inputs={"n": 21})
        dr.cache.close()
        return result

    assert run().outputs["read_back"] == 42
    assert {r.status for r in run().records.values()} == {"cached"}
    (tmp_path / "out.txt").write_text("7")  # someone edits the produced file
    again = run()
    assert again.records["written"].status == "ran" and "out.txt" in again.records["written"].why
    assert again.outputs["read_back"] == 42


READER = '''
from pathlib import Path

SRC = str(Path(__file__).parent / "source.txt")

def loaded() -> int:
    with open(SRC) as f:
        return int(f.read())

def doubled(loaded: int) -> int:
    return loaded * 2
'''


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_undeclared_reads_are_tracked_on_pool_executors(tmp_path, monkeypatch, executor):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"reader_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(READER)
    (tmp_path / "source.txt").write_text("5")

    def run():
        sys.modules.pop(name, None)
        dr = Driver({}, importlib.import_module(name), executor=executor).with_cache(tmp_path / "c")
        result = dr.run(["doubled"])
        dr.cache.close()
        return result

    assert run().outputs["doubled"] == 10
    assert run().records["loaded"].status == "cached"
    (tmp_path / "source.txt").write_text("6")
    third = run()
    assert third.outputs["doubled"] == 12 and "source.txt" in third.records["loaded"].why


def test_plan_events_only_when_wanted(project):
    dr = project.driver()
    seen: list[str] = []
    dr.add_listener(lambda e: seen.append(e.kind))
    dr.run(["doubled"], inputs={"x": 1})
    assert "node_planned" in seen
    seen.clear()
    dr.plan_events = False
    dr.run(["doubled"], inputs={"x": 1})
    assert "node_planned" not in seen and "node_cached" in seen
    dr.cache.close()
