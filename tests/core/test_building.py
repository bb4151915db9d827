"""The lean graph build (issue 12): ``building.plain_node`` must give exactly the node the general
``nodes_from_function`` gives, or decline; the rank-based topological order must be the one the
(file, line, name) heap gave; and a module without Hamilton must not load the Hamilton front-end."""

from __future__ import annotations

import dataclasses
import gc
import heapq
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine import GraphError
from engine.core import building
from engine.core.building import build_graph, plain_node
from engine.core.graph import EMPTY, Graph, Node, _Awaited, _Item, _Partial, nodes_from_function

REPO = Path(__file__).resolve().parents[2]

FUNCTIONS = '''
import collections.abc
import functools
import pathlib
from typing import Any, Generic, Optional, Protocol

from engine import Collect, Parallelizable, config, tag


class Frame:
    pass


class bytes:  # noqa: N801 - shadows the builtin: the module's own wins, as in eval
    pass


def no_params():
    return 1


def classes(a: int, b: str, c: Frame) -> float:
    """First line.

        Indented more.
    """
    return 1.0


def defaults(a: int, b: int = 2, c: str = "x") -> int:
    return a


def keyword_only(a: int, *, k: int = 3, j: str) -> int:
    return a


def keyword_only_required(a: int, *, j: str) -> int:
    return a


def unannotated(a, b=1, *, c):
    return a


async def awaited(a: int) -> int:
    return a


def dotted(a: pathlib.PurePath, b: collections.abc.Sequence) -> pathlib.Path:
    return a


def shadowed(a: bytes) -> list:
    return []


def anything(a: Any) -> Any:
    return a


def partly(a: int, b) -> Frame:
    return Frame()


def optional(a: Optional[int] = None) -> int | None:
    return a


def returns_none(a: int) -> None:
    return None


def generic_alias(a: list[int]) -> dict[str, int]:
    return {}


def unresolvable(a: "Missing") -> int:  # noqa: F821
    return 1


def expression(a: "int | None") -> "list[int]":
    return []


def keyword_string(a: "None") -> int:
    return 1


def missing_attribute(a: "pathlib.NoSuchThing") -> int:
    return 1


def fans_out() -> Parallelizable[int]:
    yield 1


def fans_out_bare() -> Parallelizable:
    yield 1


def collects(x: Collect[int]) -> int:
    return 1


def generic(a: Generic) -> int:
    return 1


def protocol(a: Protocol) -> int:
    return 1


@tag(owner="me")
def tagged(a: int) -> int:
    return a


@config.when(mode="a")
def chosen__a(a: int) -> int:
    return a


def _inner(a: int) -> int:
    return a


@functools.wraps(_inner)
def wrapped(a: int) -> int:
    return _inner(a)


def with_attribute(a: int) -> int:
    return a


with_attribute.note = 1
'''

PLAIN = ["no_params", "classes", "defaults", "keyword_only", "keyword_only_required", "unannotated", "awaited",
         "dotted", "shadowed", "anything", "partly"]
DECLINED = ["optional", "returns_none", "generic_alias", "unresolvable", "expression", "keyword_string",
            "missing_attribute", "fans_out", "fans_out_bare", "collects", "generic", "protocol", "tagged",
            "chosen__a", "wrapped", "with_attribute"]


def _callable(fn: Any) -> Any:
    """Ripple's picklable wrappers compare by what they wrap, not by identity."""
    if isinstance(fn, _Awaited | _Partial | _Item):
        return (type(fn).__name__, *(_callable(getattr(fn, s)) for s in type(fn).__slots__))
    return fn


def _fields(node: Node) -> dict[str, Any]:
    out = {f.name: getattr(node, f.name) for f in dataclasses.fields(Node)}
    out["fn"] = _callable(out["fn"])
    return out


def _same_node(fast: Node, general: Node) -> None:
    a, b = _fields(fast), _fields(general)
    assert a == b
    # equal is not enough for annotations: the very same objects, as get_type_hints resolves them
    assert a["type"] is b["type"]
    assert all(a["param_types"][p] is b["param_types"][p] for p in b["param_types"])
    assert list(a["deps"]) == list(b["deps"]) and list(a["param_types"]) == list(b["param_types"])


