"""@save_to.csv writes a node's value; the saver node returns metadata."""
import pandas as pd
from hamilton.function_modifiers import save_to, source

CASE = {"files": {"out_path": ("out.csv", None)}, "inputs": {"n": 3}, "outputs": ["frame", "save_frame"],
        "compare": ["frame"], "written": "out_path"}


@save_to.csv(path=source("out_path"), output_name_="save_frame")
def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"i": list(range(n)), "sq": [i * i for i in range(n)]})
