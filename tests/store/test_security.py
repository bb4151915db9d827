"""Nobody who can only write the cache directory can run code or plant a result through it.

The tamper tests plant the attacker's best shot: a pickle whose ``__reduce__`` creates a sentinel
file, framed exactly as the store frames values, with the checksum column recomputed the way the
store used to compute it (xxh3) and, for good measure, left as the genuine row's. The sentinel must
never appear, and the value served must be the genuine one (or a recomputation).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import xxhash
from processes import kill_batched_writer

from engine import Driver
from engine.errors import UsageError
from engine.store import EntryDamaged, Store, StoreError
from engine.store.codec import _serialize
from engine.store.keys import StoreKey, load_key


@pytest.fixture(autouse=True)
def _own_key_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own per-user key folder (the real ~/.config is never touched)."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for var in ("RIPPLE_CACHE_KEY", "RIPPLE_CACHE_KEY_FILE", "RIPPLE_ENCRYPT"):
        monkeypatch.delenv(var, raising=False)
    return home


class Evil:
    """Unpickling this creates ``path``: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.path}",))


def _frame(value: object) -> bytes:
    parts, _ = _serialize(value)
    return b"".join(bytes(p) for p in parts)


def _plant(db: Path, key: str, data: bytes, *, inline: bool, checksum: str | None) -> None:
    conn = sqlite3.connect(db)
    with conn:
        if inline:
            conn.execute("UPDATE entries SET inline=?, size=? WHERE key=?", (data, len(data), key))
        if checksum is not None:
            conn.execute("UPDATE entries SET checksum=? WHERE key=?", (checksum, key))
    conn.close()


@pytest.mark.parametrize("checksum", ["xxh3", "genuine", "xxh3+genuine row mac"])
def test_planted_inline_pickle_never_runs(tmp_path: Path, checksum: str) -> None:
    sentinel = tmp_path / "pwned-inline"
    with Store(tmp_path / "s") as st:
        genuine = st.put("k", "n", "dv1", "cv", {"x": 1})
    evil = _frame(Evil(str(sentinel)))
    cs = {"xxh3": xxhash.xxh3_128_hexdigest(evil), "genuine": None,
          "xxh3+genuine row mac": xxhash.xxh3_128_hexdigest(evil) + "." + genuine.checksum.partition(".")[2]}[checksum]
    _plant(tmp_path / "s" / "meta.sqlite", "k", evil, inline=True, checksum=cs)
    with Store(tmp_path / "s") as st:
        entry = st.get("k") or st.ls()[0]
        with pytest.raises(EntryDamaged):
            st.load(entry)
    assert not sentinel.exists()