@pytest.fixture(params=["eager", "future"], ids=["annotations", "future-annotations"])
def functions(request, make_module):
    head = "from __future__ import annotations\n" if request.param == "future" else ""
    return make_module(head + FUNCTIONS)


@pytest.mark.parametrize("name", PLAIN)
def test_plain_functions_take_the_fast_path_and_match_the_general_one(functions, name):
    fn = getattr(functions, name)
    fast = plain_node(fn)
    assert fast is not None, f"{name} should be plain"
    (general,) = nodes_from_function(fn, {})
    _same_node(fast, general)


@pytest.mark.parametrize("name", DECLINED)
def test_everything_else_is_left_to_the_general_path(functions, name):
    assert plain_node(getattr(functions, name)) is None


def test_string_annotations_resolve_to_the_same_objects(functions):
    node = plain_node(functions.shadowed)
    assert node.param_types["a"] is functions.bytes and node.type is list
    node = plain_node(functions.dotted)
    assert node.param_types["b"] is __import__("collections.abc").abc.Sequence


@pytest.mark.parametrize("source", ["def star(*rows: int) -> int:\n    return 1\n",
                                    "def kw(**rows: int) -> int:\n    return 1\n",
                                    "def pos(a: int, /) -> int:\n    return a\n"])
def test_parameters_nodes_cannot_take_are_declined_and_the_general_path_still_says_why(make_module, source):
    mod = make_module(source)
    (fn,) = [v for k, v in vars(mod).items() if callable(v) and not k.startswith("_")]
    assert plain_node(fn) is None
    with pytest.raises(GraphError, match=r"\*args/\*\*kwargs|positional-only"):
        build_graph([mod])


PIPELINE = '''
from engine import config, extract_fields, parameterize, source, tag, value


class Rows(list):
    pass


def raw(path: str, limit: int = 10) -> Rows:
    return Rows(range(limit))


def flag(raw: Rows) -> bool:
    return bool(raw)


def count(raw: list, flag: int, *, scale: int = 1) -> int:
    return len(raw) * scale


@tag(owner="team")
def doubled(count: int) -> int:
    return 2 * count


@parameterize(plus_one={"x": source("count"), "k": value(1)}, plus_two={"x": source("doubled"), "k": value(2)})
def plus(x: int, k: int) -> int:
    return x + k


@extract_fields({"low": int, "high": int})
def bounds(count: int) -> dict:
    return {"low": 0, "high": count}


@config.when(mode="fast")
def summary__fast(low: int, high: int) -> str:
    return f"{low}-{high}"


@config.when(mode="slow")
def summary__slow(low: int, high: int, path: str) -> str:
    return path


async def later(summary: str, limit: int = 10) -> str:
    return summary
'''


@pytest.mark.parametrize("future", [False, True])
@pytest.mark.parametrize("cfg", [{"mode": "fast"}, {"mode": "slow"}, {}])
def test_a_whole_graph_is_the_same_with_and_without_the_fast_path(make_module, monkeypatch, future, cfg):
    mod = make_module(("from __future__ import annotations\n" if future else "") + PIPELINE)
    fast = build_graph([mod], cfg)
    monkeypatch.setattr(building, "plain_node", lambda fn, named=None: None)
    general = build_graph([mod], cfg)
    assert list(fast.nodes) == list(general.nodes)
    for name in general.nodes:
        _same_node(fast.nodes[name], general.nodes[name])
    assert fast.order == general.order
    assert fast.pred == general.pred and fast.succ == general.succ
    assert {k: dataclasses.astuple(v) for k, v in fast.externals.items()} == \
        {k: dataclasses.astuple(v) for k, v in general.externals.items()}
    assert fast.hidden == general.hidden


