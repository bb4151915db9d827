"""@check_output with range, data_type and allow_nans (warn level)."""
import numpy as np
import pandas as pd
from hamilton.function_modifiers import check_output

CASE = {"inputs": {"n": 5}, "outputs": ["prob", "scaled"]}


@check_output(range=(0.0, 1.0), data_type=np.float64, importance="warn")
def prob(n: int) -> pd.Series:
    return pd.Series([i / n for i in range(n)])


@check_output(allow_nans=False, importance="warn")
def scaled(prob: pd.Series) -> pd.Series:
    return prob * 2