def test_planted_object_file_never_runs(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned-file"
    with Store(tmp_path / "s") as st:
        entry = st.put("k", "n", "dv-big", "cv", b"x" * 100_000)
        path = st.object_path("dv-big")
    evil = _frame(Evil(str(sentinel))) + b"\0" * 10
    path.write_bytes(evil)
    _plant(tmp_path / "s" / "meta.sqlite", "k", b"", inline=False,
           checksum=xxhash.xxh3_128_hexdigest(evil) + "." + entry.checksum.partition(".")[2])
    with Store(tmp_path / "s") as st:
        for e in [st.get("k"), *st.ls()]:
            if e is not None:
                with pytest.raises(EntryDamaged):
                    st.load(e)
    assert not sentinel.exists()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("fmt", ["old pickle journal", "json with a forged mac"])
def test_planted_journal_never_runs_even_for_read_only_commands(tmp_path: Path, fmt: str) -> None:
    sentinel = tmp_path / "pwned-journal"
    root = tmp_path / "s"
    Store(root).close()
    journal = root / f"journal-{_dead_pid()}-abcd1234.log"
    if fmt == "old pickle journal":
        blob = pickle.dumps(Evil(str(sentinel)))
        journal.write_bytes(len(blob).to_bytes(4, "little") + blob)
    else:
        row = ["k", "n", "dv", "cv", 1, 0.0, 0.0, 0.0, "{}", "{}", "{}", "00.00", None]
        journal.write_bytes(b"0" * 32 + b" " + json.dumps(row).encode() + b"\n")
    from engine.cli import main

    assert main(["cache", "stats", "--cache-dir", str(root)]) == 0  # read-only: opens the store
    assert not sentinel.exists()
    assert not journal.exists()  # a dead writer's journal is consumed, forged records dropped
    with Store(root) as st:
        assert st.get("k") is None


def test_journal_holds_no_pickle_and_replays_after_a_kill(tmp_path: Path) -> None:
    """A SIGKILLed writer's batched rows come back on the next open (the journal is JSON + MAC)."""
    root = tmp_path / "s"
    out = kill_batched_writer(root, (
        "    st.put('k1', 'n', 'dv1', 'cv', {'v': 1})\n"
        "    st.put('k2', 'n', 'dv2', 'cv', b'y' * 50_000)\n"
        "    journal = next(p for p in os.listdir(st.root) if p.startswith('journal-'))\n"
        "    data = open(os.path.join(st.root, journal), 'rb').read()\n"
        "    assert b'\\x80\\x05' not in data.split(b' ', 1)[0]\n"
        "    print(data.decode())\n"))
    for line in out.stdout.strip().splitlines():
        mac, _, body = line.partition(" ")
        assert len(mac) == 32 and isinstance(json.loads(body), list)
    with Store(root) as st:
        assert st.load(st.get("k1")) == {"v": 1}
        assert st.load(st.get("k2")) == b"y" * 50_000


def test_forged_and_relabelled_values_are_never_served(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with Store(root) as st:
        st.put("ka", "a", "dva", "cv", "value of a")
        st.put("kb", "b", "dvb", "cv", "value of b")
    conn = sqlite3.connect(root / "meta.sqlite")
    with conn:
        forged = _frame("forged")
        conn.execute("UPDATE entries SET inline=?, checksum=? WHERE key='ka'",
                     (forged, xxhash.xxh3_128_hexdigest(forged)))
        # relabel: b's genuine bytes and MACs under a's key
        inline, checksum = conn.execute("SELECT inline, checksum FROM entries WHERE key='kb'").fetchone()
        conn.execute("INSERT INTO entries SELECT 'kc', 'c', data_version, code_version, size, compute_seconds, "
                     "created, last_used, deps, code_parts, files, checksum, inline FROM entries WHERE key='kb'")
    conn.close()
    with Store(root) as st:
        found = st.entries_for(["a", "b", "c"])
        assert found["a"] == [] and found["c"] == []
        assert st.load(found["b"][0]) == "value of b"


def test_planted_memo_value_is_a_miss(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with Store(root) as st:
        st.memo["code:x"] = "genuine"
    conn = sqlite3.connect(root / "meta.sqlite")
    with conn:
        conn.execute("UPDATE memo SET v='0123456789abcdef0123456789abcdefplanted' WHERE k='code:x'")
        conn.execute("INSERT INTO memo (k, v, t) VALUES ('code:y', 'plain text', 0)")
    conn.close()
    with Store(root) as st:
        assert "code:x" not in st.memo and st.memo.get("code:y") is None


def test_store_under_another_key_is_all_misses_with_one_notice(tmp_path: Path, monkeypatch, caplog) -> None:
    root = tmp_path / "s"
    monkeypatch.setenv("RIPPLE_CACHE_KEY", "team-a")
    with Store(root) as st:
        for i in range(5):
            st.put(f"k{i}", f"n{i}", f"dv{i}", "cv", i)
    monkeypatch.setenv("RIPPLE_CACHE_KEY", "team-b")
    with caplog.at_level(logging.WARNING, logger="engine"), Store(root) as st:
        assert all(v == [] for v in st.entries_for([f"n{i}" for i in range(5)]).values())
    notices = [r.getMessage() for r in caplog.records]
    assert sum("another cache key" in m for m in notices) == 1, notices
    monkeypatch.setenv("RIPPLE_CACHE_KEY", "team-a")
    with Store(root) as st:  # the rightful key still reads them: nothing was destroyed
        assert st.load(st.get("k3")) == 3


def test_per_user_key_is_created_private_outside_the_cache(tmp_path: Path, _own_key_home: Path) -> None:
    Store(tmp_path / "s").close()
    key = _own_key_home / "ripple" / "key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert len(key.read_bytes()) == 32
    assert load_key().key_id == load_key().key_id  # stable across opens
    assert not any("key" == p.name for p in (tmp_path / "s").iterdir())


def test_key_file_setting_and_missing_key_file(tmp_path: Path, monkeypatch) -> None:
    shared = tmp_path / "team.key"
    shared.write_bytes(os.urandom(32))
    assert load_key(shared).shared and load_key(shared).key_id == load_key(str(shared)).key_id
    with pytest.raises(UsageError, match="does not exist"):
        load_key(tmp_path / "nope.key")
    monkeypatch.setenv("RIPPLE_CACHE_KEY_FILE", str(tmp_path / "nope.key"))
    with pytest.raises(UsageError, match="RIPPLE_CACHE_KEY_FILE"):
        load_key()


def test_driver_reads_key_file_and_encrypt_from_pyproject(tmp_path: Path, make_module) -> None:
    (tmp_path / "team.key").write_bytes(os.urandom(32))
    (tmp_path / "pyproject.toml").write_text('[tool.ripple]\nkey_file = "team.key"\nencrypt = true\n')
    mod = make_module("def secret_sauce() -> str:\n    return 'PLAIN' + 'TEXT-MARKER' * 10\n")
    dr = Driver({}, mod).with_cache(tmp_path / "c")
    assert dr.execute(["secret_sauce"])["secret_sauce"].startswith("PLAINTEXT-MARKER")
    assert dr.cache.store.ls()[0].is_inline
    store = dr.cache.store
    assert store.encrypt and store.key.source == str(tmp_path / "team.key")
    dr.cache.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "c").rglob("*") if p.is_file())
    assert b"PLAINTEXT-MARKER" not in raw
    dr2 = Driver({}, mod).with_cache(tmp_path / "c")
    assert dr2.execute(["secret_sauce"])["secret_sauce"].startswith("PLAINTEXT-MARKER")
    assert dr2.cache.last["hits"] == 1
    dr2.cache.close()


def test_encrypted_values_roundtrip_and_leave_no_plaintext(tmp_path: Path) -> None:
    import numpy as np
    root = tmp_path / "s"
    arr = np.arange(100_000, dtype=np.int64)
    with Store(root, encrypt=True) as st:
        st.put("small", "n", "dvs", "cv", "SENSITIVE-SMALL")
        st.put("big", "m", "dvb", "cv", ("SENSITIVE-BIG", arr))
        files = list((root / "objects").rglob("dvb"))
    assert b"SENSITIVE-SMALL" not in (root / "meta.sqlite").read_bytes()
    assert files and b"SENSITIVE-BIG" not in files[0].read_bytes()
    with Store(root, encrypt=True) as st:
        assert st.load(st.get("small")) == "SENSITIVE-SMALL"
        text, back = st.load(st.get("big"))
        assert text == "SENSITIVE-BIG" and (back == arr).all()
    with Store(root) as st:  # encryption off later: same key still reads what was encrypted
        assert st.load(st.get("small")) == "SENSITIVE-SMALL"


def test_encrypted_store_under_another_key_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with Store(root, key=StoreKey(b"a" * 32, "key a"), encrypt=True) as st:
        st.put("k", "n", "dv", "cv", 1)
    with pytest.raises(StoreError, match="encrypted under another key.*RIPPLE_CACHE_KEY"):
        Store(root, key=StoreKey(b"b" * 32, "key b"), encrypt=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a folder owned by another user")
def test_store_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """Run as uid 65534 against a store owned by root (CI runs as root only in containers)."""
    root = tmp_path / "s"
    Store(root).close()
    os.chmod(tmp_path, 0o755)
    os.chmod(root, 0o777)
    home = tmp_path / "nobody"
    home.mkdir(mode=0o777)
    os.chmod(home, 0o777)
    code = "from engine.store import Store\nfrom engine.errors import RippleError\n" \
           f"try:\n    Store({str(root)!r})\nexcept RippleError as e:\n    print(e)\n"
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "HOME": str(home)}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, user=65534,
                             cwd=str(home), timeout=60)
    except PermissionError:
        pytest.skip("cannot switch to uid 65534 here")
    if "Permission denied" in out.stderr or "ModuleNotFoundError" in out.stderr:
        pytest.skip("uid 65534 cannot read the checkout or the interpreter here")
    assert "belongs to another user" in out.stdout, out.stderr


