"""@mutate with apply_to and per-target arguments."""
from hamilton.function_modifiers import apply_to, mutate, value

CASE = {"inputs": {"x": 3}, "outputs": ["left", "right"]}


def left(x: int) -> int:
    return x


def right(x: int) -> int:
    return x * 2


@mutate(apply_to(left, k=value(1)), apply_to(right, k=value(100)))
def _shift(v: int, k: int) -> int:
    return v + k
