"""@pipe_output transforms the function's result."""
from hamilton.function_modifiers import pipe_output, step, value

CASE = {"inputs": {"x": 5}, "outputs": ["shaped", "downstream"]}


def _square(v: int) -> int:
    return v * v


def _plus(v: int, k: int) -> int:
    return v + k


@pipe_output(step(_square), step(_plus, k=value(1)))
def shaped(x: int) -> int:
    return x + 1


def downstream(shaped: int) -> int:
    return shaped * 2
