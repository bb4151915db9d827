"""Adversarial staleness / needless-rerun cases, end to end through ``Driver(...).with_cache(path)``.

Each test writes a small pipeline package into ``tmp_path``, runs it, edits one thing the way a
user would, and runs it again in a "fresh process" (package purged from ``sys.modules``). A cached
result must never be stale, and an edit that cannot change any result must re-run nothing.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from engine import Driver

UTIL = '''
import functools

FACTOR = 2


def twice(fn):
    @functools.wraps(fn)
    def wrapper(x: int) -> int:
        return fn(x) * FACTOR
    return wrapper


def scale(k):
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(x: int) -> int:
            return fn(x) * k
        return wrapper
    return deco
'''

NODES = '''
import dataclasses
import functools
import os
import sys
from pathlib import Path

from .util import scale, twice

DATA = Path(__file__).parent / "data"


def _fa(x):
    return x * 2


def _fb(x):
    return x * 3


HANDLERS = {"a": _fa, "b": _fb}


def _make(k):
    def inner(x):
        return x * k
    return inner


_m3 = _make(3)
_m4 = _make(4)


def _add(x, k):
    return x + k


def _spare(x, k):
    return x - k


P1 = functools.partial(_add, k=1)
P2 = functools.partial(_add, k=2)


@dataclasses.dataclass(frozen=True)
class Cfg:
    fn: object
    k: int = 1


def _post(x):
    return x - 1


CFG = Cfg(_post, k=1)


def handled(x: int) -> int:
    return HANDLERS["b"](x)


def closures(x: int) -> int:
    return _m3(x) + _m4(x)


def partials(x: int) -> int:
    return P1(x) + P2(x)


def configured(x: int) -> int:
    return CFG.fn(x) * CFG.k


@twice
def decorated(x: int) -> int:
    return x + 1


@scale(2)
def scaled(x: int) -> int:
    return x + 1


def tree(data: Path = DATA) -> int:
    files = [data / "a.txt", *sorted((data / "linked").glob("*.txt"))]
    return sum(len(p.read_bytes()) for p in files)


def plain(x: int) -> int:
    return x + len(sys.argv) * 0 + len(os.sep) * 0
'''

ALL = ["handled", "closures", "partials", "configured", "decorated", "scaled", "tree", "plain"]


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pkg = f"stale_{uuid.uuid4().hex[:8]}"
        self.dir = root / self.pkg
        self.dir.mkdir()
        (self.dir / "__init__.py").write_text("")
        (self.dir / "util.py").write_text(textwrap.dedent(UTIL))
        (self.dir / "nodes.py").write_text(textwrap.dedent(NODES))
        (self.dir / "data").mkdir()
        (self.dir / "data" / "a.txt").write_text("aaa")
        self.cache = root / "cache"
        self.drivers: list[Driver] = []

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.dir / name
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} not unique in {name}"
        path.write_text(text.replace(old, new, 1))

    def driver(self) -> Driver:
        """A driver over freshly imported code, as a new process would see it."""
        for mod in [m for m in sys.modules if m == self.pkg or m.startswith(self.pkg + ".")]:
            del sys.modules[mod]
        importlib.invalidate_caches()
        module = importlib.import_module(f"{self.pkg}.nodes")
        dr = Driver({}, module).with_cache(self.cache)
        self.drivers.append(dr)
        return dr

    def run(self, outputs: list[str] = ALL) -> dict:
        result = self.driver().run(outputs, inputs={"x": 10})
        assert result.status == "ok", result.error
        return result

    def ran(self, outputs: list[str] = ALL) -> set[str]:
        return {n for n, r in self.run(outputs).records.items() if r.status == "ran"}

    def values(self, outputs: list[str] = ALL) -> dict:
        return self.driver().execute(outputs, inputs={"x": 10})


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    p = Project(tmp_path)
    assert p.ran() == set(ALL)
    assert p.ran() == set(), "a second identical run must be fully cached"
    yield p
    for dr in p.drivers:
        dr.cache.close()


MUST_RERUN = [
    # (label, file, old, new, exactly these re-run)
    ("handler in a dict of functions", "nodes.py", "return x * 3", "return x * 4", {"handled"}),
    ("second closure of one factory", "nodes.py", "_m4 = _make(4)", "_m4 = _make(5)", {"closures"}),
    ("second partial of one function", "nodes.py", "k=2)", "k=5)", {"partials"}),
    ("function held by a dataclass constant", "nodes.py", "return x - 1", "return x - 2", {"configured"}),
    ("body of a decorator in another module", "util.py", "fn(x) * FACTOR", "fn(x) * FACTOR + 1", {"decorated"}),
    ("constant used by a decorator", "util.py", "FACTOR = 2", "FACTOR = 3", {"decorated"}),
    ("decorator factory argument", "nodes.py", "@scale(2)", "@scale(3)", {"scaled"}),
]


@pytest.mark.parametrize("label,file,old,new,expected", MUST_RERUN, ids=[m[0] for m in MUST_RERUN])
def test_edit_reruns_exactly_its_dependents(project: Project, label, file, old, new, expected) -> None:
    before = project.values()
    project.edit(file, old, new)
    assert project.ran() == expected
    after = project.values()  # and the cached values now are the new code's values
    assert {n for n in ALL if before[n] != after[n]} == expected


MUST_NOT_RERUN = [
    ("blank lines above everything", "nodes.py", "import dataclasses\n", "\n\n\nimport dataclasses\n"),
    ("blank lines above the decorator", "util.py", "import functools\n", "import functools\n\n\n"),
    ("reordered imports", "nodes.py", "import os\nimport sys\n", "import sys\nimport os\n"),
    ("type: ignore comment", "nodes.py", "return HANDLERS[\"b\"](x)", "return HANDLERS[\"b\"](x)  # type: ignore[index]"),
    ("new unrelated helper", "nodes.py", "def handled(", "def _unused(y):\n    return y\n\n\ndef handled("),
    ("annotation of an unrelated helper", "nodes.py", "def _spare(x, k):", "def _spare(x: int, k: int) -> int:"),
    ("body of an unrelated helper", "nodes.py", "return x - k", "return k - x"),
]


@pytest.mark.parametrize("label,file,old,new", MUST_NOT_RERUN, ids=[m[0] for m in MUST_NOT_RERUN])
def test_harmless_edit_reruns_nothing(project: Project, label, file, old, new) -> None:
    project.edit(file, old, new)
    assert project.ran() == set()


def test_renamed_body_local_inside_helper_reruns_nothing(project: Project) -> None:
    project.edit("nodes.py", "def _fa(x):\n    return x * 2", "def _fa(x):\n    doubled = x * 2\n    return doubled")
    first = project.ran()
    assert first == {"handled"}  # a new statement: a real code change
    project.edit("nodes.py", "doubled = x * 2\n    return doubled", "twice_x = x * 2\n    return twice_x")
    assert project.ran() == set()


def test_symlinked_data_directory_is_followed(project: Project, tmp_path: Path) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "b.txt").write_text("bb")
    os.symlink(outside, project.dir / "data" / "linked")
    os.symlink(project.dir / "data", project.dir / "data" / "loop")  # must not hang
    assert project.ran() == {"tree"}
    assert project.values(["tree"])["tree"] == 5
    (outside / "b.txt").write_text("bbbb")
    assert project.ran() == {"tree"}
    assert project.values(["tree"])["tree"] == 7


def test_function_default_is_cacheable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = f"stale_{uuid.uuid4().hex[:8]}"
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "nodes.py").write_text("def _h(x):\n    return x + 1\n\n\n"
                                             "def node(x: int, f=_h) -> int:\n    return f(x)\n")
    statuses = []
    for _ in range(2):
        for mod in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
            del sys.modules[mod]
        dr = Driver({}, importlib.import_module(f"{pkg}.nodes")).with_cache(tmp_path / "cache")
        try:
            statuses.append(dr.run(["node"], inputs={"x": 1}).records["node"].status)
        finally:
            dr.cache.close()
    assert statuses == ["ran", "cached"]
