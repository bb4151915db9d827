"""@datasaver: the function saves and returns metadata."""
import json

import pandas as pd
from hamilton.function_modifiers import datasaver

CASE = {"files": {"report_path": ("report.json", None)}, "inputs": {"n": 2}, "outputs": ["saved_report"],
        "written": "report_path"}


def report(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n))})


@datasaver()
def saved_report(report: pd.DataFrame, report_path: str) -> dict:
    with open(report_path, "w") as fh:
        json.dump(report.to_dict(orient="list"), fh)
    return {"path": report_path, "rows": len(report)}
