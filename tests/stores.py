"""Helpers for tests that look inside a store."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def forget_recorded_runs(store: Path) -> None:
    """Drop the records a fully cached run replays (``engine.caching.warm_runs``): the next run
    goes node by node, the path the tests calling this are about."""
    with sqlite3.connect(Path(store) / "meta.sqlite") as c:
        c.execute("DELETE FROM memo WHERE k LIKE 'run:%'")
