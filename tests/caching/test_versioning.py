"""Code-version invalidation matrix: real packages on disk, imported fresh for each variant.

Each case writes the same package name into a fresh directory, imports it, versions the node, and
compares against the baseline. Part names include module names, so both variants must share them.
"""

from __future__ import annotations

import ast
import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.caching import code_version as versioning
from engine.caching import distributions
from engine.caching.code_version import CodeVersion, CodeVersioner, diff_parts

UTIL = '''
OFFSET = 10


def h(x):
    return x + OFFSET


def unrelated(x):
    return x * 1000
'''

NODES = '''
"""Pipeline module."""
import functools

import numpy as np

from . import util
from .util import h

LIMIT = {"a": 1}


def _helper(x, y=2):
    """Helper doc."""
    total = x + y
    return total * LIMIT["a"]


class Model:
    def predict(self, x):
        return x * 2


def deco(**kw):
    def wrap(fn):
        return fn
    return wrap


@deco(owner="me")
def node(a, b=5):
    """Node doc."""
    # a comment
    tmp = a + b
    return h(tmp) + _helper(tmp) + Model().predict(tmp) + float(np.sqrt(4))


def other(a):
    return a - 1


def uses_module_attr(a):
    return util.h(a)


def make(k):
    def inner(x):
        return x * k
    return inner


closure_node = make(3)
'''


def _write_pkg(root: Path, name: str, files: dict[str, str]) -> None:
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for fname, src in files.items():
        (pkg / fname).write_text(textwrap.dedent(src))


def _purge(name: str) -> None:
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


def version_of(root: Path, name: str, files: dict[str, str], attr: str = "node",
               memo: dict[str, str] | None = None) -> CodeVersion:
    """Write the package under ``root``, import it fresh, version ``nodes.<attr>``, clean up."""
    _write_pkg(root, name, files)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        mod = importlib.import_module(f"{name}.nodes")
        return CodeVersioner(memo=memo).version(getattr(mod, attr))
    finally:
        sys.path.remove(str(root))
        _purge(name)


@pytest.fixture
def pkgname() -> str:
    return f"rv_{uuid.uuid4().hex[:10]}"


def _base() -> dict[str, str]:
    return {"util.py": UTIL, "nodes.py": NODES}


def _sub(fname: str, old: str, new: str) -> Callable[[dict[str, str]], dict[str, str]]:
    def edit(files: dict[str, str]) -> dict[str, str]:
        assert old in files[fname], old
        files = dict(files)
        files[fname] = files[fname].replace(old, new, 1)
        return files

    return edit


MUST_CHANGE = {
    "node body": ("node", _sub("nodes.py", "tmp = a + b", "tmp = a - b")),
    "default parameter value": ("node", _sub("nodes.py", "def node(a, b=5):", "def node(a, b=6):")),
    "helper body same module": ("node", _sub("nodes.py", "total * LIMIT", "total / LIMIT")),
    "helper default in same module": ("node", _sub("nodes.py", "def _helper(x, y=2)", "def _helper(x, y=3)")),
    "helper in other module (from-import)": ("node", _sub("util.py", "return x + OFFSET", "return x - OFFSET")),
    "helper in other module (module attr)": (
        "uses_module_attr", _sub("util.py", "return x + OFFSET", "return x - OFFSET")),
    "constant used by helper in other module": ("node", _sub("util.py", "OFFSET = 10", "OFFSET = 11")),
    "module constant": ("node", _sub("nodes.py", 'LIMIT = {"a": 1}', 'LIMIT = {"a": 2}')),
    "method of a project class": ("node", _sub("nodes.py", "return x * 2", "return x * 3")),
    "closure value": ("closure_node", _sub("nodes.py", "make(3)", "make(4)")),
    "closure function body": ("closure_node", _sub("nodes.py", "return x * k", "return x + k")),
}

