"""What a run reads of the store before it starts (``engine.store.prefetch``): the rows of every
planned node in one query, each authenticated only when a key asks for it — a store keeps every
entry a node ever had (each upstream value made one; reverting is a hit), a warm run uses one. Of a
node whose code version is known before the run (stored by an earlier process and unchanged), only
that version's rows are read; its others when a miss asks for them."""

from __future__ import annotations

import importlib
import shutil
import sqlite3
import sys
import uuid
from pathlib import Path

import pytest
from stores import authentications, forget_recorded_runs

from engine import Driver

BODY = "def a() -> int:\n    return {a}\n\n\ndef b(a: int) -> int:\n    return a * 2\n\n\ndef c(b: int) -> int:\n    return b + 1\n"


VERSIONED = ("def a() -> int:\n    return {a}\n\n\ndef b(a: int) -> int:\n    return a * 2 + 0 * {v}\n\n\n"
             "def c(b: int) -> int:\n    return b + 1 + 0 * {v}\n")


@pytest.fixture
def pipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"prefetch_{uuid.uuid4().hex[:8]}"

    def driver(a: int, v: int | None = None) -> Driver:
        (tmp_path / f"{name}.py").write_text(BODY.format(a=a) if v is None else VERSIONED.format(a=a, v=v))
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        if (tmp_path / "store").exists():
            forget_recorded_runs(tmp_path / "store")  # node by node: what these tests are about
        return Driver({}, importlib.import_module(name)).with_cache(tmp_path / "store")

    return driver


def test_a_warm_run_authenticates_only_the_entries_it_uses(pipe) -> None:
    for a in (1, 2, 3, 4, 1):  # b and c get four entries each (one per value of a)
        assert pipe(a).run(["c"]).status == "ok"
    dr = pipe(1)
    store = dr.cache.store
    assert len(store.ls("c")) == 4
    checked = authentications(store)
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


