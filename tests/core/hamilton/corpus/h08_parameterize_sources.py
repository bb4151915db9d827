"""@parameterize_sources (one output per upstream mapping)."""
from hamilton.function_modifiers import parameterize_sources

CASE = {"inputs": {"p": 2, "q": 3, "r": 4}, "outputs": ["pq", "qr"]}


@parameterize_sources(pq={"left": "p", "right": "q"}, qr={"left": "q", "right": "r"})
def product(left: int, right: int) -> int:
    return left * right
