"""Code written for Hamilton runs unchanged on Ripple (imports swapped) and gives the same results.

Each module below is written as Hamilton users write it; it is run once through Hamilton's own
``driver.Builder`` and once, with ``hamilton`` imports replaced by ``engine``, through
``engine.Driver``. Results must match exactly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hamilton import driver as h_driver
from hamilton.execution import executors as h_executors

from engine import Driver
from engine.events import CACHED

#: Hamilton's hello world, as in the corpus every Hamilton test runs
HELLO_WORLD = (Path(__file__).parent / "hamilton" / "corpus" / "h01_hello_world.py").read_text()

DECORATED = '''
import pandas as pd
from hamilton.function_modifiers import config, extract_columns, extract_fields, parameterize, source, tag, value


def raw_data(n_weeks: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "spend": [10.0 * (i + 1) for i in range(n_weeks)],
            "signups": [float(i % 4 + 1) for i in range(n_weeks)],
            "region": ["eu" if i % 2 else "us" for i in range(n_weeks)],
        }
    )


@extract_columns("spend", "signups", "region")
def data(raw_data: pd.DataFrame) -> pd.DataFrame:
    return raw_data


@parameterize(
    spend_scaled={"series": source("spend"), "factor": value(2.0)},
    signups_scaled={"series": source("signups"), "factor": value(0.5)},
)
def scaled(series: pd.Series, factor: float) -> pd.Series:
    return series * factor


@config.when(metric="ratio")
def score__ratio(spend_scaled: pd.Series, signups_scaled: pd.Series) -> pd.Series:
    return spend_scaled / signups_scaled


@config.when_not(metric="ratio")
def score__diff(spend_scaled: pd.Series, signups_scaled: pd.Series) -> pd.Series:
    return spend_scaled - signups_scaled


@config.when_in(region_filter=["eu", "us"])
def selected__one(score: pd.Series, region: pd.Series, region_filter: str) -> pd.Series:
    return score[region == region_filter]


@config.when_not_in(region_filter=["eu", "us"])
def selected__all(score: pd.Series) -> pd.Series:
    return score


@extract_fields({"score_min": float, "score_max": float})
def score_bounds(selected: pd.Series) -> dict:
    return {"score_min": float(selected.min()), "score_max": float(selected.max())}


@tag(owner="growth")
def score_range(score_min: float, score_max: float) -> float:
    return score_max - score_min
'''

PARALLEL = '''
from hamilton.htypes import Collect, Parallelizable


def offset(base_offset: int) -> int:
    return base_offset * 10


def numbers(n: int) -> Parallelizable[int]:
    for i in range(n):
        yield i


def squared(numbers: int, offset: int) -> int:
    return numbers * numbers + offset


def described(squared: int, numbers: int) -> str:
    return f"{numbers}->{squared}"


def descriptions(described: Collect[str]) -> list:
    # Hamilton allows one Collect per Parallelizable block, so this pipeline has exactly one.
    return list(described)


def report(descriptions: list, offset: int) -> str:
    return f"{offset} " + ",".join(descriptions)
'''


def _as_engine(source: str) -> str:
    return source.replace("from hamilton.function_modifiers import", "from engine import").replace(
        "from hamilton.htypes import", "from engine import"
    )


def _both(make_module, source: str, config: dict, *, dynamic: bool = False):
    """(hamilton driver, ripple driver) over two separately imported copies of ``source``."""
    assert "hamilton" in source or "import pandas" in source
    h_mod = make_module(source)
    builder = h_driver.Builder().with_modules(h_mod).with_config(config)
    if dynamic:
        builder = builder.enable_dynamic_execution(allow_experimental_mode=True).with_local_executor(
            h_executors.SynchronousLocalTaskExecutor()
        )
    engine_source = _as_engine(source)
    assert "hamilton" not in engine_source
    return builder.build(), Driver(config, make_module(engine_source))


def _assert_same(expected: dict, actual: dict) -> None:
    assert set(expected) == set(actual)
    for name, want in expected.items():
        got = actual[name]
        if isinstance(want, pd.Series):
            pd.testing.assert_series_equal(got, want, check_names=False)
        elif isinstance(want, pd.DataFrame):
            pd.testing.assert_frame_equal(got, want)
        else:
            assert got == want, name


def _hamilton_dict(dr, final_vars: list[str], inputs: dict) -> dict:
    # Hamilton's default result builder may assemble a DataFrame; ask it for raw values per name.
    return dr.raw_execute(final_vars, inputs=inputs) if hasattr(dr, "raw_execute") else dr.execute(final_vars, inputs=inputs)


def test_hello_world_same_results(make_module):
    h, r = _both(make_module, HELLO_WORLD, {})
    inputs = {
        "spend": pd.Series([10, 10, 20, 40, 40, 50], dtype=float),
        "signups": pd.Series([1, 10, 50, 100, 200, 400], dtype=float),
    }
    outputs = ["spend", "signups", "avg_3wk_spend", "spend_per_signup", "spend_zero_mean_unit_variance",
               "spend_mean", "spend_std_dev"]
    expected = _hamilton_dict(h, outputs, inputs)
    actual = r.execute(outputs, inputs=inputs)
    _assert_same(expected, actual)
    h_vars = {v.name for v in h.list_available_variables()}
    r_vars = {v.name for v in r.list_available_variables()}
    assert h_vars == r_vars


@pytest.mark.parametrize(
    "config",
    [
        {"metric": "ratio", "region_filter": "eu"},
        {"metric": "diff", "region_filter": "us"},
        {"metric": "ratio", "region_filter": "all"},
    ],
)
def test_decorated_module_same_results(make_module, config):
    h, r = _both(make_module, DECORATED, config)
    outputs = ["spend", "region", "spend_scaled", "signups_scaled", "score", "selected", "score_min", "score_max",
               "score_range"]
    inputs = {"n_weeks": 9}
    expected = _hamilton_dict(h, outputs, inputs)
    actual = r.execute(outputs, inputs=inputs)
    _assert_same(expected, actual)
    h_vars = {v.name: v.tags.get("owner") for v in h.list_available_variables()}
    r_vars = {v.name: v.tags.get("owner") for v in r.list_available_variables()}
    assert r_vars["score_range"] == h_vars["score_range"] == "growth"
    assert set(r_vars) <= set(h_vars)  # Hamilton also lists config keys as variables


@pytest.mark.parametrize("n", [1, 5])  # n=0: Hamilton 1.90 raises KeyError; Ripple collects [] (test_decorators)
def test_parallelizable_collect_same_results(make_module, n):
    h, r = _both(make_module, PARALLEL, {"base_offset": 3}, dynamic=True)
    outputs = ["descriptions", "report"]
    expected = h.execute(outputs, inputs={"n": n})
    actual = r.execute(outputs, inputs={"n": n})
    _assert_same(expected, actual)
    assert actual["descriptions"] == [f"{i}->{i * i + 30}" for i in range(n)]


# ------------------------------------------------------------------ semantics as Hamilton's
def _hamilton(mod, config=None, *adapters):
    builder = h_driver.Builder().with_modules(mod).with_config(config or {})
    return builder.with_adapters(*adapters).build() if adapters else builder.build()


CHAIN = '''
from hamilton.function_modifiers import tag


def raw(n: int, scale: float = 1.0) -> float:
    return n * scale


@tag(kind="feature")
def doubled(raw: float) -> float:
    return raw * 2


@tag(kind="feature", team=["ml", "bi"])
def tripled(raw: float) -> float:
    return raw * 3


def both(doubled: float, tripled: float) -> float:
    return doubled + tripled
'''


@pytest.mark.parametrize("style", ["hamilton", "engine"])
def test_upstream_downstream_and_tag_filter_match_hamilton(make_module, style):
    h_mod = make_module(CHAIN)
    h = _hamilton(h_mod)
    r_mod = make_module(CHAIN if style == "hamilton" else _as_engine(CHAIN))
    r = Driver({}, r_mod)

    def names(vs):
        return {v.name for v in vs}

    for args in (("both",), ("doubled",), ("doubled", "tripled")):
        assert names(r.what_is_upstream_of(*args)) == names(h.what_is_upstream_of(*args))
    for args in (("raw",), ("both",), ("tripled",)):
        assert names(r.what_is_downstream_of(*args)) == names(h.what_is_downstream_of(*args))
    assert names(r.what_is_the_path_between("raw", "both")) == names(h.what_is_the_path_between("raw", "both"))
    for tag_filter in ({"kind": "feature"}, {"team": "ml"}, {"team": ["bi", "x"]}, {"team": None}, {"kind": "nope"}):
        assert names(r.list_available_variables(tag_filter=tag_filter)) == \
            names(h.list_available_variables(tag_filter=tag_filter)), tag_filter
    # the automatic ``module`` tag, as Hamilton sets it
    assert {v.tags["module"] for v in r.list_available_variables() if not v.is_external_input} == {r_mod.__name__}
    assert {v.tags["module"] for v in h.list_available_variables() if not v.is_external_input} == {h_mod.__name__}


@pytest.mark.parametrize("style", ["hamilton", "engine"])
def test_config_value_named_like_a_node_replaces_the_node(make_module, style):
    source = "def rate() -> float:\n    return 0.1\n\n\ndef charged(amount: float, rate: float) -> float:\n" \
             "    return amount * rate\n"
    if style == "hamilton":
        source = "import hamilton.function_modifiers\n" + source
    r = Driver({"rate": 0.5}, make_module(source))
    assert "rate" not in r.graph.nodes
    assert r.execute(["charged"], inputs={"amount": 10.0}) == {"charged": 5.0}
    assert Driver({}, make_module(source)).execute(["charged"], inputs={"amount": 10.0}) == {"charged": 1.0}


def test_functools_wraps_node_is_read_through_wrapped_and_runs_the_wrapper(make_module):
    mod = make_module('''
        import functools

        CALLS = []


        def _traced(fn):
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                CALLS.append(fn.__name__)
                return fn(*args, **kwargs)
            return wrapper


        @_traced
        def tripled(x: int, k: int = 3) -> int:
            return x * k
    ''')
    dr = Driver({}, mod)
    node = dr.graph.nodes["tripled"]
    assert set(node.deps) == {"x", "k"} and node.optional == {"k"} and node.type is int
    assert node.file.endswith(".py") and node.line > 1
    assert dr.execute(["tripled"], inputs={"x": 2}) == {"tripled": 6} and mod.CALLS == ["tripled"]
    assert _hamilton(mod).execute(["tripled"], inputs={"x": 2}) == {"tripled": 6}


def test_int_node_into_float_parameter_is_rejected_as_hamilton_does(make_module):
    from engine import GraphError

    source = "def count() -> int:\n    return 1\n\n\ndef share(count: float) -> float:\n    return count / 2\n"
    with pytest.raises(ValueError, match="share is expecting count"):
        _hamilton(make_module(source))
    with pytest.raises(GraphError, match="type mismatch: count produces int but share"):
        Driver({}, make_module(source))
    bool_source = "def flag() -> bool:\n    return True\n\n\ndef as_int(flag: int) -> int:\n    return flag\n"
    assert Driver({}, make_module(bool_source)).execute(["as_int"]) == {"as_int": True}  # bool is an int


def test_conflicting_input_annotations_are_rejected_as_hamilton_does(make_module):
    from engine import GraphError

    source = "def a(x: int) -> int:\n    return x\n\n\ndef b(x: str) -> str:\n    return x\n"
    with pytest.raises(ValueError, match="incompatible types"):
        _hamilton(make_module(source))
    with pytest.raises(GraphError, match="want input x as incompatible types"):
        Driver({}, make_module(source))
    ok = "from typing import Optional\n\n\ndef a(x: int) -> int:\n    return x\n\n\ndef b(x: Optional[int]) -> int:\n" \
         "    return 1\n"
    assert Driver({}, make_module(ok)).execute(["a", "b"], inputs={"x": 1}) == {"a": 1, "b": 1}


def test_hamilton_errors_become_one_located_graph_error(make_module):
    from engine import GraphError

    mod = make_module('''
        from hamilton.function_modifiers import tag


        @tag(owner="x")
        def frame(n: int):
            return 1
    ''')
    with pytest.raises(GraphError) as info:
        Driver({}, mod)
    assert info.value.file == mod.__file__ and info.value.node == "frame" and info.value.line > 1
    assert "Hamilton rejected this pipeline" in info.value.message and "Missing type hint" in info.value.message
    typed = make_module("import hamilton.function_modifiers\n\n\ndef count() -> int:\n    return 1\n\n\n"
                        "def share(count: float) -> float:\n    return count / 2\n")
    with pytest.raises(GraphError, match="share is expecting count") as info:
        Driver({}, typed)
    assert info.value.node == "share"


# ------------------------------------------------------------------ the driver surface
def test_builder_result_builders_match_hamilton(make_module):
    from hamilton import base as h_base

    from engine import Builder
    from engine.core.results import PandasDataFrameResult

    inputs = {"spend": pd.Series([10.0, 20.0, 30.0]), "signups": pd.Series([1.0, 2.0, 5.0])}
    outputs = ["spend", "spend_per_signup", "spend_mean"]
    mod = make_module(HELLO_WORLD)
    for adapter in (h_base.PandasDataFrameResult(), PandasDataFrameResult()):
        expected = _hamilton(mod, {}, h_base.PandasDataFrameResult()).execute(outputs, inputs=inputs)
        got = Builder().with_modules(mod).with_adapters(adapter).build().execute(outputs, inputs=inputs)
        pd.testing.assert_frame_equal(got, expected)
    # Hamilton's Builder returns a dict by default, and so does Ripple's
    default = Builder().with_modules(mod).build().execute(outputs, inputs=inputs)
    assert isinstance(default, dict) and isinstance(_hamilton(mod).execute(outputs, inputs=inputs), dict)
    dr = Builder().with_modules(mod).with_adapters(h_base.DictResult()).build()
    assert set(dr.execute(outputs, inputs=inputs)) == set(outputs)
    direct = Driver({}, mod, adapter=PandasDataFrameResult()).execute(outputs, inputs=inputs)
    pd.testing.assert_frame_equal(direct, h_driver.Driver({}, mod).execute(outputs, inputs=inputs))  # Hamilton's default
    assert isinstance(Driver({}, mod).execute(outputs, inputs=inputs), dict)  # Ripple's Driver: a dict
    frame_dr = Builder().with_modules(mod).with_adapters(h_base.PandasDataFrameResult()).build()
    assert isinstance(frame_dr.raw_execute(outputs, inputs=inputs), dict)  # raw_execute: always a dict


def test_unsupported_adapter_is_refused_by_name(make_module):
    from hamilton.lifecycle.default import PrintLn

    from engine import Builder, UsageError

    with pytest.raises(UsageError, match="adapter hamilton.lifecycle.default.PrintLn is not supported"):
        Builder().with_modules(make_module(HELLO_WORLD)).with_adapters(PrintLn())


def test_builder_executors_module_overrides_and_cache(make_module, tmp_path):
    from engine import Builder

    first = make_module("def value_of() -> int:\n    return 1\n\n\ndef plus(value_of: int) -> int:\n    return value_of + 1\n")
    second = make_module("def value_of() -> int:\n    return 10\n")
    with pytest.raises(Exception, match="defined twice"):
        Builder().with_modules(first, second).build()
    dr = (Builder().with_modules(first, second).allow_module_overrides()
          .enable_dynamic_execution(allow_experimental_mode=True)
          .with_local_executor(h_executors.MultiThreadingExecutor(2)).with_cache(tmp_path / "c").build())
    hd = h_driver.Builder().with_modules(first, second).allow_module_overrides().build()
    assert dr.execute(["plus"]) == hd.execute(["plus"]) == {"plus": 11}
    assert dr.executor.name.startswith("threads") and dr.cache is not None
    seq = Builder().with_modules(first).with_local_executor(h_executors.SynchronousLocalTaskExecutor()).build()
    assert seq.executor.name == "sequential"


def test_execute_accepts_functions_and_variables_and_validates(make_module, tmp_path):
    from engine import UsageError

    mod = make_module(CHAIN)
    dr = Driver({}, mod)
    both = next(v for v in dr.list_available_variables() if v.name == "both")
    assert dr.execute([mod.both, mod.doubled], inputs={"n": 1}) == {"both": 5.0, "doubled": 2.0}
    assert dr.execute([both], inputs={"n": 1}) == _hamilton(mod).execute([mod.both], inputs={"n": 1})
    dr.validate_execution(["both"], inputs={"n": 1})
    with pytest.raises(UsageError, match="missing inputs: n"):
        dr.validate_execution(["both"])
    with pytest.raises(ValueError):
        _hamilton(mod).validate_execution(["both"])
    dot = dr.display_all_functions(tmp_path / "all.dot")
    assert dot.startswith("digraph") and (tmp_path / "all.dot").read_text() == dot and "tripled" in dot
    part = dr.visualize_execution(["doubled"], tmp_path / "part.dot", inputs={"n": 1})
    assert "doubled" in part and "tripled" not in part


def test_materialize_to_and_from_like_hamilton(make_module, tmp_path):
    from hamilton.io.materialization import from_ as h_from
    from hamilton.io.materialization import to as h_to

    from engine import from_, to

    mod = make_module('''
        import pandas as pd


        def frame(n: int) -> pd.DataFrame:
            return pd.DataFrame({"i": list(range(n)), "sq": [i * i for i in range(n)]})


        def total(frame: pd.DataFrame) -> int:
            return int(frame["sq"].sum())
    ''')
    h_meta, h_extra = _hamilton(mod).materialize(
        h_to.csv(id="save_frame", dependencies=["frame"], path=str(tmp_path / "h.csv")),
        additional_vars=["total"], inputs={"n": 4})
    r_meta, r_extra = Driver({}, mod).materialize(
        to.csv(id="save_frame", dependencies=["frame"], path=str(tmp_path / "r.csv")),
        additional_vars=["total"], inputs={"n": 4})
    assert set(r_meta) == set(h_meta) == {"save_frame"} and r_extra == h_extra == {"total": 14}
    assert (tmp_path / "r.csv").read_text() == (tmp_path / "h.csv").read_text()
    (tmp_path / "in.csv").write_text("i,sq\n0,5\n1,6\n")
    _, h_loaded = _hamilton(mod).materialize(h_from.csv(target="frame", path=str(tmp_path / "in.csv")),
                                            additional_vars=["total"])
    _, r_loaded = Driver({}, mod).materialize(from_.csv(target="frame", path=str(tmp_path / "in.csv")),
                                             additional_vars=["total"])
    assert r_loaded == h_loaded == {"total": 11}


def test_hamilton_built_nodes_run_on_the_process_executor(make_module):
    from engine import Builder

    config = {"metric": "ratio", "region_filter": "eu"}
    outputs = ["spend_scaled", "score", "selected", "score_range"]
    mod = make_module(DECORATED)
    expected = _hamilton(mod, config).execute(outputs, inputs={"n_weeks": 6})
    dr = Builder().with_modules(mod).with_config(config).with_local_executor(
        h_executors.MultiProcessingExecutor(2)).build()
    assert dr.executor.name.startswith("processes")
    _assert_same(expected, dr.execute(outputs, inputs={"n_weeks": 6}))


@pytest.mark.parametrize("style", ["hamilton", "engine"])
def test_overriding_a_parallelizable_node_gives_its_items(make_module, tmp_path, style):
    mod = make_module(PARALLEL if style == "hamilton" else _as_engine(PARALLEL))
    dr = Driver({"base_offset": 0}, mod).with_cache(tmp_path / "c")
    assert dr.execute(["descriptions"], overrides={"numbers": [2, 3]}) == {"descriptions": ["2->4", "3->9"]}
    assert dr.execute(["descriptions"], overrides={"numbers": [4]}) == {"descriptions": ["4->16"]}
    assert dr.execute(["descriptions"], inputs={"n": 2}) == {"descriptions": ["0->0", "1->1"]}  # not the override's
    again = dr.run(["descriptions"], overrides={"numbers": [2, 3]})
    assert again.outputs == {"descriptions": ["2->4", "3->9"]} and again.count(CACHED) == len(again.records)


def test_a_module_mixing_engine_and_hamilton_decorators_is_an_error_not_a_silent_misread(make_module):
    from engine import GraphError

    mod = make_module('''
        from hamilton.htypes import Collect

        from engine import tag


        @tag(owner="ml")
        def scored(x: int) -> int:
            return x
    ''')
    with pytest.raises(GraphError, match="uses a decorator from engine .* all from hamilton or all from engine") as info:
        Driver({}, mod)
    assert info.value.node == "scored" and info.value.file == mod.__file__
