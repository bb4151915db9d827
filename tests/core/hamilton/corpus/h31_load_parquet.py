"""@load_from.parquet."""
import pandas as pd
from hamilton.function_modifiers import load_from, source

CASE = {"files": {"pq_path": ("t.parquet", "frame:a=1,2,3")}, "inputs": {}, "outputs": ["doubled"]}


@load_from.parquet(path=source("pq_path"))
def doubled(table: pd.DataFrame) -> pd.DataFrame:
    return table * 2
