"""@dataloader: the function returns (data, metadata)."""
import pandas as pd
from hamilton.function_modifiers import dataloader

CASE = {"inputs": {"n": 4}, "outputs": ["orders", "order_count"]}


@dataloader()
def orders(n: int) -> tuple[pd.DataFrame, dict]:
    df = pd.DataFrame({"id": list(range(n))})
    return df, {"rows": n}


def order_count(orders: pd.DataFrame) -> int:
    return len(orders)
