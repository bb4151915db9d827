"""@does replaces the body with a shared implementation."""
from hamilton.function_modifiers import does

CASE = {"inputs": {"a": 1, "b": 2, "c": 3}, "outputs": ["sum_ab", "sum_abc"]}


def _sum(**values: int) -> int:
    return sum(values.values())


@does(_sum)
def sum_ab(a: int, b: int) -> int:
    pass


@does(_sum)
def sum_abc(a: int, b: int, c: int) -> int:
    pass
