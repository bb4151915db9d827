"""@inject with group() as a list and as a dict."""
from hamilton.function_modifiers import group, inject, source, value

CASE = {"inputs": {"a": 1, "b": 2, "c": 3}, "outputs": ["as_list", "as_dict"]}


@inject(items=group(source("a"), source("b"), value(10)))
def as_list(items: list[int]) -> list[int]:
    return items


@inject(named=group(first=source("a"), third=source("c")))
def as_dict(named: dict[str, int]) -> dict:
    return dict(named)
