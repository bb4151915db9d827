"""A run replayed in part (``engine.caching.warm_runs``): after an edit, another input or a
changed file the record no longer holds as a whole, and each row is used only where the node-by-node
path would find the same. Every case here runs twice from the same store — with the record, and
with the record forgotten (node by node) — and must give the same outputs, statuses, predictions,
history and explanations."""

from __future__ import annotations

import importlib
import shutil
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from stores import forget_recorded_runs, importable

from engine import Driver

HELPER = """import os

SCALE = int(os.environ.get("RIPPLE_TEST_PARTIAL_SCALE", "2"))


def twice(x):
    return x * SCALE


def unused(x):
    return x
"""

FIRST = """from {helper} import twice
from pathlib import Path

DATA = Path(__file__).with_name("data.txt")


def a(start: int) -> int:
    return start + 1


def b(a: int) -> int:
    return twice(a)


def c(b: int, offset: int = 3) -> int:
    return b + offset


def text() -> str:
    return DATA.read_text()
"""

SECOND = """def d(c: int, text: str) -> int:
    return c * 10 + len(text)


def e(d: int) -> int:
    return d % 7


def f(e: int, a: int) -> int:
    return e + a
"""

OUTPUTS = ["f", "b"]


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        tag = uuid.uuid4().hex[:8]
        self.helper, self.first, self.second = f"partial_h_{tag}", f"partial_a_{tag}", f"partial_b_{tag}"
        (root / "data.txt").write_text("xyz")
        self.write(self.helper, HELPER)
        self.write(self.first, FIRST.format(helper=self.helper))
        self.write(self.second, SECOND)

    def path(self, module: str) -> Path:
        return self.root / f"{module}.py"

    def write(self, module: str, text: str) -> None:
        self.path(module).write_text(text)

    def edit(self, module: str, old: str, new: str) -> None:
        text = self.path(module).read_text()
        assert old in text
        self.write(module, text.replace(old, new))

    def driver(self, store: Path, **kw: Any) -> Driver:
        """Over freshly imported modules: a new process, as far as the cache knows."""
        for m in (self.first, self.second, self.helper):
            sys.modules.pop(m, None)
        importlib.invalidate_caches()
        return Driver({}, importlib.import_module(self.first), importlib.import_module(self.second)).with_cache(
            store, **kw)

    def run(self, store: Path, start: int = 1, **kw: Any) -> tuple[Driver, dict]:
        dr = self.driver(store, **kw)
        planned: list[tuple[str, str, str]] = []
        dr.bus.add(lambda e: planned.append((e.node, e.will, e.why)) if e.kind == "node_planned" else None)
        result = dr.run(OUTPUTS, inputs={"start": start})
        assert result.status == "ok", result.error
        run = dr.cache.store.runs(limit=1)[0]
        history = {r.node: (r.hit, r.key, r.data_version, r.code_version) for r in dr.cache.store.run_nodes(run.run_id)}
        why = {n: getattr(dr.cache.decision(n), "why", None) for n in result.records}
        return dr, {"outputs": result.outputs, "statuses": {n: r.status for n, r in result.records.items()},
                    "planned": planned, "history": history, "why": why}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    importable(tmp_path, monkeypatch, "RIPPLE_TEST_PARTIAL_SCALE")
    return Project(tmp_path)


def _both(project: Project, start: int = 1, **kw: Any) -> tuple[Driver, dict, dict]:
    """The run with the record, and the same run node by node (a copy of the store without it)."""
    store = project.root / "store"
    plain = project.root / f"plain-{uuid.uuid4().hex[:6]}"
    shutil.copytree(store, plain)
    forget_recorded_runs(plain)
    dr, replayed = project.run(store, start, **kw)
    _, node_by_node = project.run(plain, start, **kw)
    return dr, replayed, node_by_node


def _expected(start: int = 1, scale: int = 2, offset: int = 3, data: str = "xyz", plus: int = 1) -> dict[str, int]:
    a = start + plus
    b = a * scale
    d = (b + offset) * 10 + len(data)
    return {"f": d % 7 + a, "b": b}


