"""@parameterized_subdag: one namespaced subdag per output."""
from hamilton.function_modifiers import parameterized_subdag, source, value

CASE = {"inputs": {"eu_sales": 100.0, "us_sales": 250.0}, "outputs": ["eu_report", "us_report"]}


def taxed(sales: float, rate: float) -> float:
    return sales * (1 + rate)


@parameterized_subdag(
    taxed,
    eu_report={"inputs": {"sales": source("eu_sales"), "rate": value(0.2)}},
    us_report={"inputs": {"sales": source("us_sales"), "rate": value(0.07)}},
)
def report(taxed: float) -> float:
    return round(taxed, 2)
