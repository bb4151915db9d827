"""@subdag reuses functions under a namespace with inputs and config."""
from hamilton.function_modifiers import config, source, subdag, value

CASE = {"inputs": {"raw_a": 3, "raw_b": 10}, "outputs": ["summary_a", "summary_b"]}


def scaled(x: int, factor: int) -> int:
    return x * factor


@config.when(mode="plus")
def adjusted__plus(scaled: int) -> int:
    return scaled + 1


@config.when(mode="minus")
def adjusted__minus(scaled: int) -> int:
    return scaled - 1


@subdag(scaled, adjusted__plus, adjusted__minus, inputs={"x": source("raw_a"), "factor": value(2)},
        config={"mode": "plus"})
def summary_a(adjusted: int) -> str:
    return f"a={adjusted}"


@subdag(scaled, adjusted__plus, adjusted__minus, inputs={"x": source("raw_b"), "factor": value(5)},
        config={"mode": "minus"}, namespace="bee")
def summary_b(adjusted: int, scaled: int) -> str:
    return f"b={adjusted}/{scaled}"
