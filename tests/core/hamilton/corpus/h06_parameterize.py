"""@parameterize mixing value() and source(), with a docstring per output."""
import pandas as pd
from hamilton.function_modifiers import parameterize, source, value

CASE = {"inputs": {"n": 6}, "outputs": ["a_smooth", "b_smooth", "total"]}


def a(n: int) -> pd.Series:
    return pd.Series([float(i) for i in range(n)])


def b(n: int) -> pd.Series:
    return pd.Series([float(i * i) for i in range(n)])


@parameterize(
    a_smooth={"series": source("a"), "window": value(2)},
    b_smooth=({"series": source("b"), "window": value(3)}, "b, smoothed over 3"),
)
def smoothed(series: pd.Series, window: int) -> pd.Series:
    return series.rolling(window, min_periods=1).mean()


def total(a_smooth: pd.Series, b_smooth: pd.Series) -> float:
    return float(a_smooth.sum() + b_smooth.sum())
