"""Every kind of damage is repaired within one run, with correct results and no manual cleanup.

Each case damages a real store the way bad luck (bit rot, a crashed writer, a stray tool) would,
then runs the pipeline again through the ``Driver`` and checks the values are right and that the
next run is cached again (the store healed, not merely survived).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine import Driver
from engine.store import Store

PIPE = """
from pathlib import Path

def data_file() -> str:
    return DATA

def content(data_file: str) -> str:
    return Path(data_file).read_text()

def shout(content: str) -> str:
    return content.upper()

def big(shout: str) -> bytes:
    return shout.encode() * 5000
"""


@pytest.fixture(autouse=True)
def _own_key_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def project(tmp_path: Path, make_module):
    data = tmp_path / "data.txt"
    data.write_text("hello")
    mod = make_module(f"DATA = {str(data)!r}\n" + PIPE)
    cache = tmp_path / "cache"

    def run() -> tuple[dict, dict]:
        dr = Driver({}, mod).with_cache(cache)
        try:
            out = dr.execute(["shout", "big"])
            return out, dict(dr.cache.last)
        finally:
            dr.cache.close()

    out, _ = run()
    assert out["shout"] == "HELLO"
    return run, cache, data


def _sql(cache: Path, *statements: str) -> None:
    conn = sqlite3.connect(cache / "meta.sqlite")
    try:
        for s in statements:
            conn.execute(s)
        conn.commit()
    finally:
        conn.close()


def _healed(run, expect: str = "HELLO") -> None:
    out, _ = run()
    assert out["shout"] == expect and out["big"] == expect.encode() * 5000
    out, last = run()
    assert out["shout"] == expect and last["misses"] == 0, "the store healed: the next run is all hits"


@pytest.mark.parametrize("files", ["{not json", "[1, 2]", '{"a": 1}', "null", "\"text\""])
def test_undecodable_or_wrong_typed_files_column_is_a_miss(project, files: str) -> None:
    """Never "no files to check": the data file changed too, and the reader must re-run."""
    run, cache, data = project
    _sql(cache, f"UPDATE entries SET files = '{files}' WHERE node = 'content'")
    data.write_text("changed")
    _healed(run, "CHANGED")


def test_invalid_utf8_in_memo_and_entries(project, caplog) -> None:
    run, cache, _ = project
    _sql(cache, "UPDATE memo SET v = CAST(x'fffe80' AS TEXT)",
         "UPDATE entries SET code_version = CAST(x'c328' AS TEXT) WHERE node = 'shout'")
    with caplog.at_level(logging.WARNING, logger="engine"):
        _healed(run)
    assert sum("does not decode" in r.getMessage() for r in caplog.records) >= 1


@pytest.mark.parametrize("table", ["entries", "memo", "runs", "node_runs", "run_hits"])
def test_dropped_table_is_recreated(project, table: str, caplog) -> None:
    run, cache, _ = project
    _sql(cache, f"DROP TABLE {table}")
    with caplog.at_level(logging.WARNING, logger="engine"):
        _healed(run)
        with Store(cache) as st:  # the history readers heal too (a warm run may never touch node_runs)
            assert st.node_history("shout") and st.run_nodes(st.last_run().run_id)
    assert any("repaired the store's tables" in r.getMessage() for r in caplog.records)


def test_damaged_schema_is_moved_aside(project) -> None:
    run, cache, _ = project
    _sql(cache, "DROP TABLE node_runs", "CREATE TABLE node_runs (whatever TEXT)",
         "ALTER TABLE memo RENAME TO memo_old", "CREATE TABLE memo (k TEXT)")
    _healed(run)
    conn = sqlite3.connect(cache / "meta.sqlite")
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert any(n.startswith("node_runs_damaged_") for n in names)
    assert any(n.startswith("memo_damaged_") for n in names)


def test_directory_where_an_object_file_belongs(project) -> None:
    run, cache, _ = project
    with Store(cache) as st:
        entry = next(e for e in st.ls() if e.node == "big")
        path = st.object_path(entry.data_version)
    path.unlink()
    (path / "junk").mkdir(parents=True)
    _healed(run)
    assert path.is_file()


def test_file_where_an_object_folder_belongs(project) -> None:
    run, cache, _ = project
    with Store(cache) as st:
        entry = next(e for e in st.ls() if e.node == "big")
        folder = st.object_path(entry.data_version).parent
    shutil.rmtree(folder)
    folder.write_text("in the way")
    _healed(run)
    assert folder.is_dir()


def test_file_where_the_objects_folder_belongs(project) -> None:
    run, cache, _ = project
    shutil.rmtree(cache / "objects")
    (cache / "objects").write_text("in the way")
    _healed(run)


def test_temp_files_of_dead_writers_go_at_the_next_open(tmp_path: Path) -> None:
    """A writer SIGKILLed in the middle of a large put leaves a temp file of result size."""
    root = tmp_path / "s"
    code = (
        "import os, signal\n"
        "from engine.store import Store, codec\n"
        f"st = Store({str(root)!r})\n"
        "real = codec._write_all\n"
        "def dying(fd, data):\n"
        "    real(fd, data)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "import engine.store.objects as o\n"
        "o._write_all = dying\n"
        "st.put('k', 'n', 'dv-big', 'cv', b'z' * 1_000_000)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[2])
    assert out.returncode == -signal.SIGKILL, out.stderr
    leftovers = list((root / "objects" / ".tmp").iterdir())
    assert leftovers and leftovers[0].stat().st_size > 0
    mine = root / "objects" / ".tmp" / f"x-{os.getpid()}-abcd"  # a live writer's temp file stays
    mine.write_bytes(b"in progress")
    with Store(root) as st:
        assert not any(p.exists() for p in leftovers) and mine.exists()
        assert st.get("k") is None


def test_garbage_journals_key_mark_and_memo_are_survived(tmp_path: Path) -> None:
    """Bad input where the store reads its own files: random bytes as a dead writer's journal, as the
    key mark and as memo rows. The store opens, reads nothing from them, and keeps working."""
    import random

    rng = random.Random(5)
    root = tmp_path / "s"
    with Store(root) as st:
        st.put("k", "n", "dv", "cv", "kept")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for i in range(5):
        (root / f"journal-{dead.pid}-{i:08x}.log").write_bytes(bytes(rng.randrange(256) for _ in range(500)) + b"\n")
    (root / "key-id").write_bytes(bytes(rng.randrange(256) for _ in range(40)))
    conn = sqlite3.connect(root / "meta.sqlite")
    with conn:
        conn.executemany("INSERT OR REPLACE INTO memo (k, v, t) VALUES (?, ?, 0)",
                         [(f"m{i}", bytes(rng.randrange(256) for _ in range(50)).decode("latin-1")) for i in range(20)])
    conn.close()
    with Store(root) as st:
        assert st.load(st.get("k")) == "kept"
        assert all(st.memo.get(f"m{i}") is None for i in range(20))
        assert not list(root.glob("journal-*.log"))
        st.memo["fresh"] = "value"
    with Store(root) as st:
        assert st.memo["fresh"] == "value"
