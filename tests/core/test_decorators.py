"""Every authoring decorator: what it adds to the graph, what it computes, and how a bad argument is
reported (as a GraphError naming the decorated function and its file:line)."""

from __future__ import annotations

import logging

import pytest

from engine import Driver, GraphError
from engine.core.checks import DataValidationError


def test_tag_is_visible_through_list_available_variables(make_module):
    mod = make_module(
        """
        from engine import tag

        @tag(owner="data-team", pii=False, stage="clean")
        def cleaned(raw: int) -> int:
            return raw

        def untagged(cleaned: int) -> int:
            return cleaned
        """
    )
    variables = {v.name: v for v in Driver({}, mod).list_available_variables()}
    # every node carries Hamilton's automatic ``module`` tag
    assert variables["cleaned"].tags == {"module": mod.__name__, "owner": "data-team", "pii": False, "stage": "clean"}
    assert variables["untagged"].tags == {"module": mod.__name__}
    assert variables["raw"].is_external_input


def test_tag_outputs_tags_each_parameterized_output(make_module):
    mod = make_module(
        """
        from engine import parameterize, tag_outputs, value

        @tag_outputs(low={"band": "low"}, high={"band": "high"})
        @parameterize(low={"k": value(1)}, high={"k": value(9)})
        def level(k: int) -> int:
            return k
        """
    )
    variables = {v.name: v for v in Driver({}, mod).list_available_variables()}
    assert variables["low"].tags == {"module": mod.__name__, "band": "low"}
    assert variables["high"].tags == {"module": mod.__name__, "band": "high"}


def test_extract_columns_makes_each_column_a_node(make_module):
    import pandas as pd
    mod = make_module(
        """
        import pandas as pd
        from engine import extract_columns

        CALLS = []

        @extract_columns("spend", "signups")
        def frame(n: int) -> pd.DataFrame:
            CALLS.append(n)
            return pd.DataFrame({"spend": [1.0 * i for i in range(n)], "signups": list(range(n)), "x": [0] * n})

        def ratio(spend: pd.Series, signups: pd.Series) -> pd.Series:
            return spend / (signups + 1)
        """
    )
    dr = Driver({}, mod)
    names = {v.name for v in dr.list_available_variables()}
    assert {"frame", "spend", "signups", "ratio"} <= names
    assert "x" not in names  # only the listed columns become nodes
    out = dr.execute(["spend", "signups", "ratio"], inputs={"n": 4})
    pd.testing.assert_series_equal(out["spend"], pd.Series([0.0, 1.0, 2.0, 3.0], name="spend"))
    pd.testing.assert_series_equal(out["ratio"], pd.Series([0.0, 0.5, 2 / 3, 0.75]))
    assert mod.CALLS == [4]  # the frame is computed once for both columns


def test_extract_columns_missing_column_fails_that_node(make_module):
    mod = make_module(
        """
        import pandas as pd
        from engine import extract_columns

        @extract_columns("a", "b")
        def frame() -> pd.DataFrame:
            return pd.DataFrame({"a": [1]})
        """
    )
    result = Driver({}, mod).run(["b"])
    assert result.status == "failed"
    assert result.failed_node == "b"
    assert "'b' is missing" in result.records["b"].error


def test_extract_fields_makes_each_field_a_typed_node(make_module):
    mod = make_module(
        """
        from engine import extract_fields

        @extract_fields({"low": int, "high": int})
        def bounds(values: list) -> dict:
            return {"low": min(values), "high": max(values), "ignored": 0}

        def spread(low: int, high: int) -> int:
            return high - low
        """
    )
    dr = Driver({}, mod)
    assert dr.graph.nodes["low"].type is int
    assert dr.execute(["low", "high", "spread"], inputs={"values": [3, 9, 4]}) == {"low": 3, "high": 9, "spread": 6}
    assert "ignored" not in dr.graph.nodes


def test_extract_fields_types_are_checked_against_consumers(make_module):
    mod = make_module(
        """
        from engine import extract_fields

        @extract_fields({"label": str})
        def parts() -> dict:
            return {"label": "x"}

        def doubled(label: int) -> int:
            return label * 2
        """
    )
    with pytest.raises(GraphError, match="type mismatch: label produces str") as info:
        Driver({}, mod)
    assert info.value.node == "doubled"


def test_parameterize_with_value_and_source(make_module):
    mod = make_module(
        '''
        from engine import parameterize, source, value

        def base() -> int:
            return 10

        def other() -> int:
            return 100

        @parameterize(
            plus_one={"amount": value(1), "start": source("base")},
            plus_other=({"amount": source("other"), "start": source("base")}, "base plus other"),
        )
        def shifted(amount: int, start: int) -> int:
            """Shift start by amount."""
            return start + amount
        '''
    )
    dr = Driver({}, mod)
    assert "shifted" not in dr.graph.nodes  # the template is not a node itself
    assert dr.execute(["plus_one", "plus_other"]) == {"plus_one": 11, "plus_other": 110}
    docs = {v.name: v.documentation for v in dr.list_available_variables()}
    assert docs["plus_other"] == "base plus other"
    assert docs["plus_one"] == "Shift start by amount."
    assert [v.name for v in dr.what_is_upstream_of("plus_one")] == ["base", "plus_one"]  # itself too, as Hamilton