MUST_NOT_CHANGE = {
    "comment": _sub("nodes.py", "# a comment", "# a different comment, longer"),
    "docstring": _sub("nodes.py", '"""Node doc."""', '"""Completely new documentation."""'),
    "helper docstring": _sub("nodes.py", '"""Helper doc."""', '"""Other words."""'),
    "module docstring": _sub("nodes.py", '"""Pipeline module."""', '"""Renamed module."""'),
    "whitespace and reformatting": _sub("nodes.py", "    tmp = a + b\n", "    tmp = (\n        a +   b\n    )\n\n\n"),
    "quote style": _sub("nodes.py", 'LIMIT = {"a": 1}', "LIMIT = {'a': 1}"),
    "rename local variable": lambda f: _sub("nodes.py", "tmp = a + b", "renamed = a + b")(
        {**f, "nodes.py": f["nodes.py"].replace("(tmp)", "(renamed)")}),
    "move function in file": lambda f: {**f, "nodes.py": f["nodes.py"].replace(
        "def other(a):\n    return a - 1\n", "") + "\n\ndef other(a):\n    return a - 1\n"},
    "blank lines above": _sub("nodes.py", "LIMIT = {", "\n\n\n\nLIMIT = {"),
    "unrelated function same module": _sub("nodes.py", "return a - 1", "return a - 2"),
    "unrelated function other module": _sub("util.py", "return x * 1000", "return x * 2000"),
    "decorator arguments": _sub("nodes.py", '@deco(owner="me")', '@deco(owner="you", extra=1)'),
}


@pytest.mark.parametrize("case", sorted(MUST_CHANGE))
def test_must_change(tmp_path: Path, pkgname: str, case: str) -> None:
    attr, edit = MUST_CHANGE[case]
    base = version_of(tmp_path / "a", pkgname, _base(), attr)
    changed = version_of(tmp_path / "b", pkgname, edit(_base()), attr)
    assert base.digest != changed.digest, case
    assert diff_parts(base.parts, changed.parts), case


@pytest.mark.parametrize("case", sorted(MUST_NOT_CHANGE))
def test_must_not_change(tmp_path: Path, pkgname: str, case: str) -> None:
    edit = MUST_NOT_CHANGE[case]
    base = version_of(tmp_path / "a", pkgname, _base())
    same = version_of(tmp_path / "b", pkgname, edit(_base()))
    assert base.digest == same.digest, (case, diff_parts(base.parts, same.parts))


def test_baseline_is_deterministic_and_names_components(tmp_path: Path, pkgname: str) -> None:
    a = version_of(tmp_path / "a", pkgname, _base())
    b = version_of(tmp_path / "b", pkgname, _base())
    assert a == b
    assert len(a.digest) == 32
    for part in ("nodes.node", "nodes._helper", "nodes.LIMIT", "nodes.Model", "util.h", "util.OFFSET"):
        assert f"{pkgname}.{part}" in a.parts, (part, sorted(a.parts))
    assert a.parts["dist:numpy"].startswith("numpy==")
    assert f"{pkgname}.util.unrelated" not in a.parts
    assert f"{pkgname}.nodes.deco" not in a.parts  # decorators are excluded from the node


def test_extra_changes_digest(tmp_path: Path, pkgname: str) -> None:
    _write_pkg(tmp_path, pkgname, _base())
    sys.path.insert(0, str(tmp_path))
    try:
        mod = importlib.import_module(f"{pkgname}.nodes")
        v = CodeVersioner()
        one, two = v.version(mod.node, extra="owner=me"), v.version(mod.node, extra="owner=you")
        assert one.digest != two.digest and one.parts == two.parts and one.extra == "owner=me"
    finally:
        sys.path.remove(str(tmp_path))
        _purge(pkgname)


def test_installed_package_version_changes(tmp_path: Path, pkgname: str, monkeypatch: pytest.MonkeyPatch) -> None:
    base = version_of(tmp_path / "a", pkgname, _base())
    real = versioning.dist_version
    bumped_numpy = lambda top, memo=None: "numpy==999.0" if top == "numpy" else real(top, memo)  # noqa: E731
    monkeypatch.setattr(distributions, "dist_version", bumped_numpy)
    monkeypatch.setattr(versioning, "dist_version", bumped_numpy)
    bumped = version_of(tmp_path / "b", pkgname, _base())
    assert base.digest != bumped.digest
    assert diff_parts(base.parts, bumped.parts) == ["dist:numpy"]


