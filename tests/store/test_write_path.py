"""The store's write path after its per-result costs were cut: documents written once as the row's
text, the journal written with the store's one compact JSON writer and replayed intact after a
real SIGKILL, the run list read without making records. Real SQLite, real child processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from processes import kill_batched_writer

from engine.store import Store
from engine.store.schema import compact_json

DOCUMENTS = [
    {"x": "0" * 32, "y": "1" * 32},
    {"päth/ünïcode.csv": "v", "tab\there": "new\nline", 'quote"s': "back\\slash", "nul": "\0"},
    {"@code:mod.py:f": "abc", "n": 3, "f": 0.1, "big": 1e300, "none": None, "t": True, "l": [1, "2", [3]]},
    {"emoji": "\U0001f600", "surrogate-free": "\u2028\u2029"},
    {"path": Path("/tmp/x")},  # not JSON: written as its str, as the row documents always were
]


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_compact_json_writes_what_the_row_documents_always_were(doc: dict) -> None:
    """Row MACs cover the ``files`` text, which earlier versions wrote with ``json.dumps``: the one
    writer must give the same text for every document, or their rows would stop verifying."""
    expected = json.dumps(doc, separators=(",", ":"), default=str)
    assert compact_json(doc) == expected
    assert json.loads(compact_json(doc)) == json.loads(expected)


def test_put_keeps_the_documents_as_text_not_the_callers_dicts(tmp_path: Path) -> None:
    deps, parts, files = {"a": "dv-a"}, {"m.f": "cv-f"}, {"data.csv": "fv"}
    with Store(tmp_path / "s") as st:
        with st.batch():
            entry = st.put("k", "n", "dv", "cv", 1, deps=deps, code_parts=parts, files=files)
            deps["a"], parts["m.f"], files["data.csv"] = "changed", "changed", "changed"
            assert entry.__dict__["_deps"] == '{"a":"dv-a"}'  # text until first read
            assert (entry.deps, entry.code_parts, entry.files) == ({"a": "dv-a"}, {"m.f": "cv-f"}, {"data.csv": "fv"})
            pending = st.get("k")
            assert pending is not None and pending.deps == {"a": "dv-a"}
        again = st.get("k")
        assert again is not None and (again.deps, again.code_parts, again.files) == (
            {"a": "dv-a"}, {"m.f": "cv-f"}, {"data.csv": "fv"})
        assert st.load(again) == 1 and again.has_files


def test_journal_replays_every_document_after_a_real_kill(tmp_path: Path) -> None:
    """A SIGKILLed writer's batched rows come back whole: value, documents and a row MAC that still
    verifies (the ``files`` text is what the MAC covers)."""
    root = tmp_path / "s"
    kill_batched_writer(root, (
        "    st.put('k1', 'nöde', 'dv1', 'cv', {'v': 1}, compute_seconds=0.5, deps={'x': 'dvx', 'y': 'dvy'},\n"
        "           code_parts={'m.nöde': 'p1'}, files={'dätä/in \"q\".csv': 'f1', '@env:HOME': 'e1'})\n"
        "    st.put('k2', 'n2', 'dv2', 'cv', b'y' * 50_000)\n"))
    with Store(root) as st:
        e1, e2 = st.get("k1"), st.get("k2")
        assert e1 is not None and e2 is not None
        assert (e1.node, e1.compute_seconds, e1.deps, e1.code_parts) == ("nöde", 0.5, {"x": "dvx", "y": "dvy"},
                                                                       {"m.nöde": "p1"})
        assert e1.files == {'dätä/in "q".csv': "f1", "@env:HOME": "e1"}
        assert st.load(e1) == {"v": 1} and st.load(e2) == b"y" * 50_000
        assert [e.key for e in st.entries_for(["nöde"])["nöde"]] == ["k1"]  # authentic as read by a warm run


def test_recent_runs_are_the_runs_newest_first(tmp_path: Path) -> None:
    with Store(tmp_path / "s") as st:
        assert st.recent_runs(10) == []
        st.start_run("r1", "p", ["a"], started=1.0)
        st.start_run("r2", "q", ["a"], started=3.0)
        st.start_run("r3", "", ["a"], started=2.0)
        assert st.recent_runs(10) == [("r2", "q"), ("r3", ""), ("r1", "p")]
        assert st.recent_runs(2) == [(r.run_id, r.pipeline) for r in st.runs(2)]


def test_a_store_dropped_unclosed_releases_its_journal_and_keeps_its_rows(tmp_path: Path) -> None:
    """A notebook or a worker making many drivers without closing them ran out of descriptors (one
    journal each, held for the life of the process); what it wrote is still there."""
    import gc
    import os

    st = Store(tmp_path / "s")
    batch = st.batch()
    batch.__enter__()
    st.put("k", "n", "dv", "cv", 41)
    fd = st._journal_fd
    assert fd is not None and os.fstat(fd)
    del st, batch
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)
    with Store(tmp_path / "s") as again:
        got = again.get("k")
        assert got is not None and again.load(got) == 41
