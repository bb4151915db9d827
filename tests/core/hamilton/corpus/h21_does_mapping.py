"""@does with an argument mapping."""
from hamilton.function_modifiers import does

CASE = {"inputs": {"numerator": 9.0, "denominator": 3.0}, "outputs": ["ratio"]}


def _divide(top: float, bottom: float) -> float:
    return top / bottom


@does(_divide, top="numerator", bottom="denominator")
def ratio(numerator: float, denominator: float) -> float:
    pass
