"""@check_output with importance="fail" passes when the data is valid."""
import pandas as pd
from hamilton.function_modifiers import check_output

CASE = {"inputs": {"n": 3}, "outputs": ["scores"]}


@check_output(range=(0, 100), importance="fail")
def scores(n: int) -> pd.Series:
    return pd.Series([10 * i for i in range(n)])
