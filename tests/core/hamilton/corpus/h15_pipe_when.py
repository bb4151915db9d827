"""pipe_input steps switched by config with .when()."""
from hamilton.function_modifiers import pipe_input, step, value

CASE = {"configs": [{"clip": True}, {"clip": False}], "inputs": {"signal": 42}, "outputs": ["cleaned"]}


def _clip(x: int, hi: int) -> int:
    return min(x, hi)


def _neg(x: int) -> int:
    return -x


@pipe_input(step(_clip, hi=value(10)).when(clip=True), step(_neg))
def cleaned(signal: int) -> int:
    return signal
