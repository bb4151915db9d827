"""pipe_input on a named parameter with on_input."""
from hamilton.function_modifiers import pipe_input, step, value

CASE = {"inputs": {"left": 2, "right": 3}, "outputs": ["combined"]}


def _times(v: int, k: int) -> int:
    return v * k


@pipe_input(step(_times, k=value(10)), on_input="right")
def combined(left: int, right: int) -> int:
    return left + right
