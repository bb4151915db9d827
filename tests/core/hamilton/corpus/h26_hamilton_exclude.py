"""@hamilton_exclude keeps a public helper out of the DAG."""
from hamilton.function_modifiers import hamilton_exclude

CASE = {"inputs": {"x": 6}, "outputs": ["halved"], "absent": ["helper"]}


@hamilton_exclude
def helper(v: int) -> int:
    return v // 2


def halved(x: int) -> int:
    return helper(x)
