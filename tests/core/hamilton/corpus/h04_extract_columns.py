"""@extract_columns on a DataFrame."""
import pandas as pd
from hamilton.function_modifiers import extract_columns

CASE = {"inputs": {"n": 5}, "outputs": ["spend", "signups", "ratio"]}


def raw(n: int) -> pd.DataFrame:
    return pd.DataFrame({"spend": [float(i * 10) for i in range(n)], "signups": [float(i + 1) for i in range(n)]})


@extract_columns("spend", "signups")
def frame(raw: pd.DataFrame) -> pd.DataFrame:
    return raw


def ratio(spend: pd.Series, signups: pd.Series) -> pd.Series:
    return spend / signups
