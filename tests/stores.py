"""Helpers for tests that look inside a store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def forget_recorded_runs(store: Path) -> None:
    """Drop the records a fully cached run replays (``engine.caching.warm_runs``): the next run
    goes node by node, the path the tests calling this are about."""
    with sqlite3.connect(Path(store) / "meta.sqlite") as c:
        c.execute("DELETE FROM memo WHERE k LIKE 'run:%'")


def authentications(store: Any) -> list[str]:
    """The nodes whose entry rows ``store`` authenticates from now on, in order (every row a run
    reads is authenticated once: what it reads, seen from outside)."""
    checked: list[str] = []
    real = store._entry

    def counting(row: tuple) -> Any:
        checked.append(row[1])
        return real(row)

    store._entry = counting
    return checked


def importable(folder: Path, monkeypatch: Any, *unset: str) -> None:
    """Modules written to ``folder`` import fresh each time (no bytecode), with the environment
    variables ``unset`` names absent: a test's pipeline, re-imported as a new process would."""
    monkeypatch.setattr("sys.dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(folder))
    for name in unset:
        monkeypatch.delenv(name, raising=False)
