"""Parallelizable fan-out and Collect."""
from hamilton.htypes import Collect, Parallelizable

CASE = {"dynamic": True, "inputs": {"n": 4}, "outputs": ["total"]}


def numbers(n: int) -> Parallelizable[int]:
    yield from range(n)


def squared(numbers: int) -> int:
    return numbers * numbers


def total(squared: Collect[int]) -> int:
    return sum(squared)
