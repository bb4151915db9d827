"""Graph building and validation: what becomes a node, and each error with its file:line and node."""

from __future__ import annotations

import sys
import textwrap

import pytest

from engine import Driver, GraphError, LoadError, UsageError
from engine.core.building import build_graph
from engine.core.graph import types_compatible


def _err_at(err, module, line: int, node: str) -> None:
    """The error names the module's file, the function's first line and the node."""
    assert err.file == module.__file__
    assert err.line == line
    assert err.node == node
    assert f"{module.__file__}:{line}" in str(err)


def test_public_functions_are_nodes_private_and_imported_are_not(make_module):
    helper = make_module("def shared(x):\n    return x\n")
    mod = make_module(
        f"""
        from {helper.__name__} import shared
        from os.path import join

        LIMIT = 3

        def _private(a):
            return a

        def first(raw: int) -> int:
            return shared(raw) + LIMIT

        def second(first: int, scale: int = 2) -> int:
            return first * scale
        """
    )
    dr = Driver({}, mod)
    assert set(dr.graph.nodes) == {"first", "second"}
    assert dr.graph.order == ["first", "second"]
    assert set(dr.graph.externals) == {"raw", "scale"}
    assert dr.graph.externals["raw"].required and not dr.graph.externals["scale"].required
    assert dr.graph.nodes["first"].line == 10 and dr.graph.nodes["first"].file == mod.__file__


def test_nodes_span_several_modules(make_module):
    a = make_module("def base() -> int:\n    return 2\n")
    b = make_module("def doubled(base: int) -> int:\n    return base * 2\n")
    dr = Driver({}, a, b)
    assert dr.execute(["doubled"]) == {"doubled": 4}
    assert dr.graph.nodes["base"].module == a.__name__


def test_cycle_is_reported_with_path_location_and_node(make_module):
    mod = make_module("def a(c):\n    return c\n\ndef b(a):\n    return a\n\ndef c(b):\n    return b\n")
    with pytest.raises(GraphError, match=r"cycle (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)") as info:
        Driver({}, mod)
    err = info.value
    assert err.node in {"a", "b", "c"}
    assert err.file == mod.__file__ and err.line in {1, 4, 7}
    assert f"{mod.__file__}:{err.line}" in str(err)


def test_self_dependency_is_a_cycle(make_module):
    mod = make_module("def loop(loop):\n    return loop\n")
    with pytest.raises(GraphError, match="cycle loop -> loop") as info:
        Driver({}, mod)
    _err_at(info.value, mod, 1, "loop")


def test_duplicate_node_across_modules_names_both_places(make_module):
    first = make_module("def total() -> int:\n    return 1\n")
    second = make_module("\n\ndef total() -> int:\n    return 2\n")
    with pytest.raises(GraphError, match="defined twice") as info:
        Driver({}, first, second)
    err = info.value
    _err_at(err, second, 3, "total")
    assert f"{first.__file__}:1" in str(err)


def test_type_mismatch_between_annotated_nodes(make_module):
    mod = make_module("def name() -> str:\n    return 'x'\n\n\ndef size(name: int) -> int:\n    return name\n")
    with pytest.raises(GraphError, match=r"type mismatch: name produces str but size\(name: int\)") as info:
        Driver({}, mod)
    _err_at(info.value, mod, 5, "size")


def test_compatible_annotations_pass(make_module):
    mod = make_module(
        """
        from typing import Any, Optional, Union

        class Animal: ...
        class Dog(Animal): ...

        def count() -> int:
            return 1
        def ratio() -> float:
            return 0.5
        def as_float(ratio: float) -> float:
            return ratio
        def maybe(count: Optional[int]) -> int:
            return 1
        def union(count: Union[int, str]) -> int:
            return 1
        def anything(count: Any) -> int:
            return 1
        def unannotated(count):
            return count
        def no_return():
            return 1
        def reads_unannotated(no_return: str) -> str:
            return "x"
        def dog() -> Dog:
            return Dog()
        def animal(dog: Animal) -> Animal:
            return dog
        def flag() -> bool:
            return True
        def flag_as_int(flag: int) -> int:
            return flag
        def numbers() -> list[int]:
            return [1]
        def plain_list(numbers: list) -> int:
            return 1
        def as_object(numbers: object) -> int:
            return 1
        """
    )
    dr = Driver({}, mod)
    assert dr.execute(["as_float", "animal", "flag_as_int", "plain_list"])["as_float"] == 0.5


@pytest.mark.parametrize(
    ("produced", "wanted", "ok"),
    [
        (int, float, False),  # as in Hamilton: an int node does not feed a float parameter
        (bool, int, True),
        (float, int, False),
        (str, int, False),
        (int, int | None, True),
        (int | None, int, False),
        (list[int], list, True),
        (list[int], dict, False),
    ],
)
def test_types_compatible_rules(produced, wanted, ok):
    assert types_compatible(produced, wanted) is ok


@pytest.mark.parametrize("signature", ["*parts", "**named", "a, /"])
def test_star_args_kwargs_and_positional_only_are_rejected(make_module, signature):
    mod = make_module(f"def joined({signature}):\n    return 1\n")
    with pytest.raises(GraphError, match=r"joined\(\)") as info:
        Driver({}, mod)
    _err_at(info.value, mod, 1, "joined")


