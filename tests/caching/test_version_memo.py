"""Code versions persisted across processes (``engine.caching.version_memo``): reused only when
everything they were made of is unchanged, and never when the answer would differ from computing
the version afresh."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from stores import forget_recorded_runs

from engine.caching import distributions
from engine.caching.code_version import CodeVersioner

HELPERS = '''
import os

SCALE = int(os.environ.get("RIPPLE_TEST_SCALE", "2"))


def twice(x):
    return x * SCALE


def thrice(x):
    return x * 3


PICK = thrice if os.environ.get("RIPPLE_TEST_PICK") == "thrice" else twice
'''

NODES = '''
import json

import xxhash

from . import helpers
from .helpers import PICK


class Box:
    size = 4


def raw() -> int:
    return 1


def scaled(raw: int) -> int:
    return helpers.twice(raw) + Box.size


def picked(raw: int) -> int:
    return PICK(raw)


def dumped(scaled: int) -> str:
    from . import helpers as h
    return json.dumps(h.SCALE + scaled)


def hashed(raw: int) -> str:
    return xxhash.xxh3_64_hexdigest(str(raw))


def _make(k):
    def made(raw: int) -> int:
        return raw + k
    return made


closed = _make(5)
'''


class Project:
    """A package on disk, imported afresh (as a new process would) for each versioner."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pkg = f"vm_{uuid.uuid4().hex[:8]}"
        (root / self.pkg).mkdir()
        (root / self.pkg / "__init__.py").write_text("")
        self.write("helpers.py", HELPERS)
        self.write("nodes.py", NODES)
        self.memo: dict[str, str] = {}
        sys.path.insert(0, str(root))

    def write(self, name: str, text: str) -> None:
        (self.root / self.pkg / name).write_text(textwrap.dedent(text))

    def versions(self) -> tuple[dict[str, str], CodeVersioner]:
        """Digests of every node through the shared memo, checked against a versioner without one."""
        for name in [m for m in sys.modules if m.startswith(self.pkg)]:
            del sys.modules[name]
        importlib.invalidate_caches()
        mod = importlib.import_module(f"{self.pkg}.nodes")
        names = ("raw", "scaled", "picked", "dumped", "hashed", "closed")
        v = CodeVersioner(self.root, self.memo)
        got = {n: v.version(getattr(mod, n)).digest for n in names}
        fresh = CodeVersioner(self.root, {})
        assert got == {n: fresh.version(getattr(mod, n)).digest for n in names}, "a reused version differs from a fresh one"
        v.persisted.flush()
        return got, v


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("RIPPLE_TEST_SCALE", raising=False)
    monkeypatch.delenv("RIPPLE_TEST_PICK", raising=False)
    p = Project(tmp_path)
    yield p
    sys.path.remove(str(tmp_path))


def test_a_second_versioner_reuses_every_version_it_can_check(project: Project) -> None:
    first, v1 = project.versions()
    assert v1.persisted.reused == 0
    second, v2 = project.versions()
    assert second == first
    # every node but the closure: its cell is state of one object, versioned every time
    assert v2.persisted.reused == 5