def _heap_order(graph: Graph) -> list[str]:
    """The order as it was computed before ranks: a heap of (file, line, name) tuples."""
    nodes = graph.nodes
    remaining = {n: len(p) for n, p in graph.pred.items()}
    heap = [(nodes[n].file, nodes[n].line, n) for n, c in remaining.items() if c == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        *_, n = heapq.heappop(heap)
        order.append(n)
        for s in graph.succ[n]:
            remaining[s] -= 1
            if remaining[s] == 0:
                heapq.heappush(heap, (nodes[s].file, nodes[s].line, s))
    return order


def _node(name: str, deps: list[str], file: str, line: int) -> Node:
    return Node(name=name, fn=len, deps={d: d for d in deps}, optional=frozenset(), type=EMPTY,
                param_types={d: EMPTY for d in deps}, origin=len, module="m", file=file, line=line)


@pytest.mark.parametrize("seed", range(5))
def test_topological_order_breaks_ties_by_file_line_and_name_as_before(seed):
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(300)]
    nodes = {}
    for i, name in enumerate(names):
        deps = rng.sample(names[:i], min(i, rng.randint(0, 3)))
        # two files, lines that disagree with the dependency order, and shared lines (ties on the name)
        nodes[name] = _node(name, deps, rng.choice(["/p/a.py", "/p/b.py"]), rng.randint(1, 60))
    graph = Graph(dict(rng.sample(list(nodes.items()), len(nodes))), {})
    assert graph.order == _heap_order(graph)


def test_type_mismatch_still_names_the_first_bad_edge():
    nodes = {"a": dataclasses.replace(_node("a", [], "/p/a.py", 1), type=int),
             "b": dataclasses.replace(_node("b", ["a"], "/p/a.py", 5), param_types={"a": float}),
             "c": dataclasses.replace(_node("c", ["a"], "/p/a.py", 9), param_types={"a": float})}
    with pytest.raises(GraphError) as info:
        Graph(nodes, {})
    assert str(info.value).startswith("/p/a.py:5: type mismatch: a produces int but b(a: float) expects float")


def test_the_collector_is_left_as_it_was(make_module):
    mod = make_module("def a() -> int:\n    return 1\n\ndef b(a: int) -> int:\n    return a\n")
    assert gc.isenabled()
    build_graph([mod])
    assert gc.isenabled()
    gc.disable()
    try:
        build_graph([mod])
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        build_graph([mod])
        assert gc.get_freeze_count() == frozen  # someone else's frozen objects stay frozen
    finally:
        gc.unfreeze()


def test_a_module_without_hamilton_does_not_load_the_hamilton_front_end(tmp_path):
    (tmp_path / "plainpipe.py").write_text(textwrap.dedent("""
        from engine import tag

        def a() -> int:
            return 1

        @tag(owner="x")
        def b(a: int) -> int:
            return a
    """))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import plainpipe; from engine import Driver; "
            "dr = Driver({}, plainpipe); assert dr.execute(['b']) == {'b': 1}; "
            "print(sorted(m for m in ('engine.core.hamilton_graph', 'engine.core.deco_digest', 'hamilton') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="type parameter syntax is Python 3.12+")
def test_type_parameters_are_left_to_the_general_path(make_module):
    mod = make_module('class T:\n    pass\n\ndef ident[T](x: "T") -> "T":\n    return x\n')
    assert plain_node(mod.ident) is None


@pytest.mark.parametrize("doc", ["Node n5_50.", "  leading", "trailing  ", "\ttab\tinside", "", "   ", " \x0c ff",
                                 "\u3000wide", "one line\r", "two\n    lines", "\n    indented\n    block\n", "a\n\n", "\x0cff"])
def test_a_nodes_doc_is_its_docstring_as_inspect_cleans_it(doc: str) -> None:
    """One-line docstrings take a shortcut (``graph.node_doc``): it must give what ``cleandoc`` gives."""
    import inspect

    from engine.core.graph import node_doc

    def f() -> int:
        return 1

    f.__doc__ = doc
    assert node_doc(f) == inspect.cleandoc(doc)
