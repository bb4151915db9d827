"""@load_from.csv with path=source(...) and a value() keyword."""
import pandas as pd
from hamilton.function_modifiers import load_from, source, value

CASE = {"files": {"csv_path": ("people.csv", "name;age\nann;31\nbob;45\n")}, "inputs": {},
        "outputs": ["people", "mean_age"]}


@load_from.csv(path=source("csv_path"), sep=value(";"))
def people(df: pd.DataFrame) -> pd.DataFrame:
    return df


def mean_age(people: pd.DataFrame) -> float:
    return float(people["age"].mean())
