"""@parameterize_values (one output per literal)."""
from hamilton.function_modifiers import parameterize_values

CASE = {"inputs": {"x": 5}, "outputs": ["plus_one", "plus_ten"]}


@parameterize_values(parameter="k", assigned_output={("plus_one", "x + 1"): 1, ("plus_ten", "x + 10"): 10})
def plus(x: int, k: int) -> int:
    return x + k
