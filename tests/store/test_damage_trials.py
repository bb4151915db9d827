"""Randomised trials: SIGKILL at random moments, concurrent writers with prunes in flight, random
byte damage. Each test runs a small fast trial by default; ``-m slow`` runs the full trial
(``python -m pytest -q -m slow tests/store``).

What every trial checks: the store opens, every value it serves is exactly the one written under
that key (a served value is never wrong), and anything else is a miss, never an exception.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.store import EntryDamaged, Store

ROOT = Path(__file__).parents[2]

WRITER = """
import os, sys
from engine.store import Store
root, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
st = Store(root)
for i in range(n):
    big = i % 7 == 0
    value = (tag, i, b"x" * (40_000 if big else 10))
    with st.batch():
        st.put(f"{tag}-{i}", f"node{i % 5}", f"dv-{tag}-{i}", "cv", value)
    if i % 25 == 0:
        st.prune(max_size=2_000_000)
st.close()
"""


@pytest.fixture(autouse=True)
def _own_key_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def _check_all(root: Path) -> tuple[int, int]:
    """(served, missed): every served value must match what its key says was written."""
    served = missed = 0
    with Store(root) as st:
        for e in st.ls():
            try:
                value = st.load(e)
            except EntryDamaged:
                missed += 1
                continue
            tag, i, payload = value
            assert e.key == f"{tag}-{i}" and e.data_version == f"dv-{tag}-{i}"
            assert payload == b"x" * (40_000 if i % 7 == 0 else 10)
            served += 1
    return served, missed


def _spawn(root: Path, tag: str, n: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), tag, str(n)], env=env,
                            stderr=subprocess.PIPE, text=True)


def test_concurrent_writers_with_prunes(tmp_path: Path) -> None:
    _concurrent(tmp_path, False)


@pytest.mark.slow
def test_concurrent_writers_full_trial(tmp_path: Path) -> None:
    _concurrent(tmp_path, True)


def _concurrent(tmp_path: Path, full: bool) -> None:
    writers, n = (4, 200) if full else (2, 40)
    root = tmp_path / "s"
    procs = [_spawn(root, f"w{w}", n) for w in range(writers)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    served, _ = _check_all(root)
    assert served > 0


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    _kills(tmp_path, False)


@pytest.mark.slow
def test_sigkill_full_trial(tmp_path: Path) -> None:
    _kills(tmp_path, True)


def _kills(tmp_path: Path, full: bool) -> None:
    trials = 12 if full else 2
    rng = random.Random(11)
    root = tmp_path / "s"
    for t in range(trials):
        p = _spawn(root, f"k{t}", 400)
        time.sleep(rng.uniform(0.05, 0.6))  # when to kill; no assertion on timing
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        _check_all(root)  # reopening replays the dead writer's journal and sweeps its temp files
    with Store(root) as st:
        assert not list((st.objects / ".tmp").glob("*"))
        assert not list(st.root.glob("journal-*.log"))


def test_random_byte_damage(tmp_path: Path) -> None:
    _damage(tmp_path, False)


@pytest.mark.slow
def test_random_byte_damage_full_trial(tmp_path: Path) -> None:
    _damage(tmp_path, True)


def _damage(tmp_path: Path, full: bool) -> None:
    trials = 60 if full else 8
    rng = random.Random(7)
    for t in range(trials):
        root = tmp_path / f"s{t}"
        p = _spawn(root, "d", 30)
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        files = [f for f in root.rglob("*") if f.is_file() and f.stat().st_size and f.name != "lock"]
        victim = rng.choice(files)
        data = bytearray(victim.read_bytes())
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        victim.write_bytes(bytes(data))
        _check_all(root)
        with Store(root) as st:  # and the store still takes new results
            st.put("after", "n", "dv-after", "cv", ("after", 0, b"x" * 40_000))
            assert st.load(st.get("after"))[0] == "after"
