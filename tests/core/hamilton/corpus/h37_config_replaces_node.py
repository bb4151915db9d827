"""A config value named like a node replaces that node (Hamilton's rule)."""
CASE = {"configs": [{"rate": 0.5}], "inputs": {"amount": 10.0}, "outputs": ["charged"]}


def rate() -> float:
    return 0.1


def charged(amount: float, rate: float) -> float:
    return amount * rate
