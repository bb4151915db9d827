"""@resolve picks the decorator from config when the graph is built."""
import pandas as pd
from hamilton.function_modifiers import ResolveAt, extract_columns, resolve

CASE = {"configs": [{"columns": ["a", "b"]}], "inputs": {}, "outputs": ["a", "b"], "power_user": True}


@resolve(when=ResolveAt.CONFIG_AVAILABLE, decorate_with=lambda columns: extract_columns(*columns))
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2], "b": [3, 4], "c": [5, 6]})
