"""pipe_output with named steps and a namespace."""
from hamilton.function_modifiers import pipe_output, step, value

CASE = {"inputs": {"text": "  Hello  "}, "outputs": ["normalised"]}


def _strip(s: str) -> str:
    return s.strip()


def _case(s: str, upper: bool) -> str:
    return s.upper() if upper else s.lower()


@pipe_output(step(_strip).named("stripped"), step(_case, upper=value(True)).named("cased"), namespace="norm")
def normalised(text: str) -> str:
    return text + "!"
