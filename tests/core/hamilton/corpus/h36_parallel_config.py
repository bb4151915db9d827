"""Parallel block with a config value and an upstream node used per item."""
from hamilton.htypes import Collect, Parallelizable

CASE = {"dynamic": True, "configs": [{"base_offset": 3}], "inputs": {"words": ["a", "bb", "ccc"]},
        "outputs": ["joined", "report"]}


def offset(base_offset: int) -> int:
    return base_offset * 10


def word(words: list) -> Parallelizable[str]:
    yield from words


def scored(word: str, offset: int) -> str:
    return f"{word}:{len(word) + offset}"


def joined(scored: Collect[str]) -> str:
    return ",".join(scored)


def report(joined: str, offset: int) -> str:
    return f"{offset} {joined}"