def test_nested_parallelizable_is_rejected_at_build_time(make_module):
    mod = make_module(
        """
        from engine import Collect, Parallelizable

        def outer() -> Parallelizable[int]:
            yield 1

        def inner(outer: int) -> Parallelizable[int]:
            yield outer

        def leaf(inner: int) -> int:
            return inner

        def gathered(leaf: Collect[int]) -> list:
            return leaf
        """
    )
    with pytest.raises(GraphError, match="nested Parallelizable") as info:
        Driver({}, mod)
    _err_at(info.value, mod, 7, "inner")


def test_collect_of_a_node_that_is_not_fanned_out(make_module):
    mod = make_module(
        """
        from engine import Collect

        def single() -> int:
            return 1

        def gathered(single: Collect[int]) -> list:
            return single
        """
    )
    with pytest.raises(GraphError, match="not produced per item of a Parallelizable") as info:
        Driver({}, mod)
    _err_at(info.value, mod, 7, "gathered")


def test_two_collect_parameters(make_module):
    mod = make_module(
        """
        from engine import Collect, Parallelizable

        def items() -> Parallelizable[int]:
            yield 1

        def both(items: Collect[int], other: Collect[int]) -> int:
            return 1
        """
    )
    with pytest.raises(GraphError, match="two Collect") as info:
        Driver({}, mod)
    _err_at(info.value, mod, 7, "both")


def test_collect_node_also_taking_per_item_value_directly(make_module):
    mod = make_module(
        """
        from engine import Collect, Parallelizable

        def items() -> Parallelizable[int]:
            yield 1

        def doubled(items: int) -> int:
            return items * 2

        def mixed(doubled: Collect[int], items: int) -> int:
            return 1
        """
    )
    dr = Driver({}, mod)
    with pytest.raises(GraphError, match="without Collect") as info:
        dr.execute(["mixed"])
    _err_at(info.value, mod, 10, "mixed")


def test_missing_inputs_are_reported_at_execute_time_all_at_once(make_module):
    mod = make_module(
        """
        def a(x: int, y: int, z: int = 1) -> int:
            return x + y + z

        def b(a: int, w: int) -> int:
            return a + w

        def c(v: int) -> int:
            return v
        """
    )
    dr = Driver({}, mod)  # building needs no inputs
    with pytest.raises(UsageError) as info:
        dr.execute(["b"])
    msg = str(info.value)
    for name in ("w (needed by b)", "x (needed by a)", "y (needed by a)"):
        assert name in msg
    assert "z (" not in msg and "v (" not in msg  # optional and unneeded inputs are not missing
    assert dr.execute(["b"], inputs={"x": 1, "y": 2, "w": 3}) == {"b": 7}


def test_config_values_feed_parameters_and_satisfy_missing_inputs(make_module):
    mod = make_module("def greeting(name: str) -> str:\n    return 'hi ' + name\n")
    assert Driver({"name": "ana"}, mod).execute(["greeting"]) == {"greeting": "hi ana"}


# ----------------------------------------------------------------------------------- loading


def test_load_package_folder_and_dotted_name(tmp_path, monkeypatch):
    pkg = tmp_path / "ripple_pkg_under_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "ingest.py").write_text("def raw() -> int:\n    return 3\n")
    (pkg / "model.py").write_text("def fitted(raw: int) -> int:\n    return raw * 2\n")
    (pkg / "_private.py").write_text("def hidden() -> int:\n    return 0\n")
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "one.py").write_text("def one_a() -> int:\n    return 1\n")
    (loose / "two.py").write_text("def two_b(one_a: int) -> int:\n    return one_a + 1\n")
    monkeypatch.chdir(tmp_path)
    try:
        assert Driver({}, str(pkg)).execute(["fitted"]) == {"fitted": 6}
        dr = Driver({}, "ripple_pkg_under_test")
        assert set(dr.graph.nodes) == {"raw", "fitted"}
        assert Driver({}, str(loose)).execute(["two_b"]) == {"two_b": 2}
        assert Driver({}, str(pkg / "model.py"), str(pkg / "ingest.py")).execute(["fitted"]) == {"fitted": 6}
    finally:
        for name in [m for m in sys.modules if m.startswith("ripple_pkg_under_test") or m in ("one", "two")]:
            del sys.modules[name]
        for p in (str(tmp_path), str(loose)):
            while p in sys.path:
                sys.path.remove(p)


def test_load_errors_name_the_user_file(tmp_path):
    bad = tmp_path / "ripple_syntax_bad.py"
    bad.write_text("def a():\n    return 1\n\ndef b(:\n")
    raising = tmp_path / "ripple_raises_at_import.py"
    raising.write_text(textwrap.dedent("X = 1\nraise RuntimeError('no config file')\n"))
    try:
        with pytest.raises(LoadError, match="syntax error") as info:
            Driver({}, str(bad))
        assert info.value.file == str(bad) and info.value.line == 4
        with pytest.raises(LoadError, match="RuntimeError: no config file") as info:
            Driver({}, str(raising))
        assert info.value.file == str(raising) and info.value.line == 2
        with pytest.raises(UsageError, match="does not exist"):
            Driver({}, str(tmp_path / "absent.py"))
        with pytest.raises(UsageError, match="no pipeline module named"):
            Driver({}, "ripple_no_such_module_anywhere")
    finally:
        for name in ("ripple_syntax_bad", "ripple_raises_at_import"):
            sys.modules.pop(name, None)
        while str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))


def test_build_graph_directly(make_module):
    mod = make_module("def a() -> int:\n    return 1\n\ndef b(a: int) -> int:\n    return a\n")
    graph = build_graph([mod], {})
    assert list(graph.dag.edges) == [("a", "b")]
    assert graph.upstream(["b"]) == {"a", "b"} and graph.downstream(["a"]) == {"a", "b"}
