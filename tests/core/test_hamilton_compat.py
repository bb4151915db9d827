"""Code written for Hamilton runs unchanged on Ripple (imports swapped) and gives the same results.

Each module below is written as Hamilton users write it; it is run once through Hamilton's own
``driver.Builder`` and once, with ``hamilton`` imports replaced by ``engine``, through
``engine.Driver``. Results must match exactly.
"""

from __future__ import annotations

import pytest

pytest.importorskip("hamilton", reason="apache-hamilton is not installed (it is a bench/dev extra)")
pd = pytest.importorskip("pandas")

from hamilton import driver as h_driver  # noqa: E402
from hamilton.execution import executors as h_executors  # noqa: E402

from engine import Driver  # noqa: E402

HELLO_WORLD = '''
import pandas as pd


def avg_3wk_spend(spend: pd.Series) -> pd.Series:
    """Rolling 3 week average spend."""
    return spend.rolling(3).mean()


def spend_per_signup(spend: pd.Series, signups: pd.Series) -> pd.Series:
    """The cost per signup in relation to spend."""
    return spend / signups


def spend_mean(spend: pd.Series) -> float:
    return spend.mean()


def spend_zero_mean(spend: pd.Series, spend_mean: float) -> pd.Series:
    return spend - spend_mean


def spend_std_dev(spend: pd.Series) -> float:
    return spend.std()


def spend_zero_mean_unit_variance(spend_zero_mean: pd.Series, spend_std_dev: float) -> pd.Series:
    return spend_zero_mean / spend_std_dev
'''

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
