"""The store's guarantees, exercised on real SQLite databases and real files.

Reliability tests start real processes: concurrent writers through ``multiprocessing`` (spawn), and
a writer that is SIGKILLed in the middle of writing big objects.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.errors import RippleError, UsageError
from engine.store import (
    INLINE_LIMIT,
    Entry,
    EntryDamaged,
    Store,
    StoreError,
    Unstorable,
    parse_age,
    parse_size,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / ".ripple"


@pytest.fixture
def store(root: Path):
    s = Store(root)
    yield s
    s.close()


def big(i: int, n: int = 8192) -> np.ndarray:
    """An array large enough (64 KiB+) to be stored as a file."""
    return np.full(n, i, dtype=np.int64)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def raw(root: Path) -> sqlite3.Connection:
    """A second, independent connection: sees only what the store committed."""
    return sqlite3.connect(root / "meta.sqlite")


# ---- round trips ---------------------------------------------------------------------------------


def test_inline_round_trip(store: Store) -> None:
    value = {"a": [1, 2.5, "x", (1, 2)], "b": None, "c": b"bytes"}
    e = store.put(
        "k", "node", "dv1", "cv1", value, deps={"x": "d1"}, code_parts={"self": "c"}, files={"f": "v"}
    )
    assert e.is_inline and e.size < INLINE_LIMIT
    got = store.get("k")
    assert got is not None and got.is_inline and got.inline is None  # value not fetched eagerly
    assert (got.node, got.data_version, got.code_version) == ("node", "dv1", "cv1")
    assert got.deps == {"x": "d1"} and got.code_parts == {"self": "c"} and got.files == {"f": "v"}
    assert store.load(got) == value
    assert not list(store.objects.rglob("*")), "small values must not create files"


def test_numpy_20mb_round_trip(store: Store) -> None:
    a = np.random.default_rng(0).random(20 * 1024 * 1024 // 8)
    e = store.put("k", "arr", "dv-big", "cv", a)
    assert not e.is_inline
    path = store.object_path("dv-big")
    assert path.exists() and path.stat().st_size == e.size
    assert e.size < a.nbytes + 4096, "buffers are stored raw, not re-pickled"
    b = store.load(store.get("k"))
    assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)
    assert b.flags.writeable and b.flags.aligned
    b[0] = 42.0  # restored over a private bytearray: mutating it is safe


def test_pandas_and_odd_arrays_round_trip(store: Store) -> None:
    df = pd.DataFrame(
        {
            "i": np.arange(50_000),
            "f": np.linspace(0, 1, 50_000),
            "s": [f"row{i}" for i in range(50_000)],
            "c": pd.Categorical(["a", "b"] * 25_000),
        },
        index=pd.RangeIndex(50_000, name="idx"),
    )
    store.put("df", "df", "dv-df", "cv", df)
    pd.testing.assert_frame_equal(store.load(store.get("df")), df)

    strided = np.arange(40_000, dtype=np.float32).reshape(200, 200)[::2, ::3]  # non-contiguous
    fortran = np.asfortranarray(np.arange(30_000, dtype=np.int16).reshape(100, 300))
    small = np.arange(10, dtype=np.complex128)  # inline with an out-of-band buffer
    for key, v in {"strided": strided, "fortran": fortran, "small": small}.items():
        store.put(key, key, f"dv-{key}", "cv", v)
        got = store.load(store.get(key))
        assert np.array_equal(got, v) and got.dtype == v.dtype
        got.flat[0] = 1  # writable even when stored inline
    assert store.get("small").is_inline


def test_unsafe_data_version_names_are_hashed(store: Store) -> None:
    dv = "a/b+c==../x"
    store.put("k", "n", dv, "cv", big(3))
    path = store.object_path(dv)
    assert path.parent.parent == store.objects and "/" not in path.name
    assert np.array_equal(store.load(store.get("k")), big(3))


def test_unstorable_value_writes_nothing(store: Store) -> None:
    import threading

    for bad in (threading.Lock(), lambda x: x):
        with pytest.raises(Unstorable) as info:
            store.put("k", "n", "dv", "cv", bad)
        assert isinstance(info.value, RippleError)
    assert store.get("k") is None and store.stats().entries == 0


def test_last_writer_wins(store: Store) -> None:
    store.put("k", "n", "dv1", "cv", "first")
    store.put("k", "n", "dv2", "cv", "second")
    e = store.get("k")
    assert e.data_version == "dv2" and store.load(e) == "second"


# ---- layout and permissions ----------------------------------------------------------------------


def test_permissions_and_gitignore_regardless_of_umask(root: Path) -> None:
    old = os.umask(0)
    try:
        with Store(root) as s:
            s.put("k", "n", "dvfile", "cv", big(1))
            s.put("k2", "n", "dvinline", "cv", 1)
            path = s.object_path("dvfile")
            files = [root / "meta.sqlite", root / ".gitignore", path]
            files += [p for p in (root / "meta.sqlite-wal", root / "meta.sqlite-shm") if p.exists()]
            for f in files:
                assert mode(f) == 0o600, f
            for d in (root, root / "objects", path.parent):
                assert mode(d) == 0o700, d
    finally:
        os.umask(old)
    assert (root / ".gitignore").read_text().strip() == "*"


# ---- damage is a miss, never wrong data ------------------------------------------------------------


def test_truncated_object_is_damaged_then_gone(store: Store) -> None:
    store.put("k", "n", "dv", "cv", big(7))
    path = store.object_path("dv")
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    e = store.get("k")
    assert not store.has_value(e)
    with pytest.raises(EntryDamaged):
        store.load(e)
    assert store.get("k") is None
    assert not path.exists()


def test_flipped_byte_fails_checksum(store: Store) -> None:
    store.put("k", "n", "dv", "cv", big(7))
    path = store.object_path("dv")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the array: pickle would happily load it
    path.write_bytes(bytes(data))
    with pytest.raises(EntryDamaged, match="checksum"):
        store.load(store.get("k"))
    assert store.get("k") is None


def test_missing_object_is_damaged(store: Store) -> None:
    store.put("k", "n", "dv", "cv", big(7))
    store.object_path("dv").unlink()
    e = store.get("k")
    assert not store.has_value(e)
    with pytest.raises(EntryDamaged, match="missing"):
        store.load(e)
    assert store.get("k") is None


def test_corrupted_inline_value_is_damaged(store: Store, root: Path) -> None:
    store.put("k", "n", "dv", "cv", list(range(100)))
    with raw(root) as c:
        blob = bytearray(c.execute("SELECT inline FROM entries WHERE key='k'").fetchone()[0])
        blob[-3] ^= 0xFF
        c.execute("UPDATE entries SET inline=? WHERE key='k'", (bytes(blob),))
    with pytest.raises(EntryDamaged):
        store.load(store.get("k"))
    assert store.get("k") is None


class Vanishing:
    """Stored, then deleted from this module: simulates a class that no longer exists."""

    def __init__(self) -> None:
        self.x = 1


def test_unpicklable_stored_value_is_damaged(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put("k", "n", "dv", "cv", Vanishing())
    monkeypatch.delattr(sys.modules[__name__], "Vanishing")
    with pytest.raises(EntryDamaged, match="deserialise"):
        store.load(store.get("k"))
    assert store.get("k") is None


def test_equal_value_other_serialisation_shares_file(store: Store) -> None:
    """Equal values can pickle differently (dict/set order): the content-addressed file is adopted."""
    keys = [f"key{i:05d}" for i in range(3000)]
    v1 = {k: i for i, k in enumerate(keys)}
    v2 = {k: v1[k] for k in reversed(keys)}
    assert v1 == v2
    e1 = store.put("k1", "n", "dv-same", "cv", v1)
    e2 = store.put("k2", "n", "dv-same", "cv", v2)
    # no rewrite, adopted the vouched file: one value MAC (the part before the row MAC)
    assert not e1.is_inline and e2.checksum.partition(".")[0] == e1.checksum.partition(".")[0]
    assert store.load(store.get("k1")) == v1 and store.load(store.get("k2")) == v2


# ---- corrupt database ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage", [b"this is not a database" * 200, b"SQLite format 3\x00" + os.urandom(8192)]
)
def test_corrupt_database_is_moved_aside(root: Path, garbage: bytes) -> None:
    with Store(root) as s:
        s.put("k", "n", "dv", "cv", 1)
    for suffix in ("-wal", "-shm"):
        Path(str(root / "meta.sqlite") + suffix).unlink(missing_ok=True)
    (root / "meta.sqlite").write_bytes(garbage)
    with Store(root) as s:
        assert s.get("k") is None
        s.put("k", "n", "dv", "cv", 2)
        assert s.load(s.get("k")) == 2
    assert list(root.glob("meta.sqlite.corrupt-*"))


def test_corruption_found_later_is_a_miss_not_a_crash(root: Path) -> None:
    with Store(root) as s, s.batch():
        for i in range(400):
            s.put(f"k{i}", f"n{i}", f"dv{i}", "cv", "x" * 2000 + str(i))
    with raw(root) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = root / "meta.sqlite"
    data = bytearray(db.read_bytes())
    page = 4096
    for off in range(3 * page, len(data), 2 * page):  # wreck every other page after the schema
        data[off : off + page] = os.urandom(page)
    db.write_bytes(bytes(data))
    with Store(root) as s:
        for i in range(400):
            try:
                e = s.get(f"k{i}")
                if e is not None:
                    assert s.load(e) == "x" * 2000 + str(i)
            except EntryDamaged:
                pass
        s.put("new", "n", "dvnew", "cv", 5)
        assert s.load(s.get("new")) == 5


def test_newer_schema_is_refused(root: Path) -> None:
    Store(root).close()
    with raw(root) as c:
        c.execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="newer Ripple"):
        Store(root)


# ---- concurrency ---------------------------------------------------------------------------------


def _concurrent_writer(root: str, worker: int, start, n: int) -> None:
    start.wait()
    s = Store(root)
    with s.batch():
        for i in range(n):
            value = big(worker * 1000 + i) if i % 25 == 0 else {"w": worker, "i": i}
            s.put(f"w{worker}-{i}", f"node{i}", f"dv-{worker}-{i}", "cv", value, compute_seconds=0.1)
            if i % 40 == 0:  # readers and writers interleave
                other = s.get(f"w{(worker + 1) % 3}-{i}")
                if other is not None:
                    s.load(other)
            if i % 50 == 0:  # unbatched history writes in between
                s.start_run(f"run-{worker}-{i}", "p", ["x"])
                s.record_nodes(f"run-{worker}-{i}", [{"node": f"node{i}", "status": "ran"}])
                s.finish_run(f"run-{worker}-{i}", "ok", ran=1)
    # shared content-addressed objects written by every process at once
    for j in range(5):
        s.put(f"shared-{worker}-{j}", "shared", f"dv-shared-{j}", "cv", big(10**6 + j))
    s.memo[f"memo-{worker}"] = str(worker)
    s.close()


def test_concurrent_writers_from_three_processes(root: Path) -> None:
    Store(root).close()
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_concurrent_writer, args=(str(root), w, start, 200)) for w in range(3)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(90)
        assert p.exitcode == 0
    with Store(root) as s:
        assert s.stats().entries == 3 * 200 + 15
        for w in range(3):
            for i in range(200):
                e = s.get(f"w{w}-{i}")
                assert e is not None
                expected = big(w * 1000 + i) if i % 25 == 0 else {"w": w, "i": i}
                got = s.load(e)
                assert np.array_equal(got, expected) if i % 25 == 0 else got == expected
            for j in range(5):
                assert np.array_equal(s.load(s.get(f"shared-{w}-{j}")), big(10**6 + j))
            assert s.memo[f"memo-{w}"] == str(w)
        assert len(s.runs(100)) == 12


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from engine.store import Store

    s = Store(sys.argv[1])
    i = 0
    while True:
        n = 2_000_000 + i  # 16 MB: the kill lands mid-write most of the time
        if i % 3 == 2:
            with s.batch():  # batched small entries next to big ones
                for j in range(50):
                    s.put(f"small-{i}-{j}", "small", f"dv-small-{i}-{j}", "cv", [i, j])
        s.put(f"big-{i}", "big", f"dv-big-{i % 4}-{n}", "cv", np.full(n, i, dtype=np.int64))
        print(i, flush=True)
        i += 1
    """
)


