"""A fully cached run replayed from the record of the last run of its plan
(``engine.caching.warm_runs``): no node versioned, no entry read but the outputs', the same
results, records and history as node by node — and never where anything the record was made of
changed: each such change must give what the node-by-node path gives."""

from __future__ import annotations

import importlib
import sqlite3
import sys
import uuid
from pathlib import Path

import pytest
from stores import authentications, forget_recorded_runs, importable

from engine import Driver

HELPER = "SCALE = int(__import__('os').environ.get('RIPPLE_TEST_WARM_SCALE', '2'))\n\n\ndef twice(x):\n    return x * SCALE\n"

BODY = """from {helper} import twice
from pathlib import Path


def a(start: int) -> int:
    return start + 1


def b(a: int) -> int:
    return twice(a)


DATA = Path(__file__).with_name("data.txt")


def c(b: int) -> int:
    return b + len(DATA.read_text())  # a read the run observes: no input names the file


def d(c: int, b: int) -> int:
    return c * 10 + b
"""


class Pipe:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"warm_{uuid.uuid4().hex[:8]}"
        self.helper = self.name + "_helper"
        self.data = root / "data.txt"
        self.data.write_text("xyz")
        (root / f"{self.helper}.py").write_text(HELPER)
        (root / f"{self.name}.py").write_text(BODY.format(helper=self.helper))

    def driver(self, **kw) -> Driver:
        """A new driver over freshly imported modules: a new process, as far as the cache knows."""
        for m in (self.name, self.helper):
            sys.modules.pop(m, None)
        importlib.invalidate_caches()
        return Driver({}, importlib.import_module(self.name)).with_cache(self.root / "store", **kw)

    def run(self, start: int = 1, **kw):
        dr = self.driver(**kw)
        result = dr.run(["d"], inputs={"start": start})
        return dr, result


@pytest.fixture
def pipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pipe:
    importable(tmp_path, monkeypatch, "RIPPLE_TEST_WARM_SCALE")
    return Pipe(tmp_path)


def _statuses(result) -> dict[str, str]:
    return {n: r.status for n, r in result.records.items()}


def _replayed(dr: Driver) -> bool:
    return dr.cache.versioner.persisted.reused == 0 and not dr.cache.versioner.sources._by_content


def _expected(start: int = 1, scale: int = 2, data: str = "xyz") -> int:
    b = (start + 1) * scale
    return (b + len(data)) * 10 + b


def test_a_fully_cached_run_is_replayed_with_the_results_and_history_of_a_node_by_node_one(pipe: Pipe) -> None:
    pipe.run()  # cold: runs everything, records the run
    dr, result = pipe.run()
    assert result.outputs == {"d": _expected()} and set(_statuses(result).values()) == {"cached"}
    assert _replayed(dr), "the warm run versioned its nodes instead of replaying the record"
    store = dr.cache.store
    last, before = store.runs(limit=2)
    assert (last.cached, last.ran) == (4, 0)
    nodes = {r.node: r for r in store.run_nodes(last.run_id)}
    cold = {r.node: r for r in store.run_nodes(before.run_id)}
    assert set(nodes) == {"a", "b", "c", "d"} and all(r.hit for r in nodes.values())
    assert {n: (r.key, r.data_version, r.code_version) for n, r in nodes.items()} == \
        {n: (r.key, r.data_version, r.code_version) for n, r in cold.items()}
    assert dr.cache.decision("b").hit and dr.cache.decision("b").previous.node == "b"
    assert dr.cache.explain("b").startswith("b: hit — unchanged since ")


def test_a_replayed_run_reads_only_the_entries_it_returns(pipe: Pipe) -> None:
    pipe.run()
    dr = pipe.driver()
    store = dr.cache.store
    checked = authentications(store)
    result = dr.run(["d"], inputs={"start": 1})
    assert result.outputs == {"d": _expected()} and _replayed(dr)
    assert checked == ["d"]


@pytest.mark.parametrize("change", ["helper file", "constant from the environment", "input value", "data file read",
                                    "node body", "upstream entry deleted", "upstream entry replaced"])
