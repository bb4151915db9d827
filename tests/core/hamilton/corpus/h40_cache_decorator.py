"""@cache(behavior=...) from Hamilton sets the Ripple cache behavior."""
from hamilton.function_modifiers import cache

CASE = {"inputs": {"x": 2}, "outputs": ["fresh", "kept"], "behaviors": {"fresh": "recompute"}}


@cache(behavior="recompute")
def fresh(x: int) -> int:
    return x + 1


def kept(fresh: int) -> int:
    return fresh * 2