def test_parameterize_unbound_parameters_stay_dependencies(make_module):
    mod = make_module(
        """
        from engine import parameterize, value

        @parameterize(tripled={"factor": value(3)})
        def scaled(x: int, factor: int) -> int:
            return x * factor
        """
    )
    assert Driver({}, mod).execute(["tripled"], inputs={"x": 5}) == {"tripled": 15}


def test_parameterize_values_and_sources_shortcuts(make_module):
    mod = make_module(
        """
        from engine import parameterize_sources, parameterize_values

        def a() -> int:
            return 2

        def b() -> int:
            return 5

        @parameterize_values(parameter="power", assigned_output={"squared": 2, ("cubed", "a cubed"): 3})
        def raised(a: int, power: int) -> int:
            return a ** power

        @parameterize_sources(sum_ab={"left": "a", "right": "b"}, sum_ba={"left": "b", "right": "a"})
        def total(left: int, right: int) -> int:
            return left * 10 + right
        """
    )
    out = Driver({}, mod).execute(["squared", "cubed", "sum_ab", "sum_ba"])
    assert out == {"squared": 4, "cubed": 8, "sum_ab": 25, "sum_ba": 52}


CONFIG_MODULE = """
from engine import config

@config.when(region="eu")
def tax__eu() -> float:
    return 0.2

@config.when_not(region="eu")
def tax__elsewhere() -> float:
    return 0.0

@config.when_in(tier=["gold", "platinum"])
def discount__member() -> float:
    return 0.1

@config.when_not_in(tier=["gold", "platinum"])
def discount__none() -> float:
    return 0.0

def price(tax: float, discount: float) -> float:
    return round(100 * (1 + tax) * (1 - discount), 6)
"""


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        ({"region": "eu", "tier": "gold"}, (0.2, 0.1, 108.0)),
        ({"region": "us", "tier": "platinum"}, (0.0, 0.1, 90.0)),
        ({"region": "eu", "tier": "basic"}, (0.2, 0.0, 120.0)),
        ({}, (0.0, 0.0, 100.0)),  # an absent key matches when_not/when_not_in only
    ],
)
def test_config_when_variants_pick_one_implementation(make_module, cfg, expected):
    dr = Driver(cfg, make_module(CONFIG_MODULE))
    assert "tax__eu" not in dr.graph.nodes and "tax" in dr.graph.nodes  # the suffix is dropped
    out = dr.execute(["tax", "discount", "price"])
    assert (out["tax"], out["discount"], out["price"]) == expected


def test_config_when_without_match_leaves_no_node(make_module):
    mod = make_module(
        """
        from engine import config

        @config.when(mode="fast")
        def algo__fast() -> str:
            return "fast"
        """
    )
    dr = Driver({"mode": "slow"}, mod)
    assert "algo" not in dr.graph.nodes


FANOUT_MODULE = """
from engine import Collect, Parallelizable

CALLS = []

def offset() -> int:
    return 100

def urls(n: int) -> Parallelizable[str]:
    for i in range(n):
        yield f"u{i}"

def fetched(urls: str, offset: int, suffix: str) -> str:
    if urls == "u2" and suffix == "boom":
        raise ValueError("cannot fetch u2")
    return urls + suffix

def size(fetched: str, offset: int) -> int:
    return len(fetched) + offset

def total(size: Collect[int]) -> int:
    return sum(size)

def listed(fetched: Collect[str]) -> list:
    return list(fetched)

def unrelated(offset: int) -> int:
    return offset * 2
"""


def test_parallelizable_collect_fan_out_with_outside_dependencies(make_module):
    dr = Driver({}, make_module(FANOUT_MODULE))
    out = dr.execute(["total", "listed"], inputs={"n": 3, "suffix": "!"})
    assert out["listed"] == ["u0!", "u1!", "u2!"]  # item order is kept
    assert out["total"] == 3 * (3 + 100)


def test_parallelizable_with_no_items_collects_empty_list(make_module):
    dr = Driver({}, make_module(FANOUT_MODULE))
    out = dr.execute(["total", "listed"], inputs={"n": 0, "suffix": "!"})
    assert out == {"total": 0, "listed": []}


