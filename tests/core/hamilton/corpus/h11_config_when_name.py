"""config.when(..., name=...) names the node explicitly."""
from hamilton.function_modifiers import config

CASE = {"configs": [{"v": 1}, {"v": 2}], "inputs": {"x": 2}, "outputs": ["result"]}


@config.when(v=1, name="result")
def result_version_one(x: int) -> int:
    return x + 1


@config.when(v=2, name="result")
def result_version_two(x: int) -> int:
    return x + 2