EDITS: dict[str, tuple[Callable[[Project, pytest.MonkeyPatch], int], dict[str, int]]] = {
    "a body, the same value": (lambda p, m: p.edit(p.second, "c * 10 + len(text)", "len(text) + c * 10") or 1, {}),
    "a body, another value": (lambda p, m: p.edit(p.first, "start + 1", "start + 2") or 1, {"plus": 2}),
    "lines added above every def": (lambda p, m: p.edit(p.first, "DATA =", "# a note\n\nDATA =") or 1, {}),
    "the helper a node calls": (lambda p, m: p.edit(p.helper, "x * SCALE", "x * SCALE * 3") or 1, {"scale": 6}),
    "another def of the helper's file": (lambda p, m: p.edit(p.helper, "return x\n", "return x + 1\n") or 1, {}),
    "the file a node reads": (lambda p, m: (p.root / "data.txt").write_text("abcdef") and 1, {"data": "abcdef"}),
    "an input": (lambda p, m: 4, {"start": 4}),
    "a constant from the environment": (lambda p, m: m.setenv("RIPPLE_TEST_PARTIAL_SCALE", "5") or 1, {"scale": 5}),
    "a default": (lambda p, m: p.edit(p.first, "offset: int = 3", "offset: int = 4") or 1, {"offset": 4}),
    "a node added": (lambda p, m: p.write(p.second, SECOND + "\n\ndef g(f: int) -> int:\n    return f\n") or 1, {}),
    "a parameter renamed": (lambda p, m: p.edit(p.second, "def e(d: int) -> int:\n    return d % 7",
                                                "def e(c: int) -> int:\n    return (c * 10 + 3) % 7") or 1, {}),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_partial_replay_gives_what_node_by_node_gives(project: Project, edit: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = project.root / "store"
    project.run(store)
    project.run(store)  # replayed whole
    change, expected = EDITS[edit]
    start = change(project, monkeypatch)
    dr, replayed, node_by_node = _both(project, start)
    want = _expected(**expected)
    if edit == "a parameter renamed":
        want = {**want, "f": ((want["b"] + 3) * 10 + 3) % 7 + 2}
    assert replayed["outputs"] == node_by_node["outputs"] == want
    for part in ("statuses", "planned", "history", "why"):
        assert replayed[part] == node_by_node[part], f"{part} differ after {edit}"
    again, _ = project.run(store, start)
    assert again.cache.versioner.persisted.reused == 0 and not again.cache._code, "the run was not recorded anew"


@pytest.mark.parametrize("behavior", ["ignore", "recompute", "disable"])
@pytest.mark.parametrize("edited", [False, True], ids=["as recorded", "and an edit"])
def test_a_node_given_another_behavior_gives_what_node_by_node_gives(project: Project, behavior: str,
                                                                      edited: bool) -> None:
    """An ``ignore``d input is left out of its consumers' keys: one node's behavior changes other
    nodes' keys, which their rows cannot tell. (A ``disable``d node's data version is new in every
    run, and with it its consumers' keys: their history rows differ between any two runs.)"""
    store = project.root / "store"
    project.run(store)
    if edited:
        project.edit(project.second, "return e + a", "return a + e")
    _, replayed, node_by_node = _both(project, behaviors={"text": behavior, "b": behavior})
    if behavior == "disable":
        del replayed["history"], node_by_node["history"]
    assert replayed == node_by_node
    assert replayed["outputs"] == _expected()


def test_nodes_of_an_unedited_file_are_served_without_being_versioned(project: Project) -> None:
    store = project.root / "store"
    project.run(store)
    project.edit(project.second, "c * 10 + len(text)", "len(text) + c * 10")
    dr, replayed, node_by_node = _both(project)
    assert replayed["statuses"] == {"a": "cached", "b": "cached", "c": "cached", "text": "cached",
                                    "d": "ran", "e": "cached", "f": "cached"}
    assert set(dr.cache._code) == {"d", "e", "f"}, "nodes of the unedited files were versioned"


def test_an_edit_reverted_hits_what_the_earlier_version_stored(project: Project) -> None:
    store = project.root / "store"
    project.run(store)
    project.edit(project.first, "start + 1", "start + 2")
    project.run(store)
    project.edit(project.first, "start + 2", "start + 1")
    _, replayed, node_by_node = _both(project)
    assert replayed == node_by_node
    assert set(replayed["statuses"].values()) == {"cached"}


REBINDS = """import sys

FACTOR = 1


def a(start: int) -> int:
    sys.modules[__name__].FACTOR = start  # a node rebinding a module global later nodes read
    return start


def done(a: int) -> bool:
    return True


def c() -> int:
    return 5


def d(c: int, done: bool) -> int:
    return c * FACTOR
"""


@pytest.mark.parametrize("planned", [True, False], ids=["predicted first", "not predicted"])
def test_a_row_is_not_served_once_a_node_that_ran_rebound_what_its_code_refers_to(project: Project,
                                                                                   planned: bool) -> None:
    """``d`` is served only while ``FACTOR`` is what its version was made of: ``a`` runs (its input
    changed) and rebinds it, and ``d``'s inputs come out as recorded, so only the check after user
    code ran tells its row from the node-by-node path's miss (predictions check every row first)."""
    store = project.root / "store"
    project.write(project.second, REBINDS)

    def run(start: int, at: Path = store) -> dict:
        sys.modules.pop(project.second, None)
        importlib.invalidate_caches()
        dr = Driver({}, importlib.import_module(project.second)).with_cache(at)
        if planned:
            dr.bus.add(lambda e: None)
        result = dr.run(["d"], inputs={"start": start})
        return {n: (r.status, result.outputs.get(n)) for n, r in result.records.items()}

    run(1)
    plain = project.root / "plain"
    shutil.copytree(store, plain)
    forget_recorded_runs(plain)
    assert run(2) == run(2, plain) == {"a": ("ran", None), "done": ("ran", None), "c": ("cached", None),
                                       "d": ("ran", 10)}


FANNED = """from engine import Collect, Parallelizable


def a(start: int) -> int:
    return start + 1


def items(a: int) -> Parallelizable[int]:
    yield from range(a)


def scaled(items: int) -> int:
    return items * 2


def total(scaled: Collect[int]) -> int:
    return sum(scaled)


def report(total: int, a: int) -> int:
    return total * 100 + a


def other(a: int) -> int:
    return a * 3
"""


@pytest.mark.parametrize("edit", [("return items * 2", "return items * 3"), ("return total * 100 + a", "return a + total * 100"),
                                  ("return a * 3", "return a * 4"), ("return start + 1", "return start + 2")],
                         ids=["per-item node", "after the fan-out", "beside it", "before it"])
def test_a_partial_replay_around_a_fan_out_gives_what_node_by_node_gives(project: Project, edit: tuple[str, str]) -> None:
    """Fan-out blocks go node by node; a row after one is served only while its inputs come out as recorded."""
    store = project.root / "store"
    project.write(project.second, FANNED)

    def run(at: Path) -> dict:
        sys.modules.pop(project.second, None)
        importlib.invalidate_caches()
        dr = Driver({}, importlib.import_module(project.second)).with_cache(at)
        planned: list[tuple[str, str, str]] = []
        dr.bus.add(lambda e: planned.append((e.node, e.will, e.why)) if e.kind == "node_planned" else None)
        result = dr.run(["report", "other"], inputs={"start": 2})
        return {"outputs": result.outputs, "planned": planned,
                "statuses": {n: r.status for n, r in result.records.items()}}

    run(store)
    run(store)
    project.edit(project.second, *edit)
    plain = project.root / "plain"
    shutil.copytree(store, plain)
    forget_recorded_runs(plain)
    assert run(store) == run(plain)


@pytest.mark.parametrize("executor", [None, "threads"])
def test_a_damaged_entry_a_partial_replay_served_is_computed_again(project: Project, executor: str | None) -> None:
    """``c``'s row is served (its file is unedited) but its stored value no longer passes its check:
    ``d``, which runs (its body was edited), loads it, finds it damaged, and ``c`` is computed again."""
    import sqlite3

    store = project.root / "store"
    project.run(store)
    project.edit(project.second, "c * 10 + len(text)", "len(text) + c * 10")
    db = sqlite3.connect(store / "meta.sqlite")
    with db:
        db.execute("UPDATE entries SET inline = x'00' WHERE node = 'c'")
    db.close()
    dr = project.driver(store)
    if executor:
        dr.with_executor(executor)
    result = dr.run(OUTPUTS, inputs={"start": 1})
    assert result.status == "ok" and result.outputs == _expected()
    assert result.records["c"].status == "ran" and result.records["d"].status == "ran"
    _, again = project.run(store)
    assert again["outputs"] == _expected() and set(again["statuses"].values()) == {"cached"}
