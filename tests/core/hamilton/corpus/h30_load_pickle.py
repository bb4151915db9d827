"""@load_from.pickle with a literal path taken from config via source()."""
from hamilton.function_modifiers import load_from, source

CASE = {"files": {"blob_path": ("blob.pkl", {"weights": [1, 2, 3]})}, "inputs": {}, "outputs": ["weight_sum"]}


@load_from.pickle(path=source("blob_path"))
def weight_sum(blob: dict) -> int:
    return sum(blob["weights"])