def test_anything_the_record_was_made_of_changing_gives_what_node_by_node_gives(
        pipe: Pipe, change: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe.run()
    pipe.run()  # replayed
    start, scale, data = 1, 2, "xyz"
    if change == "helper file":
        (pipe.root / f"{pipe.helper}.py").write_text(HELPER.replace("x * SCALE", "x * SCALE * 3"))
        scale = 6
    elif change == "constant from the environment":
        monkeypatch.setenv("RIPPLE_TEST_WARM_SCALE", "5")
        scale = 5
    elif change == "input value":
        start = 4
    elif change == "data file read":
        pipe.data.write_text("abcdef")
        data = "abcdef"
    elif change == "node body":
        src = (pipe.root / f"{pipe.name}.py").read_text()
        (pipe.root / f"{pipe.name}.py").write_text(src.replace("return c * 10 + b", "return c * 10 + b + 0"))
    else:
        db = sqlite3.connect(pipe.root / "store" / "meta.sqlite")
        with db:
            if change == "upstream entry deleted":
                db.execute("DELETE FROM entries WHERE node = 'b'")
            else:  # as a forced recompute of a node whose value differs each time would leave it
                db.execute("UPDATE entries SET data_version = 'another' WHERE node = 'b'")
        db.close()
    dr, result = pipe.run(start)
    assert result.outputs == {"d": _expected(start, scale, data)}
    assert not _replayed(dr) or change.startswith("upstream"), f"replayed after a change of the {change}"
    assert "ran" in set(_statuses(result).values()), f"nothing ran after a change of the {change}"


def _rows_value(pipe: Pipe) -> tuple[str, str]:
    db = sqlite3.connect(pipe.root / "store" / "meta.sqlite")
    (k, v), = [(k, v) for k, v in db.execute("SELECT k, v FROM memo WHERE k LIKE 'run:%'") if k.endswith("\0rows")]
    db.close()
    return k, v


def _set_memo(pipe: Pipe, k: str, v: str) -> None:
    db = sqlite3.connect(pipe.root / "store" / "meta.sqlite")
    with db:
        db.execute("UPDATE memo SET v = ? WHERE k = ?", (v, k))
    db.close()


def test_a_planted_record_replays_nothing(pipe: Pipe) -> None:
    pipe.run()
    k, v = _rows_value(pipe)
    _set_memo(pipe, k, v[:32] + v[32:].replace('"d",', '"d", ', 1))
    dr, result = pipe.run()
    assert result.outputs == {"d": _expected()} and not _replayed(dr)
    assert set(_statuses(result).values()) == {"cached"}  # node by node, still every node a hit


def test_the_rows_of_an_older_record_restored_replay_nothing(pipe: Pipe) -> None:
    """The rows are a value of their own (a failing check after an edit never reads them); each
    value is sealed on its own, so an older, validly sealed rows value put back under the current
    head would serve the older run's results: the head names its rows by digest."""
    pipe.run(1)
    _, older = _rows_value(pipe)
    pipe.run(2)
    k, _ = _rows_value(pipe)
    _set_memo(pipe, k, older)
    dr, result = pipe.run(2)
    assert result.outputs == {"d": _expected(2)} and not _replayed(dr)


def test_a_damaged_output_of_a_replayed_run_is_computed_again(pipe: Pipe) -> None:
    pipe.run()
    db = sqlite3.connect(pipe.root / "store" / "meta.sqlite")
    with db:  # the output's row still there, its value not what was stored: it fails its MAC
        db.execute("UPDATE entries SET inline = x'00' WHERE node = 'd'")
    db.close()
    dr, result = pipe.run()
    assert result.outputs == {"d": _expected()} and _statuses(result)["d"] == "ran"
    again, result = pipe.run()
    assert result.outputs == {"d": _expected()} and set(_statuses(result).values()) == {"cached"}


def test_a_plan_with_another_behavior_or_overrides_is_not_replayed(pipe: Pipe) -> None:
    pipe.run()
    dr, result = pipe.run(behaviors={"b": "recompute"})
    assert _statuses(result)["b"] == "ran" and result.outputs == {"d": _expected()}
    dr = pipe.driver()
    result = dr.run(["d"], inputs={"start": 1}, overrides={"b": 100})
    assert result.outputs == {"d": (100 + 3) * 10 + 100} and not _replayed(dr)


def test_one_record_per_plan_runs_alternating_inputs_go_node_by_node(pipe: Pipe) -> None:
    pipe.run(1)
    pipe.run(2)
    dr, result = pipe.run(1)  # the record is of start=2's run
    assert result.outputs == {"d": _expected(1)} and set(_statuses(result).values()) == {"cached"}
    assert not _replayed(dr)
    dr, result = pipe.run(1)
    assert result.outputs == {"d": _expected(1)} and _replayed(dr)


def test_a_plan_of_a_recorded_run_is_replayed_too(pipe: Pipe) -> None:
    """``ripple plan``, the plan ``ripple run`` prints and the dashboard's: a dry session replays as a
    run does (and records nothing)."""
    pipe.run()
    dr = pipe.driver()
    assert [(n, will) for n, will, _ in dr.plan(["d"], inputs={"start": 1})] == [
        ("a", "hit"), ("b", "hit"), ("c", "hit"), ("d", "hit")]
    assert _replayed(dr)
    dr = pipe.driver()
    assert [(n, will) for n, will, _ in dr.plan(["d"], inputs={"start": 2})] == [
        ("a", "run"), ("b", "may run"), ("c", "may run"), ("d", "may run")]


def test_a_store_keeps_the_most_recent_records_only(pipe: Pipe, monkeypatch: pytest.MonkeyPatch) -> None:
    """One record per set of outputs: a dashboard user running to each node of a large pipeline in
    turn would leave one each; a store keeps the ``MAX_RECORDS`` most recent besides the newest."""
    from engine.caching import warm_runs

    monkeypatch.setattr(warm_runs, "MAX_RECORDS", 2)
    for outputs in (["a"], ["b"], ["c"], ["d"]):
        pipe.driver().run(outputs, inputs={"start": 1})
    db = sqlite3.connect(pipe.root / "store" / "meta.sqlite")
    heads = [k for k, in db.execute("SELECT k FROM memo WHERE k LIKE 'run:%'") if not k.endswith("\0rows")]
    db.close()
    assert len(heads) == 3  # the two most recent before the last run's, and the last run's
    dr, result = pipe.run()  # the newest plan's record (["d"]) still replays
    assert result.outputs == {"d": _expected()} and _replayed(dr)


FANNED = """from pathlib import Path

from engine import Collect, Parallelizable

FACTOR = Path(__file__).with_name("factor.txt")


def a(start: int) -> int:
    return start + 1


def items(a: int) -> Parallelizable[int]:
    yield from range(a)


def scaled(items: int) -> int:
    return items * int(FACTOR.read_text())  # each item's entry records the read


def total(scaled: Collect[int]) -> int:
    return sum(scaled)


def report(total: int, a: int) -> int:
    return total * 100 + a
"""


@pytest.fixture
def fanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pipe:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    pipe = Pipe(tmp_path)
    (tmp_path / f"{pipe.name}.py").write_text(FANNED)
    (tmp_path / "factor.txt").write_text("2")
    return pipe


def _fanned_run(pipe: Pipe) -> tuple[Driver, object]:
    dr = pipe.driver()
    return dr, dr.run(["report"], inputs={"start": 2})


def test_a_plan_with_a_fan_out_is_replayed_around_it_with_the_history_of_a_node_by_node_run(fanned: Pipe) -> None:
    _, cold = _fanned_run(fanned)
    assert cold.outputs == {"report": (0 + 2 + 4) * 100 + 3}
    forget_recorded_runs(fanned.root / "store")
    dr, by_node = _fanned_run(fanned)  # node by node: every version recalled
    assert by_node.outputs == cold.outputs and dr.cache.versioner.persisted.reused == 5
    dr, warm = _fanned_run(fanned)
    assert warm.outputs == cold.outputs and set(_statuses(warm).values()) == {"cached"}
    # the fan-out's expander and per-item node are versioned and looked up; a, total, report replayed
    assert dr.cache.versioner.persisted.reused == 2
    assert {n: (r.status, r.why) for n, r in warm.records.items()} == \
        {n: (r.status, r.why) for n, r in by_node.records.items()}
    store = dr.cache.store
    last, before = store.runs(limit=2)
    nodes = {r.node: (r.key, r.data_version, r.code_version) for r in store.run_nodes(last.run_id)}
    by_node_rows = {r.node: (r.key, r.data_version, r.code_version) for r in store.run_nodes(before.run_id)}
    assert set(nodes) == {"a", "items", "scaled", "total", "report"} and nodes == by_node_rows
    assert all(w == "hit" for _, w, _ in dr.plan(["report"], inputs={"start": 2}))


def test_a_fan_out_that_comes_out_otherwise_is_followed_by_what_node_by_node_gives(fanned: Pipe) -> None:
    """The record stays valid (no replayed node's code, inputs or reads changed), but the items'
    entries record a read whose file changed: the items run again to other values, and every node
    downstream of the fan-out must be looked up with them, never served from the record."""
    _fanned_run(fanned)
    _fanned_run(fanned)  # replayed
    (fanned.root / "factor.txt").write_text("5")
    dr = fanned.driver()
    predicted = {n: w for n, w, _ in dr.plan(["report"], inputs={"start": 2})}
    assert predicted["a"] == "hit" and predicted["scaled"] != "hit" and predicted["report"] != "hit"
    result = dr.run(["report"], inputs={"start": 2})
    assert result.outputs == {"report": (0 + 5 + 10) * 100 + 3}
    statuses = _statuses(result)
    assert statuses["a"] == statuses["items"] == "cached"
    assert statuses["scaled"] == statuses["total"] == statuses["report"] == "ran"
    _, again = _fanned_run(fanned)  # and that run is recorded and replayed in turn
    assert again.outputs == result.outputs and set(_statuses(again).values()) == {"cached"}


def test_a_node_computed_again_for_a_damaged_entry_records_what_it_read(pipe: Pipe) -> None:
    """The recomputation a damaged entry gets is recorded as any run of the node is: its new entry
    holds the file it read, so an edit of that file makes it run again."""
    def c() -> object:
        return pipe.driver().run(["c"], inputs={"start": 1})

    c()
    db = sqlite3.connect(pipe.root / "store" / "meta.sqlite")
    with db:  # the row still there, its value not what was stored: it fails its MAC when loaded
        db.execute("UPDATE entries SET inline = x'00' WHERE node = 'c'")
    db.close()
    again = c()
    assert again.outputs == {"c": 4 + 3} and again.records["c"].why == "cached value was damaged"
    pipe.data.write_text("abcdef")
    edited = c()
    assert edited.outputs == {"c": 4 + 6} and edited.records["c"].status == "ran"
