"""@with_columns (pandas) appends computed columns to a frame."""
import pandas as pd
from hamilton.plugins.h_pandas import with_columns

CASE = {"inputs": {"n": 4}, "outputs": ["enriched"]}


def ratio(spend: pd.Series, signups: pd.Series) -> pd.Series:
    return spend / signups


def ratio_doubled(ratio: pd.Series) -> pd.Series:
    return ratio * 2


def base_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"spend": [10.0 * (i + 1) for i in range(n)], "signups": [float(i + 1) for i in range(n)]})


@with_columns(ratio, ratio_doubled, columns_to_pass=["spend", "signups"], select=["ratio", "ratio_doubled"])
def enriched(base_frame: pd.DataFrame) -> pd.DataFrame:
    return base_frame
