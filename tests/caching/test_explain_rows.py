"""What a stored result leaves for ``explain``: one ``explain:`` memo row per code version, holding
its parts and their sources (a shared helper's source once), read back into the same diffs; stores
written before (``parts:`` and ``src:`` rows) still explain. Real stores, fresh imports per run."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine import Driver
from engine.caching.explain import code_diff
from engine.store import Store

NODES = '''
def _helper(x):
    return x * 2


def a(x: int) -> int:
    return _helper(x) + 1


def b(x: int) -> int:
    return _helper(x) + 2


def c(a: int, b: int) -> int:
    return a + b
'''


class Pipeline:
    def __init__(self, root: Path) -> None:
        self.name = f"explain_rows_{uuid.uuid4().hex[:8]}"
        self.path = root / f"{self.name}.py"
        self.path.write_text(textwrap.dedent(NODES))
        self.cache = root / "cache"
        self.drivers: list[Driver] = []

    def edit(self, old: str, new: str) -> None:
        text = self.path.read_text()
        assert text.count(old) == 1
        self.path.write_text(text.replace(old, new))

    def run(self) -> Driver:
        sys.modules.pop(self.name, None)
        importlib.invalidate_caches()
        dr = Driver({}, importlib.import_module(self.name)).with_cache(self.cache)
        self.drivers.append(dr)
        assert dr.run(["c"], inputs={"x": 1}).status == "ok"
        return dr


@pytest.fixture
def pipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    p = Pipeline(tmp_path)
    yield p
    for dr in p.drivers:
        dr.cache.close()
    sys.modules.pop(p.name, None)


def _memo(store: Store) -> dict[str, str]:
    store.commit()
    return {k: store.memo[k] for k in store.memo}


def test_one_row_per_stored_node_and_a_shared_helper_kept_once(pipe) -> None:
    dr = pipe.run()
    memo = _memo(dr.cache.store)
    docs = {k: json.loads(v) for k, v in memo.items() if k.startswith("explain:")}
    assert len(docs) == 3  # a, b, c: one row each, however many parts
    assert not [k for k in memo if k.startswith(("src:", "parts:"))]  # the three-rows-a-node layout is gone
    helper = f"{pipe.name}._helper"
    holding = [d for d in docs.values() if helper in d.get("src", {})]
    naming = [d for d in docs.values() if helper in d.get("in", {})]
    assert len(holding) == 1 and len(naming) == 1  # the helper's source once, the other row names it
    assert "return x * 2" in holding[0]["src"][helper]
    assert f"explain:{naming[0]['in'][helper]}" in docs
    for digest, doc in docs.items():
        node = next(n for n in ("a", "b", "c") if f"explain:{dr.cache.code_version(dr.graph.nodes[n]).digest}" == digest)
        assert doc["parts"] == dr.cache.code_version(dr.graph.nodes[node]).parts


def test_a_helper_edit_shows_its_diff_for_every_node_that_uses_it(pipe) -> None:
    first = pipe.run()
    run_id = first.cache.store.runs(1)[0].run_id
    pipe.edit("return x * 2", "return x * 3")
    dr = pipe.run()
    for node in ("a", "b"):  # one row held the helper's old source, the other named that row
        text = dr.cache.explain(node)
        assert f"since run {run_id}" in text, text
        assert "-    return x * 2" in text and "+    return x * 3" in text, text


def test_the_diff_is_of_the_helper_below_a_form_feed(pipe) -> None:
    """A part's source is cut from its file by the lines Python numbers: a form feed above it (a page
    break, as PEP 8 allows) once shifted the cut, and the diff showed other lines than the edit."""
    pipe.edit("def _helper(x):", "# page one\x0cpage two\n\ndef _helper(x):")
    pipe.run()
    pipe.edit("return x * 2", "return x * 3")
    text = pipe.run().cache.explain("a")
    assert "-    return x * 2" in text and "+    return x * 3" in text, text
    assert "def _helper(x):" in text and "def a(" not in text, text


def test_a_store_written_before_explain_rows_still_explains(pipe) -> None:
    """Older Ripples kept ``parts:DIGEST`` and ``src:QUAL@VERSION`` (and the newest ``src:QUAL``)."""
    dr = pipe.run()
    store = dr.cache.store
    for k, v in _memo(store).items():
        if not k.startswith("explain:"):
            continue
        doc = json.loads(v)
        del store.memo[k]
        store.memo["parts:" + k.split(":", 1)[1]] = json.dumps(doc["parts"], sort_keys=True, separators=(",", ":"))
        for qual, source in doc["src"].items():
            store.memo[f"src:{qual}@{doc['parts'][qual]}"] = source
            store.memo["src:" + qual] = source
    store.commit()
    pipe.edit("return x * 2", "return x * 3")
    text = pipe.run().cache.explain("a")
    assert "code changed" in text and "-    return x * 2" in text and "+    return x * 3" in text


def test_the_row_holding_a_source_is_followed_only_for_the_same_version(tmp_path: Path) -> None:
    """A holder written again by a later process may itself name another holder; a row whose part
    has another version is never taken for the old source."""
    qual = "mod.helper"
    with Store(tmp_path / "s") as st:
        st.memo["explain:A"] = json.dumps({"parts": {qual: "v1"}, "src": {}, "in": {qual: "B"}})
        st.memo["explain:B"] = json.dumps({"parts": {qual: "v1"}, "src": {}, "in": {qual: "C"}})
        st.memo["explain:C"] = json.dumps({"parts": {qual: "v1"}, "src": {qual: "def helper():\n    return 1\n"}})
        st.memo["explain:D"] = json.dumps({"parts": {qual: "v1"}, "src": {}, "in": {qual: "E"}})
        st.memo["explain:E"] = json.dumps({"parts": {qual: "v2"}, "src": {qual: "def helper():\n    return 9\n"}})
        st.commit()

        def now(_q: str) -> str:
            return "def helper():\n    return 2\n"

        diff = code_diff(st.memo, now, [qual], {qual: "v1"}, old_code="A")
        assert "-    return 1" in diff and "+    return 2" in diff
        diff = code_diff(st.memo, now, [qual], {qual: "v1"}, old_code="D")
        assert "return 9" not in diff and "+    return 2" in diff  # v2's source is not v1's


def test_a_nodes_previous_record_comes_from_the_newest_run_of_the_pipeline_that_has_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A miss is explained against its node's own newest record (of this pipeline, with a code
    version); the history is read run by run only as far back as that, and no other node's record
    is made."""
    from engine.caching import explain
    from engine.store import history

    def hit(node: str, run: str, cv: str = "") -> tuple[Any, ...]:
        return node, 0.1, f"k{node}{run}", f"d{node}", cv or f"c{node}{run}", "unchanged", 1.0

    with Store(tmp_path) as s:
        for i, (run, pipeline, hits, ran) in enumerate([
            ("r1", "p", [hit("a", "r1"), hit("b", "r1"), hit("c", "r1")], []),
            ("r2", "q", [hit("a", "r2"), hit("b", "r2")], []),
            ("r3", "p", [hit("b", "r3")], [{"node": "a", "status": "skipped", "hit": False, "code_version": "ca"},
                                           {"node": "c", "status": "ran", "hit": False, "code_version": None}]),
        ]):
            s.start_run(run, pipeline, [], started=float(i))
            s.finish_run(run, "ok", records=ran, hits=hits)
        made: list[str] = []
        real = history._hit_record
        monkeypatch.setattr(history, "_hit_record", lambda run_id, line: made.append(line.split("\t")[0]) or real(run_id, line))
        read: list[str] = []
        real_read = s.run_nodes_by_node
        monkeypatch.setattr(s, "run_nodes_by_node", lambda run_id: read.append(run_id) or real_read(run_id))
        prev = explain.previous_records(s, pipeline="p")
        assert prev.get("b").run_id == "r3" and read == ["r3"] and made == ["b"]
        assert prev.get("a").run_id == "r1" and read == ["r3", "r1"]  # r2 is another pipeline's; r3's a was skipped
        assert prev.get("c").key == "kcr1"  # r3's record of c knows no code version
        assert prev.get("nope") is None and sorted(made) == ["a", "b", "c"]
        assert prev.get("a") is prev.get("a") and read == ["r3", "r1"]