def test_memo_avoids_reparse_in_new_versioner(tmp_path: Path, pkgname: str, monkeypatch: pytest.MonkeyPatch) -> None:
    memo: dict[str, str] = {}
    first = version_of(tmp_path / "a", pkgname, _base(), memo=memo)
    assert any(k.startswith("ast:") for k in memo)
    calls = []
    real_parse = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: calls.append(1) or real_parse(*a, **k))
    second = version_of(tmp_path / "b", pkgname, _base(), memo=memo)
    assert calls == []
    assert first.digest == second.digest


def test_in_process_cache_reparses_only_changed_content(tmp_path: Path, pkgname: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _write_pkg(tmp_path, pkgname, _base())
    sys.path.insert(0, str(tmp_path))
    try:
        mod = importlib.import_module(f"{pkgname}.nodes")
        v = CodeVersioner()
        a = v.version(mod.node)
        calls = []
        real_parse = ast.parse
        monkeypatch.setattr(ast, "parse", lambda *a, **k: calls.append(1) or real_parse(*a, **k))
        assert v.version(mod.node) == a
        assert v.version(mod.other).digest != a.digest
        assert calls == []
    finally:
        sys.path.remove(str(tmp_path))
        _purge(pkgname)


def test_mutually_recursive_helpers_terminate(tmp_path: Path, pkgname: str) -> None:
    files = {"util.py": UTIL, "nodes.py": '''
def _even(n):
    return True if n == 0 else _odd(n - 1)


def _odd(n):
    return False if n == 0 else _even(n - 1)


def node(n):
    return _even(n)
'''}
    v = version_of(tmp_path, pkgname, files)
    assert {f"{pkgname}.nodes._even", f"{pkgname}.nodes._odd"} <= set(v.parts)


def test_local_import_inside_function_is_followed(tmp_path: Path, pkgname: str) -> None:
    nodes = '''
def node(x):
    from .util import h
    return h(x)
'''
    base = version_of(tmp_path / "a", pkgname, {"util.py": UTIL, "nodes.py": nodes})
    changed = version_of(tmp_path / "b", pkgname, {"util.py": UTIL.replace("x + OFFSET", "x * OFFSET"), "nodes.py": nodes})
    assert f"{pkgname}.util.h" in base.parts
    assert base.digest != changed.digest


def test_wrapped_function_uses_original(tmp_path: Path, pkgname: str) -> None:
    nodes = '''
import functools


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        return fn(*a, **k)
    return wrapper


@logged
def node(x):
    return x + 1
'''
    v = version_of(tmp_path / "a", pkgname, {"util.py": UTIL, "nodes.py": nodes})
    assert f"{pkgname}.nodes.node" in v.parts
    w = version_of(tmp_path / "b", pkgname, {"util.py": UTIL, "nodes.py": nodes.replace("x + 1", "x + 2")})
    assert v.digest != w.digest


def test_shadowing_comprehension_variable_does_not_hide_global(tmp_path: Path, pkgname: str) -> None:
    # ``x`` inside the comprehension is comprehension-local; the ``x`` returned is the module global.
    nodes = '''
x = 1


def node(xs):
    ys = [x for x in xs]
    return ys, x
'''
    a = version_of(tmp_path / "a", pkgname, {"util.py": UTIL, "nodes.py": nodes})
    b = version_of(tmp_path / "b", pkgname, {"util.py": UTIL, "nodes.py": nodes.replace("x = 1", "x = 2")})
    assert a.digest != b.digest


def test_class_attribute_names_are_not_alpha_renamed(tmp_path: Path, pkgname: str) -> None:
    nodes = '''
def node():
    class C:
        x = 1
    return C.x
'''
    a = version_of(tmp_path / "a", pkgname, {"util.py": UTIL, "nodes.py": nodes})
    b = version_of(tmp_path / "b", pkgname, {"util.py": UTIL, "nodes.py": nodes.replace("x = 1", "y = 1")})
    assert a.digest != b.digest


def test_function_without_source_falls_back_to_bytecode() -> None:
    ns: dict = {}
    exec("def f(x):\n    return x + 1\n", ns)
    exec("def g(x):\n    return x + 2\n", ns)
    v = CodeVersioner()
    f, g = v.version(ns["f"]), v.version(ns["g"])
    assert f.digest != g.digest
    assert any(k.endswith("#bytecode") for k in f.parts)
    lam = v.version(eval("lambda y: y * 3"))
    assert lam.digest and any(k.endswith("#bytecode") for k in lam.parts)


def test_source_and_location(tmp_path: Path, pkgname: str) -> None:
    _write_pkg(tmp_path, pkgname, _base())
    sys.path.insert(0, str(tmp_path))
    try:
        mod = importlib.import_module(f"{pkgname}.nodes")
        v = CodeVersioner()
        v.version(mod.node)
        src = v.source_of(f"{pkgname}.nodes.node")
        assert src is not None and src.lstrip().startswith("@deco") and "tmp = a + b" in src
        file, line = v.location_of(f"{pkgname}.util.h")
        assert file.endswith("util.py") and line == 5
        assert v.source_of("no.such.thing") is None
    finally:
        sys.path.remove(str(tmp_path))
        _purge(pkgname)


def test_diff_parts() -> None:
    assert diff_parts({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}) == ["b", "c"]
    assert diff_parts({"a": "1"}, {}) == ["a"]
    assert diff_parts({"a": "1"}, {"a": "1"}) == []


def test_library_attributes_and_path_constants(tmp_path: Path, pkgname: str) -> None:
    nodes = '''
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data.txt"


def node():
    return np.nan, DATA.read_text()
'''
    root = tmp_path / "a"
    root.mkdir()
    (root / "data.txt").write_text("x")  # outside the package: content must not be hashed here
    v = version_of(root, pkgname, {"util.py": UTIL, "nodes.py": nodes})
    assert "dist:numpy" in v.parts and not any(k.startswith("numpy.") for k in v.parts)
    assert f"{pkgname}.nodes.DATA" in v.parts  # the path constant, by name


# ==================================================================================================
# Adversarial matrix: code reached through values, decorators and closures (each case once failed).

_WRAP_UTIL = '''
import functools

FACTOR = 2


def twice(fn):
    @functools.wraps(fn)
    def wrapper(x):
        return fn(x) * FACTOR
    return wrapper


def scale(k):
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(x):
            return fn(x) * k
        return wrapper
    return deco
'''

ADVERSARIAL_CHANGE: dict[str, tuple[str, str, str, str]] = {
    # label: (nodes.py, file edited, old, new) -- util.py is _WRAP_UTIL
    "dict of functions: handler body": ('''
def _fa(x):
    return x * 2


def _fb(x):
    return x * 3


HANDLERS = {"a": _fa, "b": _fb}


def node(x):
    return HANDLERS["a"](x)
''', "nodes.py", "x * 2", "x * 5"),
    "list of functions: handler body": ('''
def _fa(x):
    return x * 2


FNS = [_fa]


def node(x):
    return FNS[0](x)
''', "nodes.py", "x * 2", "x * 5"),
    "set of functions: member body": ('''
def _fa(x):
    return x * 2


def _fb(x):
    return x * 3


FNS = {_fa, _fb}


def node(x):
    return sum(f(x) for f in FNS)
''', "nodes.py", "x * 3", "x * 4"),
    "dict of lambdas: second lambda": ('''
OPS = {"a": lambda x: x + 1, "b": lambda x: x * 2}


def node(x):
    return OPS["b"](x)
''', "nodes.py", "x * 2", "x * 3"),
    "two module lambdas: second body": ('''
A = lambda x: x + 1
B = lambda x: x * 2


def node(x):
    return A(x) + B(x)
''', "nodes.py", "x * 2", "x * 3"),
    "two closures of one factory: second value": ('''
def make(k):
    def inner(x):
        return x * k
    return inner


_a = make(3)
_b = make(4)


def node(x):
    return _a(x) + _b(x)
''', "nodes.py", "make(4)", "make(5)"),
    "closures of closures: inner value": ('''
def make(k):
    def inner(x):
        return x * k
    return inner


def compose(f):
    def outer(x):
        return f(x) + 1
    return outer


A = compose(make(3))
B = compose(make(4))


def node(x):
    return A(x) + B(x)
''', "nodes.py", "make(4)", "make(5)"),
    "two partials of one function: second args": ('''
import functools


def _h(x, k):
    return x + k


P1 = functools.partial(_h, k=1)
P2 = functools.partial(_h, k=2)


def node(x):
    return P1(x) + P2(x)
''', "nodes.py", "k=2", "k=3"),
    "bound method constant: instance state": ('''
class M:
    def __init__(self, k):
        self.k = k

    def f(self, x):
        return x * self.k


F = M(2).f


def node(x):
    return F(x)
''', "nodes.py", "M(2)", "M(3)"),
    "dataclass constant holding a function: function body": ('''
import dataclasses


def _h(x):
    return x + 1


@dataclasses.dataclass
class Cfg:
    fn: object
    k: int = 1


CFG = Cfg(_h)


def node(x):
    return CFG.fn(x) * CFG.k
''', "nodes.py", "x + 1", "x + 2"),
    "object constant holding a function: its data": ('''
def _h(x):
    return x + 1


class M:
    def __init__(self, fn, k):
        self.fn = fn
        self.k = k


INST = M(_h, 2)


def node(x):
    return INST.fn(x) * INST.k
''', "nodes.py", "M(_h, 2)", "M(_h, 3)"),
    "class held in a list: method body": ('''
class A:
    def f(self):
        return 1


MODELS = [A]


def node(x):
    return MODELS[0]().f()
''', "nodes.py", "return 1", "return 2"),
    "library callable in a dict": ('''
import numpy as np

OPS = {"s": np.sqrt}


def node(x):
    return OPS["s"](x)
''', "nodes.py", "np.sqrt", "np.cos"),
    "local decorator body (functools.wraps)": ('''
import functools


def twice(fn):
    @functools.wraps(fn)
    def wrapper(x):
        return fn(x) * 2
    return wrapper


@twice
def node(x):
    return x + 1
''', "nodes.py", "* 2", "* 3"),
    "decorator from another module: its body": ('''
from .util import twice


@twice
def node(x):
    return x + 1
''', "util.py", "fn(x) * FACTOR", "fn(x) * FACTOR + 1"),
    "decorator from another module: a constant it uses": ('''
from .util import twice

FACTOR = 5


@twice
def node(x):
    return x + FACTOR
''', "util.py", "FACTOR = 2", "FACTOR = 3"),
    "decorator factory argument": ('''
from .util import scale


@scale(2)
def node(x):
    return x + 1
''', "nodes.py", "@scale(2)", "@scale(3)"),
    "helper wrapped by a local decorator": ('''
from .util import twice


@twice
def _h(x):
    return x + 1


def node(x):
    return _h(x)
''', "util.py", "fn(x) * FACTOR", "fn(x) - FACTOR"),
    "lru_cache helper body": ('''
import functools


@functools.lru_cache
def _h(x):
    return x + 1


def node(x):
    return _h(x)
''', "nodes.py", "x + 1", "x + 2"),
    "callable instances in a list: second state": ('''
class Scaler:
    def __init__(self, k):
        self.k = k

    def __call__(self, x):
        return x * self.k


FNS = [Scaler(2), Scaler(5)]


def node(x):
    return FNS[1](x)
''', "nodes.py", "Scaler(5)", "Scaler(6)"),
    "recursive local closure: value": ('''
def make(k):
    def rec(n):
        return 0 if n == 0 else k + rec(n - 1)
    return rec


R = make(2)


def node(x):
    return R(x)
''', "nodes.py", "make(2)", "make(3)"),
    "base class in another module: method body": ('''
from .base import Base


class Child(Base):
    def g(self, x):
        return self.f(x) * 2


def node(x):
    return Child().g(x)
''', "base.py", "x + 1", "x + 5"),
}

ADVERSARIAL_SAME: dict[str, tuple[str, str, str, str]] = {
    "match capture renamed": ('''
def node(x):
    match x:
        case [a]:
            return a
        case _:
            return 0
''', "nodes.py", "case [a]:\n            return a", "case [b]:\n            return b"),
    "blank lines above a lambda constant": ('''
SQ = lambda x: x * x


def node(x):
    return SQ(x)
''', "nodes.py", "SQ =", "\n\n\nSQ ="),
    "blank lines above a closure factory": ('''
def make(k):
    def inner(x):
        return x * k
    return inner


_a = make(3)


def node(x):
    return _a(x)
''', "nodes.py", "def make", "\n\n\ndef make"),
    "blank lines above a decorated node": ('''
from .util import twice


@twice
def node(x):
    return x + 1
''', "util.py", "import functools\n", "import functools\n\n\n\n"),
    "unrelated edit beside a dict of functions": ('''
def _fa(x):
    return x * 2


HANDLERS = {"a": _fa}


def _unused(x):
    return x


def node(x):
    return HANDLERS["a"](x)
''', "nodes.py", "return x\n", "return x + 1\n"),
    "reordered imports": ('''
import os
import sys


def node(x):
    return x + len(sys.argv) + len(os.sep)
''', "nodes.py", "import os\nimport sys", "import sys\nimport os"),
    "type: ignore comment": ('''
def node(x):
    return x + 1
''', "nodes.py", "return x + 1", "return x + 1  # type: ignore[operator]"),
}

_BASE_PY = '''
class Base:
    def f(self, x):
        return x + 1
'''


def _adv_files(nodes: str) -> dict[str, str]:
    return {"util.py": _WRAP_UTIL, "base.py": _BASE_PY, "nodes.py": nodes}


@pytest.mark.parametrize("case", sorted(ADVERSARIAL_CHANGE))
def test_adversarial_must_change(tmp_path: Path, pkgname: str, case: str) -> None:
    nodes, fname, old, new = ADVERSARIAL_CHANGE[case]
    files = _adv_files(nodes)
    base = version_of(tmp_path / "a", pkgname, files)
    again = version_of(tmp_path / "b", pkgname, files)
    assert base.digest == again.digest, (case, diff_parts(base.parts, again.parts))
    changed = version_of(tmp_path / "c", pkgname, _sub(fname, old, new)(files))
    assert base.digest != changed.digest, (case, sorted(base.parts))
    assert diff_parts(base.parts, changed.parts), case


@pytest.mark.parametrize("case", sorted(ADVERSARIAL_SAME))
def test_adversarial_must_not_change(tmp_path: Path, pkgname: str, case: str) -> None:
    nodes, fname, old, new = ADVERSARIAL_SAME[case]
    files = _adv_files(nodes)
    base = version_of(tmp_path / "a", pkgname, files)
    same = version_of(tmp_path / "b", pkgname, _sub(fname, old, new)(files))
    assert base.digest == same.digest, (case, diff_parts(base.parts, same.parts))


def test_content_addressed_parts_still_have_source(tmp_path: Path, pkgname: str) -> None:
    nodes = ADVERSARIAL_CHANGE["two closures of one factory: second value"][0]
    _write_pkg(tmp_path, pkgname, _adv_files(nodes))
    sys.path.insert(0, str(tmp_path))
    try:
        mod = importlib.import_module(f"{pkgname}.nodes")
        v = CodeVersioner()
        parts = v.version(mod.node).parts
        inner = [k for k in parts if k.startswith(f"{pkgname}.nodes.make.<locals>.inner#")]
        assert len(inner) == 2, sorted(parts)  # one per closure: make(3) and make(4)
        assert all("return x * k" in (v.source_of(k) or "") for k in inner)
    finally:
        sys.path.remove(str(tmp_path))
        _purge(pkgname)