def test_a_constant_computed_from_the_environment_at_import_is_checked_again(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = project.versions()
    monkeypatch.setenv("RIPPLE_TEST_SCALE", "7")
    second, v = project.versions()
    # no source changed, but SCALE (read by twice, which scaled and picked call, and by dumped) did
    assert all(second[n] != first[n] for n in ("scaled", "picked", "dumped"))
    assert second["raw"] == first["raw"] and v.persisted.reused == 2  # raw and hashed


def test_a_name_bound_to_another_function_at_import_is_checked_again(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = project.versions()
    monkeypatch.setenv("RIPPLE_TEST_PICK", "thrice")
    second, _ = project.versions()
    assert second["picked"] != first["picked"]


def test_a_library_upgrade_is_checked_again(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = project.versions()
    real = distributions.dist_version
    monkeypatch.setattr(distributions, "dist_version",
                        lambda top, memo=None: "xxhash==99" if top == "xxhash" else real(top, memo))
    second, v = project.versions()
    assert second["hashed"] != first["hashed"] and second["raw"] == first["raw"] and v.persisted.reused == 4


def test_an_edit_keeping_size_and_mtime_of_an_old_file_is_seen(project: Project) -> None:
    path = project.root / project.pkg / "helpers.py"
    old = time.time() - 3600
    os.utime(path, (old, old))
    first, _ = project.versions()
    st = path.stat()
    path.write_text(path.read_text().replace("x * 3", "x * 4"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # what a careless tool does
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    second, _ = project.versions()
    assert second["picked"] == first["picked"]  # PICK is twice here: thrice is not reached
    project.write("helpers.py", HELPERS.replace("x * SCALE", "x * SCALE + 0"))
    third, _ = project.versions()
    assert third["scaled"] != first["scaled"] and third["picked"] != first["picked"]


def test_an_edit_to_one_function_keeps_the_versions_of_the_others_in_its_file(project: Project) -> None:
    """A version notes what it took from each file (the defs it reached, at their lines, with their
    digests and references; a module's whole digest when it references the module): an edit
    elsewhere in the file keeps it, and every version equals a fresh one (``versions`` checks)."""
    first, _ = project.versions()
    project.write("nodes.py", NODES.replace("json.dumps(h.SCALE + scaled)", "json.dumps(h.SCALE + scaled + 0)"))
    second, v = project.versions()
    assert second["dumped"] != first["dumped"]
    assert {n: second[n] for n in ("raw", "scaled", "picked", "hashed")} == \
        {n: first[n] for n in ("raw", "scaled", "picked", "hashed")}
    assert v.persisted.reused == 4  # all but the edited one (and the closure, never stored)
    project.write("nodes.py", NODES.replace("    size = 4\n", "    size = 4\n    shape = 1\n")
                  .replace("\n\n\ndef raw", "\n\ndef raw"))  # Box one line longer: nothing moved
    boxed, v = project.versions()
    assert boxed["scaled"] != first["scaled"] and v.persisted.reused == 3  # scaled reached Box; dumped is back
    project.write("nodes.py", NODES.replace("json.dumps(h.SCALE + scaled)", "json.dumps(h.SCALE + scaled + 0)"))
    assert project.versions()[0] == second
    project.write("helpers.py", HELPERS.replace("x * 3", "x * 3 + 0"))  # thrice: PICK is twice
    third, v = project.versions()
    assert third == second
    assert v.persisted.reused == 5  # none took thrice from helpers.py


def test_an_edit_that_changes_what_a_name_refers_to_is_seen_though_no_function_changed(project: Project) -> None:
    """Not the defs' digests alone: their references, which a module-level name or import can
    redirect; and defs that only moved (lines added above them) keep their versions."""
    first, _ = project.versions()
    project.write("nodes.py", NODES.replace("import xxhash\n", "import hashlib as xxhash\n"))
    second, v = project.versions()  # the same digests of every def: only hashed's reference differs
    assert second["hashed"] != first["hashed"] and second["raw"] == first["raw"] and v.persisted.reused == 4
    project.write("nodes.py", NODES + "\n\ndef str(x):\n    return 's'\n")  # hashed's str(...), dumped's -> str
    third, v = project.versions()
    assert third["hashed"] not in (first["hashed"], second["hashed"]) and third["dumped"] != first["dumped"]
    assert v.persisted.reused == 3
    project.write("nodes.py", "\n" + NODES)  # a line above every def, and str is the builtin again
    fourth, v = project.versions()
    assert fourth == first  # raw, scaled and picked moved: each found by its qualname, the file's only one
    assert v.persisted.reused == 3


def test_a_record_of_another_shape_or_a_damaged_one_is_computed_again(project: Project) -> None:
    first, _ = project.versions()
    keys = [k for k in project.memo if k.startswith("cv:")]
    assert keys
    for k in keys:
        blob = json.loads(project.memo[k])
        for rec in blob["r"].values():
            rec[0] = "f" * 32  # a planted digest with a record that no longer fits its files
            rec[2] = [99]
        project.memo[k] = json.dumps(blob)
    second, v = project.versions()
    assert second == first and v.persisted.reused == 0


CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from engine import Driver
import {pkg}.nodes as m
dr = Driver({{}}, m).with_cache(sys.argv[2])
out = dr.execute(["dumped", "picked"])
v = dr.cache.versioner
print(v.persisted.reused, len(v.sources._by_content), out["dumped"], out["picked"])
"""


def test_a_new_process_reuses_the_versions_the_last_one_stored(project: Project, tmp_path: Path) -> None:
    code = CHILD.format(pkg=project.pkg)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIPPLE_TEST_")}

    def run(**extra: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", code, str(project.root), str(tmp_path / "store")],
                             capture_output=True, text=True, env={**env, **extra}, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    first = run()
    assert first[0] == "0" and first[2:] == ["8", "2"]
    forget_recorded_runs(tmp_path / "store")  # else the run is replayed: no version even recalled
    again = run()
    assert int(again[0]) >= 4 and again[1:] == ["0", "8", "2"]  # no file analysed: nothing versioned again
    # the constant read at import and the rebound name: reused versions checked, results right
    assert run(RIPPLE_TEST_SCALE="5", RIPPLE_TEST_PICK="thrice")[2:] == ["14", "3"]


OPAQUE = '''
import functools


def _wrap(fn):
    @functools.wraps(fn)
    def inner(*a, **k):
        return fn(*a, **k)
    return inner


def base(x):
    return x + 1


@_wrap
def decorated(x):
    return x


class Model:
    def predict(self, x):
        return x * 2

    def __call__(self, x):
        return x * 3


def _fa(x):
    return x


HANDLERS = {"a": _fa}


def dispatch(x):
    return HANDLERS["a"](x)


lam = lambda x: x + 2  # noqa: E731
bound = Model().predict
instance = Model()
part = functools.partial(base, 1)
'''


@pytest.mark.parametrize("name", ["decorated", "lam", "bound", "instance", "part", "dispatch"])
def test_state_only_a_walk_can_check_is_versioned_every_time(project: Project, name: str) -> None:
    """Decorator chains, lambdas, bound methods, callable instances, partials and code held in a
    value are never stored: checking them would mean walking them again."""
    project.write("opaque.py", OPAQUE)

    def version() -> tuple[str, int]:
        for m in [m for m in sys.modules if m.startswith(project.pkg)]:
            del sys.modules[m]
        mod = importlib.import_module(f"{project.pkg}.opaque")
        v = CodeVersioner(project.root, project.memo)
        got = v.version(getattr(mod, name)).digest
        v.persisted.flush()
        return got, v.persisted.reused

    first, _ = version()
    again, reused = version()
    assert again == first and reused == 0


def test_a_shared_constant_is_looked_at_once_per_refresh(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """``scaled`` and ``picked`` reach SCALE through ``twice``, ``dumped`` through its own import:
    reusing the three versions fingerprints it once per reference (2, not 3), and after
    ``refresh()`` (the watch's next run) it is looked at again."""
    project.versions()
    for name in [m for m in sys.modules if m.startswith(project.pkg)]:
        del sys.modules[name]
    mod = importlib.import_module(f"{project.pkg}.nodes")
    v = CodeVersioner(project.root, project.memo)
    seen: list[str] = []
    real = v._fresh_token
    monkeypatch.setattr(v, "_fresh_token", lambda val, qual, root: seen.append(qual) or real(val, qual, root))
    before = {n: v.version(getattr(mod, n)).digest for n in ("scaled", "picked", "dumped")}
    assert v.persisted.reused == 3 and seen.count(f"{project.pkg}.helpers.SCALE") == 2
    sys.modules[f"{project.pkg}.helpers"].SCALE = 99
    v.refresh()
    after = {n: v.version(getattr(mod, n)).digest for n in ("scaled", "picked", "dumped")}
    assert all(after[n] != before[n] for n in before)