def test_parallelizable_failing_item_fails_node_and_skips_dependents(make_module):
    dr = Driver({}, make_module(FANOUT_MODULE))
    result = dr.run(["total", "listed", "unrelated"], inputs={"n": 4, "suffix": "boom"})
    status = {name: rec.status for name, rec in result.records.items()}
    assert status == {
        "offset": "ran",
        "urls": "ran",
        "fetched": "failed",
        "size": "skipped",
        "total": "skipped",
        "listed": "skipped",
        "unrelated": "ran",
    }
    assert result.failed_node == "fetched"
    assert "item 2" in result.records["fetched"].error
    with pytest.raises(ValueError, match="cannot fetch u2"):
        dr.execute(["total"], inputs={"n": 4, "suffix": "boom"})


def test_cache_behavior_is_recorded_on_the_node(make_module):
    mod = make_module(
        """
        from engine import cache, extract_fields

        @cache(behavior="recompute")
        def fresh() -> int:
            return 1

        @cache(behavior="disable")
        @extract_fields({"secret": str})
        def creds() -> dict:
            return {"secret": "s"}

        def plain(fresh: int) -> int:
            return fresh
        """
    )
    nodes = Driver({}, mod).graph.nodes
    assert nodes["fresh"].behavior == "recompute"
    assert nodes["creds"].behavior == "disable"
    assert nodes["secret"].behavior == "disable"  # extracted parts inherit it
    assert nodes["plain"].behavior is None


def test_check_output_warn_logs_and_keeps_value(make_module, caplog):
    mod = make_module(
        """
        from engine import check_output

        @check_output(range=(0, 10), importance="warn")
        def score() -> int:
            return 42
        """
    )
    with caplog.at_level(logging.WARNING, logger="engine"):
        assert Driver({}, mod).execute(["score"]) == {"score": 42}
    assert any("check_output on score" in r.getMessage() and "outside [0, 10]" in r.getMessage() for r in caplog.records)


def test_check_output_fail_fails_the_node(make_module):
    mod = make_module(
        """
        from engine import check_output

        @check_output(values_in=["a", "b"], importance="fail")
        def label() -> str:
            return "c"

        @check_output(data_type=int, allow_none=False, importance="fail")
        def good() -> int:
            return 3
        """
    )
    dr = Driver({}, mod)
    assert dr.execute(["good"]) == {"good": 3}
    with pytest.raises(DataValidationError, match="check_output on label") as info:
        dr.execute(["label"])
    assert any("label" in note for note in info.value.__notes__)


BAD_DECORATORS = [
    ('tag(**{"not an id": 1})', "@tag key"),
    ("tag(owner=object())", "@tag value"),
    ('cache(behavior="sometimes")', "@cache behavior 'sometimes'"),
    ("extract_columns()", "@extract_columns needs"),
    ("extract_columns(3)", "@extract_columns needs"),
    ('extract_columns("a", "a")', "lists a column twice"),
    ("extract_fields({})", "@extract_fields needs"),
    ('extract_fields({"1bad": int})', "not a valid identifier"),
    ("parameterize()", "@parameterize needs"),
    ('parameterize(out={"y": 1})', "must be value(...) or source(...)"),
    ('parameterize(out={"nope": value(1)})', "binds 'nope'"),
    ("parameterize(out=[1])", "must map parameter names"),
    ("config.when()", "@config.when() needs"),
    ("config.when_not()", "@config.when_not() needs"),
    ("config.when_in(region='eu')", "takes a list of values"),
    ("config.when_not_in(region='eu')", "takes a list of values"),
    ('check_output(importance="maybe")', "importance must be"),
    ("check_output(bogus=1)", "does not know"),
    ("check_output(range=5)", "range must be"),
]


@pytest.mark.parametrize(("decorator", "message"), BAD_DECORATORS, ids=[d for d, _ in BAD_DECORATORS])
def test_bad_decorator_arguments_name_the_function_and_location(make_module, decorator, message):
    source = f"from engine import *\n\n\n@{decorator}\ndef target(y: int) -> int:\n    return y\n"
    with pytest.raises(GraphError) as info:
        make_module(source)
    err = info.value
    assert message in str(err)
    assert err.node == "target"
    assert err.file.endswith(".py") and err.line == 4
    assert f"{err.file}:4" in str(err)


def test_decorators_reject_non_functions():
    from engine import tag

    with pytest.raises(GraphError, match="decorates functions only"):
        tag(a="b")(int)


def test_check_output_fail_applies_per_item_in_a_fan_out(make_module):
    mod = make_module(
        """
        from engine import Collect, Parallelizable, check_output

        def values() -> Parallelizable[int]:
            yield from (1, 5, 50)

        @check_output(range=(0, 10), importance="fail")
        def bounded(values: int) -> int:
            return values

        def total(bounded: Collect[int]) -> int:
            return sum(bounded)
        """
    )
    result = Driver({}, mod).run(["total"])
    assert result.records["bounded"].status == "failed" and "item 2" in result.records["bounded"].error
    assert result.records["total"].status == "skipped"
