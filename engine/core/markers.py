"""The names a pipeline marks its functions with: the fan-out type markers and the cache behaviours.

Apart from the decorators so that building and caching a graph of plain functions, the common
case, reads them without loading the decorator machinery (a few dataclasses, ~1 ms of every run's
startup).
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

#: what ``@cache(behavior=...)``, ``--behavior`` and ``default_behavior`` accept
BEHAVIORS = ("default", "recompute", "disable", "ignore")


class Parallelizable(Generic[T]):
    """Return annotation of a node that yields items; downstream nodes run once per item."""


class Collect(Generic[T]):
    """Parameter annotation that gathers the per-item values of an upstream fan-out into a list."""