def test_planted_entry_through_a_normal_run(tmp_path: Path, make_module) -> None:
    """End to end: the driver serves the genuine (recomputed) value, and nothing runs from the plant."""
    sentinel = tmp_path / "pwned-run"
    mod = make_module("def answer() -> dict:\n    return {'answer': 42}\n")
    Driver({}, mod).with_cache(tmp_path / "c").execute(["answer"])
    evil = _frame(Evil(str(sentinel)))
    conn = sqlite3.connect(tmp_path / "c" / "meta.sqlite")
    with conn:
        conn.execute("UPDATE entries SET inline=?, size=?, checksum=?", (evil, len(evil), xxhash.xxh3_128_hexdigest(evil)))
    conn.close()
    dr = Driver({}, mod).with_cache(tmp_path / "c")
    assert dr.execute(["answer"]) == {"answer": {"answer": 42}}
    assert dr.cache.last["misses"] == 1
    dr.cache.close()
    assert not sentinel.exists()


def test_team_key_from_env_is_shared_across_homes(tmp_path: Path, monkeypatch) -> None:
    """Two users (two config folders) with one RIPPLE_CACHE_KEY read each other's entries."""
    monkeypatch.setenv("RIPPLE_CACHE_KEY", "our team secret")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "alice"))
    with Store(tmp_path / "shared") as st:
        st.put("k", "n", "dv", "cv", "from alice")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "bob"))
    with Store(tmp_path / "shared") as st:
        assert st.load(st.get("k")) == "from alice"
    assert not (tmp_path / "bob").exists()  # the env key is used; no per-user key was needed


def test_bad_security_settings_are_clear_errors(tmp_path: Path, monkeypatch) -> None:
    from engine.settings import store_security

    with pytest.raises(UsageError, match="encrypt must be true or false"):
        store_security({"encrypt": "yes"}, tmp_path)
    with pytest.raises(UsageError, match="key_file must be a path"):
        store_security({"key_file": 3}, tmp_path)
    monkeypatch.setenv("RIPPLE_ENCRYPT", "maybe")
    with pytest.raises(UsageError, match="RIPPLE_ENCRYPT"):
        store_security({}, tmp_path)
    monkeypatch.setenv("RIPPLE_ENCRYPT", "1")
    assert store_security({"key_file": "k.key"}, tmp_path) == (tmp_path / "k.key", True)
