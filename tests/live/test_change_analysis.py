"""Watch mode's "did this definition change" and the cache key come from one normaliser, so they
cannot disagree: a renamed local variable is no change for both, a changed body is a change for both."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine import Driver
from engine.live.code_index import diff_symbols, parse_module

BEFORE = '''
def total(values: list) -> int:
    acc = 0
    for v in values:
        acc += v
    return acc
'''
RENAMED_LOCAL = BEFORE.replace("acc", "running")
CHANGED_BODY = BEFORE.replace("acc += v", "acc += 2 * v")


def _watch_sees_change(tmp_path: Path, old: str, new: str) -> bool:
    path = tmp_path / "edit_mod.py"
    path.write_text(old)
    before = parse_module(str(path), "edit_mod")
    path.write_text(new)
    after = parse_module(str(path), "edit_mod")
    changed, added, removed = diff_symbols(before, after)
    return bool(changed or added or removed)


def _cache_reruns(tmp_path: Path, old: str, new: str) -> bool:
    mod = tmp_path / "cache_mod.py"
    store = tmp_path / "store"
    ran = []
    for source in (old, new):
        mod.write_text(source)
        sys.modules.pop("cache_mod", None)
        dr = Driver(str(mod)).with_cache(store)
        dr.add_listener(lambda e: ran.append(e.node) if e.kind == "node_finished" else None)
        dr.execute(["total"], inputs={"values": [1, 2, 3]})
    sys.modules.pop("cache_mod", None)
    return ran.count("total") == 2


@pytest.mark.parametrize(("edit", "changed"), [(RENAMED_LOCAL, False), (CHANGED_BODY, True)],
                         ids=["renamed local", "changed body"])
def test_watch_and_cache_agree(tmp_path: Path, edit: str, changed: bool) -> None:
    assert _watch_sees_change(tmp_path, BEFORE, edit) is changed
    assert _cache_reruns(tmp_path, BEFORE, edit) is changed
