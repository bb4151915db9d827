"""The history keeps each node's input versions (schema v2), and a v1 store is migrated in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.store import DB_NAME, SCHEMA_VERSION, Store
from engine.store.schema import _SCHEMA

V1_NODE_RUNS = """CREATE TABLE IF NOT EXISTS node_runs (
    run_id TEXT NOT NULL, node TEXT NOT NULL, status TEXT, seconds REAL, hit INT, why TEXT, key TEXT,
    data_version TEXT, code_version TEXT, error TEXT, traceback TEXT, started REAL
)"""


def _v1_store(root: Path) -> None:
    """A store as Ripple wrote it before v2: node_runs without ``deps``, one recorded run."""
    root.mkdir(mode=0o700)
    conn = sqlite3.connect(root / DB_NAME)
    conn.execute(V1_NODE_RUNS)
    for stmt in _SCHEMA.split(";"):
        if stmt.strip() and "CREATE TABLE IF NOT EXISTS node_runs" not in stmt:
            conn.execute(stmt)
    conn.execute("INSERT INTO runs VALUES ('old', 'pipe', 1.0, 2.0, 'ok', '[\"b\"]', 1, 0, 0, 0, 1.0)")
    conn.execute("INSERT INTO node_runs VALUES ('old', 'b', 'ran', 0.5, 0, 'no cached result', 'k1', 'dv1', "
                 "'cv1', NULL, NULL, NULL)")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()


def test_a_v1_store_is_migrated_and_keeps_its_history(tmp_path: Path) -> None:
    root = tmp_path / "store"
    _v1_store(root)
    with Store(root) as st:
        (old,) = st.run_nodes("old")
        assert (old.node, old.status, old.code_version, old.deps) == ("b", "ran", "cv1", None)
        st.start_run("new", "pipe", ["b"], 3.0)
        st.record_nodes("new", [{"node": "b", "status": "ran", "seconds": 0.4, "code_version": "cv2",
                                 "deps": {"a": "dv-a"}}])
        st.finish_run("new", "ok", ran=1)
        st.commit()
    conn = sqlite3.connect(root / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    conn.close()
    with Store(root) as st:
        newest, oldest = st.node_history("b")
        assert newest.deps == {"a": "dv-a"} and newest.code_version == "cv2"
        assert oldest.run_id == "old" and oldest.deps is None
        assert st.node_histories(["b", "x"])["b"][0].deps == {"a": "dv-a"}


def test_a_fresh_store_records_input_versions(tmp_path: Path) -> None:
    with Store(tmp_path / "s") as st:
        st.start_run("r", "p", ["n"])
        st.record_nodes("r", [{"node": "n", "status": "failed", "deps": {"x": "1", "y": "2"}},
                              {"node": "m", "status": "cached", "hit": True, "key": "k"}])
        st.commit()
        recs = {r.node: r for r in st.run_nodes("r")}
        assert recs["n"].deps == {"x": "1", "y": "2"}
        assert recs["m"].hit and recs["m"].deps is None  # a packed hit: its inputs are its entry's deps


def _indexes(root: Path) -> set[str]:
    conn = sqlite3.connect(root / DB_NAME)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='entries' "
                                           "AND name NOT LIKE 'sqlite_autoindex%'")}
    finally:
        conn.close()


def test_a_v2_store_gets_the_entries_index_by_code_version_and_keeps_its_entries(tmp_path: Path) -> None:
    """v3 reads a run's entries by (node, code version): a v2 store's index by (node, created) is
    replaced in place, as a new store has it."""
    fresh, old = tmp_path / "fresh", tmp_path / "old"
    Store(fresh).close()
    with Store(old) as st:
        st.put("k1", "b", "dv1", "cv1", 41)
        st.put("k2", "b", "dv2", "cv2", 42)
        st.commit()
    conn = sqlite3.connect(old / DB_NAME)
    conn.execute("DROP INDEX entries_node_version")
    conn.execute("CREATE INDEX entries_node ON entries(node, created)")
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    with Store(old) as st:
        pre = st.prefetch(["b"], lambda names: {"b": "cv2"})
        assert pre.has_version("b", "cv2") and [e.key for e in pre.of("b")] == ["k2", "k1"]
        assert st.load(st.get("k1")) == 41
    assert _indexes(old) == _indexes(fresh) == {"entries_node_version", "entries_dv"}