def _prefetches(dr: Driver, monkeypatch: pytest.MonkeyPatch) -> list:
    seen: list = []
    real = dr.cache.store.prefetch

    def keep(*args, **kwargs):
        seen.append(real(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(dr.cache.store, "prefetch", keep)
    return seen


def test_a_warm_run_reads_only_the_entries_of_its_code_versions(pipe, monkeypatch: pytest.MonkeyPatch) -> None:
    for v in (1, 2, 3, 4):  # every node: four code versions, an entry each
        assert pipe(1, v).run(["c"]).status == "ok"
    dr = pipe(1, 4)  # a new driver, as a new process: its versions are recalled
    seen = _prefetches(dr, monkeypatch)
    result = dr.run(["c"])
    assert {r.status for r in result.records.values()} == {"cached"} and result.outputs == {"c": 3}
    assert dr.cache.versioner.persisted.reused == 3
    assert len(dr.cache.store.ls("c")) == 4
    assert len(seen[0]._rows) == 3  # one row per node, not the twelve stored


def test_a_miss_of_a_node_of_known_code_reads_its_other_entries(pipe, monkeypatch: pytest.MonkeyPatch) -> None:
    """b's code is unchanged (its version is recalled), its input is not: the miss is explained
    against b's previous entry, and the plan says b may run, from the entries of b's version."""
    for v in (1, 2):
        assert pipe(1, v).run(["c"]).status == "ok"
    dr = pipe(7, 2)
    seen = _prefetches(dr, monkeypatch)
    assert [(n, will) for n, will, _ in dr.plan(["c"])] == [("a", "run"), ("b", "may run"), ("c", "may run")]
    result = dr.run(["c"])
    assert result.outputs == {"c": 15} and result.records["b"].status == "ran"
    assert dr.cache.decisions["b"].why.startswith("upstream a changed") and dr.cache.decisions["b"].previous is not None
    assert all(len(p._rows) > 3 for p in seen)  # the miss read b's and c's other entries too


FROM_ENV = ("import os\n\nFACTOR = int(os.environ.get('RIPPLE_TEST_FACTOR', '1'))\n\n\n"
            "def a() -> int:\n    return {a}\n\n\ndef b(a: int) -> int:\n    return a * FACTOR\n\n\ndef c(b: int) -> int:\n    return b + 1\n")


def test_a_version_other_than_the_one_read_ahead_by_still_hits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The read-ahead guesses each node's version from its stored record and unchanged files; a
    constant read from the environment changes the version without changing a file: the entry of
    the version the run does compute is still found (a second read), never a miss."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"prefetch_env_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(FROM_ENV.format(a=5))

    def run(factor: str):
        monkeypatch.setenv("RIPPLE_TEST_FACTOR", factor)
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        dr = Driver({}, importlib.import_module(name)).with_cache(tmp_path / "store")
        seen = _prefetches(dr, monkeypatch)
        return dr.run(["c"]), seen

    for factor in ("1", "2", "3", "4"):  # 9 entries of 3 nodes: a history long enough to read by guess
        assert run(factor)[0].status == "ok"
    forget_recorded_runs(tmp_path / "store")  # node by node: a replay in part reads ahead nothing of its rows
    result, seen = run("1")  # b's stored record is of FACTOR=4: the guess is wrong
    assert result.outputs == {"c": 6}
    assert {n: r.status for n, r in result.records.items()} == {"a": "cached", "b": "cached", "c": "cached"}
    assert len(seen[0]._rows) == 9  # a's one row, b's guessed one, c's four: then b's others, for its key


READS_SCALE = ("SCALE = 1\n\n\ndef early() -> int:\n    return SCALE\n\n\n"
               "def scaled(configure: int, early: int) -> int:\n    return 10 * SCALE + configure\n")
REBINDS = "import sys\n\n\ndef configure() -> int:\n    sys.modules[{pipe!r}].SCALE = {s}\n    return 0\n"
READS_CONFIG = ("CONFIG = {{'scale': 1}}\n\n\ndef early() -> int:\n    return CONFIG['scale']\n\n\n"
                "def scaled(configure: int, early: int) -> int:\n    return 10 * CONFIG['scale'] + configure\n")
MUTATES = "import sys\n\n\ndef configure() -> int:\n    sys.modules[{pipe!r}].CONFIG['scale'] = {s}\n    return 0\n"


@pytest.mark.parametrize(("reads", "writes"), [(READS_SCALE, REBINDS), (READS_CONFIG, MUTATES)],
                         ids=["rebound global", "mutated dict"])
def test_a_node_that_rebinds_a_global_another_reads_never_makes_a_stale_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                              reads: str, writes: str) -> None:
    """``configure`` (another file) sets the module's SCALE (or its CONFIG dict's entry) at run
    time, before ``scaled`` is looked up; editing it changes what ``scaled`` computes though neither its file nor its input does. The
    version ``scaled`` is looked up by must be what SCALE is after ``configure`` ran: not one made
    when the run started (the read-ahead only guesses; a plan's dry pass versions every node first),
    nor one resting on what SCALE was when ``early``, looked up before ``configure`` ran, read it."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    tag = uuid.uuid4().hex[:8]
    pipe, cfg = f"scaled_{tag}", f"zz_configure_{tag}"  # zz: ``early`` comes first in the run
    (tmp_path / f"{pipe}.py").write_text(reads.format())

    def run(s: int, plan: bool) -> dict:
        (tmp_path / f"{cfg}.py").write_text(writes.format(pipe=pipe, s=s))
        for m in (pipe, cfg):
            sys.modules.pop(m, None)
        importlib.invalidate_caches()
        modules = [importlib.import_module(pipe), importlib.import_module(cfg)]
        dr = Driver({}, *modules).with_cache(tmp_path / "store")
        if plan:
            dr.add_listener(lambda event: None)  # a listener of every kind: the run makes its plan first
        result = dr.run(["scaled"])
        assert list(result.records) == ["early", "configure", "scaled"]
        return result.outputs

    for plan in (False, True):
        assert run(1, plan) == {"scaled": 10}
        assert run(1, plan) == {"scaled": 10}
        assert run(3, plan) == {"scaled": 30}, "a result of SCALE = 1 was served where SCALE is 3"
        shutil.rmtree(tmp_path / "store")


def test_a_prediction_authenticates_only_the_entries_it_looks_up(pipe) -> None:
    """After an edit, a's miss explains itself from a's entries; that b and c may run (each has an
    entry of its code) is read from their rows' code versions, without checking their MACs."""
    for a in (1, 2, 3):
        assert pipe(a).run(["c"]).status == "ok"
    dr = pipe(9)
    checked = authentications(dr.cache.store)
    assert [(n, will) for n, will, _ in dr.plan(["c"])] == [("a", "run"), ("b", "may run"), ("c", "may run")]
    assert set(checked) == {"a"}  # a's rows (and the full row of the entry its miss is explained against)


def test_a_planted_row_can_make_a_node_only_may_run_never_a_hit(pipe) -> None:
    """What the prediction reads unauthenticated can only make it less certain: a planted row of
    c's new code makes c "may run" instead of "will run", and the run still runs c."""
    assert pipe(1, 1).run(["c"]).status == "ok"
    dr = pipe(1, 2)  # b's and c's code changed: no entry of their new code
    assert [(n, will) for n, will, _ in dr.plan(["c"])] == [("a", "hit"), ("b", "run"), ("c", "run")]
    cv = dr.cache.code_version(dr.graph.nodes["c"]).digest
    store = dr.cache.store
    store.commit()
    conn = sqlite3.connect(store.db_path)
    with conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(entries)")]
        row = dict(zip(cols, conn.execute("SELECT * FROM entries WHERE node = 'c'").fetchone()))
        row.update(key="planted", code_version=cv)
        conn.execute(f"INSERT INTO entries ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    conn.close()
    dr = pipe(1, 2)
    assert [(n, will) for n, will, _ in dr.plan(["c"])] == [("a", "hit"), ("b", "run"), ("c", "may run")]
    result = dr.run(["c"])
    assert result.outputs == {"c": 3} and result.records["c"].status == "ran"
