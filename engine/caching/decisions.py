"""What the cache decided for a node, and the counters ``dr.cache.stats()`` reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine._records import ValueRecord
from engine.store import Entry


@dataclass(slots=True, eq=False, repr=False)
class Decision(ValueRecord):
    """Why one node hit or ran in the last run (what ``explain`` reports)."""

    node: str
    hit: bool
    why: str
    key: str | None = None
    code_version: str = ""
    previous: Entry | None = None
    changed_parts: list[str] = field(default_factory=list)
    changed_inputs: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    diff: str = ""
    #: the run this explanation compares with (the node's previous run), when the history has it
    against_run: str = ""


@dataclass(slots=True, eq=False, repr=False)
class CacheStats(ValueRecord):
    """Hits and misses of the last run, bytes written and the store's size (``Cache.stats``)."""

    hits: int
    misses: int
    hit_rate: float
    bytes_written: int
    entries: int
    bytes: int
    by_behavior: dict[str, dict[str, int]]
    lifetime_hit_rate: float | None = None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)
