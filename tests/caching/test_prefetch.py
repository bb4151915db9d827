"""What a run reads of the store before it starts (``engine.store.prefetch``): the rows of every
planned node in one query, each authenticated only when a key asks for it — a store keeps every
entry a node ever had (each upstream value made one; reverting is a hit), a warm run uses one."""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path

import pytest

from engine import Driver

BODY = "def a() -> int:\n    return {a}\n\n\ndef b(a: int) -> int:\n    return a * 2\n\n\ndef c(b: int) -> int:\n    return b + 1\n"


@pytest.fixture
def pipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"prefetch_{uuid.uuid4().hex[:8]}"

    def driver(a: int) -> Driver:
        (tmp_path / f"{name}.py").write_text(BODY.format(a=a))
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        return Driver({}, importlib.import_module(name)).with_cache(tmp_path / "store")

    return driver


def test_a_warm_run_authenticates_only_the_entries_it_uses(pipe) -> None:
    for a in (1, 2, 3, 4, 1):  # b and c get four entries each (one per value of a)
        assert pipe(a).run(["c"]).status == "ok"
    dr = pipe(1)
    store = dr.cache.store
    assert len(store.ls("c")) == 4
    checked: list[str] = []
    real = store._entry

    def counting(row: tuple):
        checked.append(row[1])
        return real(row)

    store._entry = counting  # type: ignore[method-assign]
    result = dr.run(["c"])
    assert result.outputs == {"c": 3} and {r.status for r in result.records.values()} == {"cached"}
    assert sorted(checked) == ["a", "b", "c"]  # not the 4 + 4 + 4 rows read


def test_a_miss_still_sees_every_entry_of_its_node(pipe) -> None:
    assert pipe(1).run(["c"]).status == "ok"
    dr = pipe(5)
    result = dr.run(["c"])
    assert result.records["a"].status == "ran"
    assert dr.cache.decisions["a"].why.startswith("code changed: "), dr.cache.decisions["a"].why
    assert dr.cache.decisions["a"].previous is not None