def test_kill_minus_9_mid_write_never_yields_wrong_data(root: Path) -> None:
    Store(root).close()
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for round_ in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(root)], stdout=subprocess.PIPE, env=env, text=True
        )
        try:
            for _ in range(2 + round_):  # let it finish a few objects, then kill it mid-stream
                assert child.stdout.readline(), "writer died on its own"
            time.sleep(0.01 + 0.03 * round_)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    with Store(root) as s:
        loaded = damaged = 0
        for e in s.ls():
            try:
                value = s.load(e)
            except EntryDamaged:
                damaged += 1
                continue
            loaded += 1
            if e.node == "big":
                i = int(e.key.split("-")[1])
                assert value.shape == (2_000_000 + i,) and (value == i).all()
            else:
                _, i, j = e.key.split("-")
                assert value == [int(i), int(j)]
        assert loaded > 0
        # an interrupted write leaves at most a temp file, which gc removes
        s.gc(grace=0)
        assert not list(s.objects.rglob(".tmp-*")) and not list(s.objects.glob(".tmp/*"))
        for e in s.ls():
            assert e.is_inline or s.has_value(e)


def test_threads_share_one_store(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(t: int) -> None:
        ctx = store.batch() if t % 2 else contextlib.nullcontext()
        with ctx:
            for i in range(100):
                value = big(t * 100 + i) if i % 10 == 0 else (t, i)
                store.put(f"t{t}-{i}", f"n{i}", f"dv-t{t}-{i}", "cv", value)
                got = store.load(store.get(f"t{t}-{i}"))
                assert np.array_equal(got, value) if i % 10 == 0 else got == value
                store.memo[f"t{t}-{i}"] = "x"

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    store.commit()
    assert store.stats().entries == 800 and len(store.memo) == 800


# ---- batching, memo, last_used -------------------------------------------------------------------


def test_batch_groups_puts_into_few_transactions(store: Store, root: Path) -> None:
    commits: list[str] = []
    store._conn().set_trace_callback(lambda sql: commits.append(sql) if sql.startswith("COMMIT") else None)
    with store.batch():
        for i in range(300):
            store.put(f"k{i}", "n", f"dv{i}", "cv", i)
        assert store.get("k5") is not None  # pending entries are visible to this store
        assert store.load(store.get("k5")) == 5
        assert store.entries_for(["n"])["n"][0].key == "k299"
    assert len(commits) <= 3
    with raw(root) as c:
        assert c.execute("SELECT count(*) FROM entries").fetchone()[0] == 300


def test_memo_is_buffered_and_persistent(root: Path) -> None:
    s = Store(root)
    s.memo["a"] = "1"
    s.memo["b"] = "2"
    assert s.memo["a"] == "1" and "b" in s.memo
    with raw(root) as c:
        assert c.execute("SELECT count(*) FROM memo").fetchone()[0] == 0  # not written yet
    s.commit()
    with raw(root) as c:
        assert c.execute("SELECT count(*) FROM memo").fetchone()[0] == 2
    del s.memo["b"]
    s.memo["c"] = "3"
    s.close()
    with Store(root) as s2:
        assert dict(s2.memo) == {"a": "1", "c": "3"}
        assert len(s2.memo) == 2 and "b" not in s2.memo
        with pytest.raises(KeyError):
            s2.memo["b"]


def test_last_used_updates_lazily(store: Store, root: Path) -> None:
    store.put("k", "n", "dv", "cv", 1, created=1000.0)
    store.load(store.get("k"))
    with raw(root) as c:
        assert c.execute("SELECT last_used FROM entries").fetchone()[0] == 1000.0
    store.commit()
    with raw(root) as c:
        assert c.execute("SELECT last_used FROM entries").fetchone()[0] > time.time() - 60


def test_entries_for_is_one_query(store: Store) -> None:
    with store.batch():
        for i in range(1200):
            store.put(f"k{i}", f"node{i}", f"dv{i}", "cv", i)
            if i % 10 == 0:
                store.put(f"old{i}", f"node{i}", f"olddv{i}", "cv", -i, created=1.0)
    statements: list[str] = []
    store._conn().set_trace_callback(statements.append)
    result = store.entries_for([f"node{i}" for i in range(1200)] + ["nope"])
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert len(result) == 1201 and result["nope"] == []
    assert [e.key for e in result["node10"]] == ["k10", "old10"]  # newest first
    assert store.latest_entry("node10").key == "k10"
    assert store.load(result["node7"][0]) == 7


# ---- prune / gc / delete / clear -----------------------------------------------------------------


def test_prune_by_size_evicts_cheapest_per_byte_first(store: Store) -> None:
    # (compute seconds, array length): value = seconds / bytes
    spec = {"cheap": (0.1, 20_000), "dear": (100.0, 20_000), "mid": (5.0, 20_000), "midold": (5.0, 20_000)}
    for i, (name, (secs, n)) in enumerate(spec.items()):
        created = 1000.0 if name == "midold" else 2000.0
        store.put(name, name, f"dv-{name}", "cv", big(i, n), compute_seconds=secs, created=created)
    size = store.get("cheap").size
    report = store.prune(max_size=2 * size)
    assert sorted(report.keys) == ["cheap", "midold"]  # cheapest first; tie on value → older first
    assert report.removed == 2 and report.freed_bytes >= 2 * size
    assert {e.key for e in store.ls()} == {"dear", "mid"}
    assert not store.object_path("dv-cheap").exists()


def test_prune_older_than_keep_and_useless(store: Store) -> None:
    now = time.time()
    store.put("old", "a", "dv1", "cv", 1, created=now - 10 * 86400)
    store.put("old-kept", "a", "dv2", "cv", 2, created=now - 10 * 86400)
    store.put("new", "a", "dv3", "cv", 3)
    store.put("stale-code", "b", "dv4", "cv-old", 4)
    report = store.prune(
        older_than=parse_age("7d"),
        keep=lambda e: e.key == "old-kept",
        useless=lambda e: e.code_version == "cv-old",
    )
    assert sorted(report.keys) == ["old", "stale-code"]
    assert {e.key for e in store.ls()} == {"old-kept", "new"}


def test_shared_object_survives_while_referenced(store: Store) -> None:
    store.put("k1", "a", "dv-shared", "cv", big(5), compute_seconds=0.0)
    store.put("k2", "b", "dv-shared", "cv", big(5), compute_seconds=100.0)
    path = store.object_path("dv-shared")
    # one directory, one file (plus the folder temp files are written in)
    assert len([p for p in store.objects.rglob("*") if p.name != ".tmp"]) == 2
    report = store.prune(max_size=path.stat().st_size)  # still fits: the file counts once
    assert report.removed == 0
    store.prune(useless=lambda e: e.key == "k1")
    assert path.exists() and np.array_equal(store.load(store.get("k2")), big(5))
    assert store.delete(["k2"]) == 1
    assert not path.exists()


def test_gc_removes_orphans_and_old_temp_files(store: Store) -> None:
    store.put("k", "n", "dv-live", "cv", big(1))
    store.put("gone", "n", "dv-orphan", "cv", big(2))
    orphan = store.object_path("dv-orphan")
    with raw(store.root) as c:
        c.execute("DELETE FROM entries WHERE key='gone'")  # e.g. replaced by another writer
    young_orphan = orphan.parent / "youngorphan"
    young_orphan.write_bytes(b"x")
    tmp = store.object_path("dv-live").parent / ".tmp-abandoned"
    tmp.write_bytes(b"partial")
    hour_ago = time.time() - 7200
    for p in (orphan, tmp):
        os.utime(p, (hour_ago, hour_ago))
    report = store.gc()
    assert report.removed == 2
    assert not orphan.exists() and not tmp.exists()
    assert young_orphan.exists() and store.object_path("dv-live").exists()


def test_clear_and_stats(store: Store) -> None:
    store.put("a", "n", "dv-a", "cv", 1)
    store.put("b", "n", "dv-b", "cv", big(1))
    store.start_run("r1", "p", ["n"], started=1.0)
    st = store.stats()
    assert st.entries == 2 and st.runs == 1
    assert st.file_bytes == store.get("b").size and st.inline_bytes == store.get("a").size
    assert st.bytes == st.file_bytes + st.inline_bytes and st.oldest <= st.newest
    store.clear()
    st = store.stats()
    assert (st.entries, st.bytes, st.runs, st.oldest) == (0, 0, 0, None)
    assert not any(p.is_file() for p in store.objects.rglob("*"))
    store.put("c", "n", "dv-c", "cv", big(2))  # still fully usable
    assert np.array_equal(store.load(store.get("c")), big(2))


# ---- history -------------------------------------------------------------------------------------


def test_history_records_and_retention(root: Path) -> None:
    with Store(root, history_limit=5) as s:
        for r in range(8):
            s.start_run(f"run{r}", "pipe" if r % 2 else "other", ["out"], started=100.0 + r)
            s.record_nodes(
                f"run{r}",
                [
                    {
                        "node": "a",
                        "status": "ran",
                        "seconds": 0.5,
                        "hit": False,
                        "why": "code changed",
                        "started": 100.0 + r,
                    },
                    {
                        "node": "b",
                        "status": "failed",
                        "error": "boom",
                        "traceback": "Traceback...",
                        "started": 100.5 + r,
                    },
                ],
            )
            s.finish_run(f"run{r}", "ok", ran=1, failed=1, seconds=1.0, finished=101.0 + r)
        runs = s.runs()
        assert [r.run_id for r in runs] == ["run7", "run6", "run5", "run4", "run3"]
        assert runs[0].outputs == ["out"] and runs[0].status == "ok" and runs[0].failed == 1
        assert s.last_run().run_id == "run7" and s.last_run("other").run_id == "run6"
        hist = s.node_history("a")
        assert [h.run_id for h in hist] == ["run7", "run6", "run5", "run4", "run3"]
        assert hist[0].hit is False and hist[0].why == "code changed"
        last_b = s.last_node_run("b")
        assert last_b.error == "boom" and last_b.traceback == "Traceback..."
        with raw(root) as c:
            assert c.execute("SELECT count(*) FROM node_runs").fetchone()[0] == 10
        assert s.trim_history(2) == 3
        assert [r.run_id for r in s.runs()] == ["run7", "run6"]


def _hit(node: str, run: int) -> dict:
    return {"node": node, "status": "cached", "hit": True, "seconds": 0.0001, "why": "unchanged since 2026-11-25 12:41",
            "key": f"k{node}{run}", "data_version": f"d{node}", "code_version": f"c{node}"}


def test_hits_are_packed_one_row_per_run_and_read_back_merged(root: Path) -> None:
    """A warm run's hits cost one history row, yet every reader sees one record per node as before."""
    with Store(root, history_limit=4) as s:
        for r in range(6):
            s.start_run(f"run{r}", "pipe", ["c"], started=100.0 + r)
            ran = {"node": "b", "status": "ran", "seconds": 0.25, "hit": False, "why": "code changed", "key": f"kb{r}"}
            recs = [_hit("a", r), _hit("c", r) if r % 2 else {**_hit("c", r), "status": "ran", "hit": False}]
            s.record_nodes(f"run{r}", [*recs, ran] if r != 3 else [*recs, _hit("b", r)])
            s.finish_run(f"run{r}", "ok", finished=101.0 + r)
        with raw(root) as c:
            assert c.execute("SELECT count(*) FROM run_hits").fetchone()[0] == 4  # trimmed to the newest 4 runs
            assert c.execute("SELECT count(*) FROM node_runs WHERE hit=1").fetchone()[0] == 0
        nodes = s.run_nodes("run5")
        assert [(n.node, n.status, n.hit) for n in nodes] == [("a", "cached", True), ("c", "cached", True),
                                                               ("b", "ran", False)]
        a = nodes[0]
        assert (a.key, a.data_version, a.code_version, a.why, a.seconds) == (
            "ka5", "da", "ca", "unchanged since 2026-11-25 12:41", 0.0001)
        hist = s.node_history("b")
        assert [(h.run_id, h.status) for h in hist] == [("run5", "ran"), ("run4", "ran"), ("run3", "cached"),
                                                        ("run2", "ran")]
        assert [h.run_id for h in s.node_history("c", limit=3)] == ["run5", "run4", "run3"]
        assert s.node_history("c", limit=3)[1].hit is False
        bulk = s.node_histories(["a", "b", "c", "nope"], limit=3)
        assert bulk["nope"] == []
        for n in "abc":
            assert bulk[n] == s.node_history(n, limit=3)
        assert s.last_node_run("a").run_id == "run5"


def test_a_hit_that_cannot_be_packed_is_an_ordinary_row(root: Path) -> None:
    with Store(root) as s:
        s.start_run("r", "pipe", [], started=1.0)
        s.record_nodes("r", [{**_hit("a", 0), "why": "odd\twhy"}, _hit("b", 0)])
        s.record_nodes("r", [_hit("c", 0)])  # a second batch for the same run appends
        assert [(n.node, n.why) for n in s.run_nodes("r")] == [
            ("b", "unchanged since 2026-11-25 12:41"), ("c", "unchanged since 2026-11-25 12:41"), ("a", "odd\twhy")]
        s.clear()
        assert s.run_nodes("r") == [] and s.node_history("b") == []


def test_a_prefetch_by_code_version_reads_the_other_entries_only_when_asked(root: Path) -> None:
    """The versions given are guesses: a key or a miss that needs a node's other entries reads them
    (once), so a wrong guess costs a read, never a hit. A short history is read whole, unguessed."""
    queries: list[str] = []
    with Store(root) as s:
        for i, cv in enumerate(("cv1", "cv2", "cv3")):
            s.put(f"a{i}", "a", f"dva{i}", cv, i)
            s.put(f"b{i}", "b", f"dvb{i}", cv, i)
        s.commit()
        with s.batch():
            s.put("a9", "a", "dva9", "cv3", 9)  # written, not committed yet: found all the same
            s._conn().set_trace_callback(queries.append)
            p = s.prefetch(["a", "b"], lambda names: {"a": "cv3"})  # 7 entries of 2 nodes: a long history
            n = len(queries)
            assert p.has_version("a", "cv3") and p.get("a2").data_version == "dva2" and p.get("a9").key == "a9"
            assert p.get("b0").key == "b0" and len(queries) == n  # b was read whole; a's other versions not yet
            assert p.get("a0").key == "a0" and len(queries) == n + 1  # not among the rows read: the rest is read
            assert [e.key for e in p.of("a")] == ["a9", "a2", "a1", "a0"] and p.get("nope") is None
            assert len(p.of("b")) == 3 and len(queries) == n + 1
            s._conn().set_trace_callback(None)
        s.put("c0", "c", "dvc0", "cv1", 0)
        s.put("c1", "c", "dvc1", "cv2", 1)
        asked: list[list[str]] = []
        short = s.prefetch(["c"], lambda names: asked.append(names) or {"c": "cv1"})  # 2 entries, 1 node
        assert asked == [] and {e.key for e in short.of("c")} == {"c0", "c1"}


def test_a_nodes_prefetched_entries_are_authenticated_only_when_that_node_is_asked_for(root: Path) -> None:
    """A miss explaining itself asks for its node's entries: that checks the MACs of that node's rows,
    not of every row the run read; a row that fails its MAC is left out all the same."""
    with Store(root) as s:
        for node in "abc":
            for i in range(3):
                s.put(f"{node}{i}", node, f"dv{node}{i}", f"cv{i}", i)
        s.commit()
        with raw(root) as c:
            c.execute("UPDATE entries SET data_version = 'planted' WHERE key = 'c1'")
        checked: list[str] = []
        entry = s._entry
        s._entry = lambda row: checked.append(row[0]) or entry(row)  # type: ignore[method-assign]
        p = s.prefetch(["a", "b", "c"])
        assert [e.key for e in p.of("b")] == ["b2", "b1", "b0"] and sorted(checked) == ["b0", "b1", "b2"]
        assert p.get("a1").key == "a1" and checked[-1] == "a1"
        assert [e.key for e in p.of("a")] == ["a2", "a1", "a0"] and sorted(checked[3:]) == ["a0", "a1", "a2"]
        assert [e.key for e in p.of("c")] == ["c2", "c0"] and p.get("c1") is None
        assert p.of("b")[0] is p.get("b2") and len(checked) == 9  # each row checked once


def _hit_tuple(node: str, run: int, why: str = "unchanged since 2026-11-25 12:41") -> tuple:
    h = _hit(node, run)
    return (node, h["seconds"], h["key"], h["data_version"], h["code_version"], why, 5.0)


def test_hits_given_as_tuples_at_the_close_read_back_as_records_do(root: Path) -> None:
    """What a run's session hands ``finish_run`` for its hits (no dict per hit) is the same history."""
    with Store(root) as s:
        s.start_run("r", "pipe", [], started=1.0)
        s.finish_run("r", "ok", cached=3, records=[{"node": "b", "status": "ran", "seconds": 0.5, "hit": False}],
                     hits=[_hit_tuple("a", 0), _hit_tuple("c", 0, why="odd\nwhy")])
        nodes = {n.node: n for n in s.run_nodes("r")}
        with raw(root) as c:
            assert c.execute("SELECT count(*) FROM node_runs").fetchone()[0] == 2  # b, and c: it cannot be packed
        assert [(n.status, n.hit) for n in nodes.values()] == [("cached", True), ("ran", False), ("cached", True)]
        a = nodes["a"]
        assert (a.key, a.data_version, a.code_version, a.why, a.seconds, a.started) == (
            "ka0", "da", "ca", "unchanged since 2026-11-25 12:41", 0.0001, 5.0)
        assert (nodes["c"].why, nodes["c"].key, nodes["c"].started) == ("odd\nwhy", "kc0", 5.0)
        assert s.runs()[0].cached == 3


# ---- parsing -------------------------------------------------------------------------------------


def test_parse_size() -> None:
    assert parse_size("500MB") == 500 * 2**20
    assert parse_size("2G") == 2 * 2**30
    assert parse_size("10k") == 10 * 1024
    assert parse_size("1.5GiB") == int(1.5 * 2**30)
    assert parse_size("123") == 123 and parse_size(4096) == 4096 and parse_size("7 b") == 7
    for bad in ("", "abc", "5XB", "-1M", "1.2.3G", "iB", -5, True):
        with pytest.raises(UsageError, match="invalid size"):
            parse_size(bad)  # type: ignore[arg-type]


def test_parse_age() -> None:
    assert parse_age("7d") == 7 * 86400
    assert parse_age("12h") == 12 * 3600
    assert parse_age("30m") == 1800
    assert parse_age("90s") == 90 and parse_age("90") == 90 and parse_age(5) == 5.0
    assert parse_age("1d12h") == 1.5 * 86400 and parse_age("2w") == 14 * 86400
    for bad in ("", "soon", "7x", "-1d", "d", -3):
        with pytest.raises(UsageError, match="invalid age"):
            parse_age(bad)  # type: ignore[arg-type]


def test_entry_json_fields_decode_lazily(store: Store) -> None:
    store.put("k", "n", "dv", "cv", 1, deps={"p": "v"})
    e = store.get("k")
    assert isinstance(e.__dict__["_deps"], str)  # still text after the fetch
    assert e.deps == {"p": "v"} and isinstance(e.__dict__["_deps"], dict)
    assert Entry("k", "n", "dv", "cv", 1, 0.0, 0.0, 0.0).deps == {}
