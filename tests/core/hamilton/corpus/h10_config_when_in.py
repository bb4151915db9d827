"""@config.when_in / @config.when_not_in."""
from hamilton.function_modifiers import config

CASE = {"configs": [{"region": "eu"}, {"region": "us"}, {"region": "apac"}], "inputs": {"amount": 10.0},
        "outputs": ["tax"]}


@config.when_in(region=["eu", "uk"])
def tax__vat(amount: float) -> float:
    return amount * 0.2


@config.when_not_in(region=["eu", "uk"])
def tax__sales(amount: float) -> float:
    return amount * 0.07
