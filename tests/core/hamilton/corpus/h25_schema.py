"""@schema.output declares a frame's columns."""
import pandas as pd
from hamilton.function_modifiers import schema

CASE = {"inputs": {"n": 3}, "outputs": ["people"]}


@schema.output(("name", "str"), ("age", "int"))
def people(n: int) -> pd.DataFrame:
    return pd.DataFrame({"name": [f"p{i}" for i in range(n)], "age": [20 + i for i in range(n)]})
