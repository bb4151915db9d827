"""@mutate applies a helper to another function's output."""
import pandas as pd
from hamilton.function_modifiers import mutate

CASE = {"inputs": {"n": 4}, "outputs": ["frame", "total"]}


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"a": list(range(n))})


def total(frame: pd.DataFrame) -> int:
    return int(frame["a"].sum() + frame["b"].sum())


@mutate(frame)
def _with_b(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(b=df["a"] * 10)
