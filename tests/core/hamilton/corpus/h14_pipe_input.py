"""@pipe_input with steps bound to value() and source()."""
from hamilton.function_modifiers import pipe_input, source, step, value

CASE = {"inputs": {"raw": 3, "bonus": 100}, "outputs": ["final"]}


def _add(x: int, k: int) -> int:
    return x + k


def _times(x: int, factor: int) -> int:
    return x * factor


@pipe_input(step(_add, k=value(2)), step(_times, factor=value(10)), step(_add, k=source("bonus")).named("bonus_added"))
def final(raw: int) -> int:
    return raw - 1
