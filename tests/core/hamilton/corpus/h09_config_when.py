"""@config.when / @config.when_not choose implementations."""
from hamilton.function_modifiers import config

CASE = {"configs": [{"mode": "fast"}, {"mode": "slow"}], "inputs": {"x": 3}, "outputs": ["speed", "report"]}


@config.when(mode="fast")
def speed__fast(x: int) -> int:
    return x * 100


@config.when_not(mode="fast")
def speed__slow(x: int) -> int:
    return x


def report(speed: int) -> str:
    return f"speed {speed}"
