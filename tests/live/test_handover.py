"""Watch mode's shortcuts between the save and the first node, each checked with real processes:
the watcher hands the run its analysis of the saved file (used only for the very bytes it was made
of), and the warm worker has already imported every engine module a run needs."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import Recorder, warm_worker

from engine import events as ev
from engine.caching.source_analysis import analyze_source, content_digest, memo_key
from engine.live.child import Handed
from engine.live.code_index import hand_over, parse_module
from engine.live.isolated import IsolatedRun
from engine.live.loop import WatchLoop
from engine.live.protocol import MAX_ANALYSES, RunRequest
from engine.live.worker import WarmWorker, _child_env

PIPE = '''
def first() -> int:
    return 1


def second(first: int) -> int:
    return first + 1
'''


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmWorker]:
    with warm_worker(tmp_path_factory.mktemp("worker") / "pipe.py") as w:
        yield w


def _run(path: Path, worker: WarmWorker, analyses: dict[str, str] | None = None) -> dict[str, str]:
    """One cached run of ``path`` in a forked child: node -> "ran" | "cached"."""
    events = Recorder()
    req = RunRequest(str(path), cwd=str(path.parent), cache_dir=str(path.parent / ".ripple"), describe=True,
                     analyses=analyses or {})
    run = IsolatedRun(req, events.on_event, worker=worker)
    run.start()
    out = run.wait(30)
    assert out.status == "ok", out
    assert run.used_worker
    return {e.node: "ran" if e.kind == "node_finished" else "cached"  # type: ignore[attr-defined]
            for e in events.events if e.kind in ("node_finished", "node_cached")}


def _analysis(source: bytes, path: Path) -> tuple[str, dict]:
    return memo_key(content_digest(source)), analyze_source(source, str(path))


def test_a_handed_analysis_is_the_one_the_run_versions_the_saved_file_with(tmp_path: Path,
                                                                           worker: WarmWorker) -> None:
    """The watcher's key and the versioner's key agree: a handed analysis is used (here one whose
    digest for ``first`` was altered, so using it shows as ``first`` running; honestly it hits)."""
    path = tmp_path / "pipe.py"
    path.write_text(PIPE)
    assert _run(path, worker) == {"first": "ran", "second": "ran"}
    path.write_text(PIPE.replace("first + 1", "first + 2"))  # only `second` changed
    key, data = _analysis(path.read_bytes(), path)
    for d in data["defs"]:
        if d["n"] == "first":
            d["d"] = "0" * 32
    assert _run(path, worker, {key: json.dumps(data)}) == {"first": "ran", "second": "ran"}


def test_an_analysis_of_content_the_file_no_longer_holds_is_never_used(tmp_path: Path,
                                                                       worker: WarmWorker) -> None:
    """The file changed again after the watcher analysed it (here: back): the run analyses what it
    reads. Trusting the analysis by path would have stored ``first``'s old value under its new code's
    key, and the real save of that code would then be a stale hit."""
    path = tmp_path / "pipe.py"
    path.write_text(PIPE)
    assert _run(path, worker) == {"first": "ran", "second": "ran"}
    edited = PIPE.replace("return 1", "return 5")
    handed = dict([(k, json.dumps(a)) for k, a in [_analysis(edited.encode(), path)]])
    assert _run(path, worker, handed) == {"first": "cached", "second": "cached"}  # the file still holds PIPE
    path.write_text(edited)
    assert _run(path, worker) == {"first": "ran", "second": "ran"}


def test_analyses_of_another_normaliser_or_of_another_shape_are_not_served(tmp_path: Path) -> None:
    source = PIPE.encode()
    key, data = _analysis(source, tmp_path / "pipe.py")
    store = {"other": "kept"}
    other_version = key.replace(memo_key(""), "ast:2.7:0:")
    handed = Handed({key: json.dumps(data), other_version: json.dumps(data)}, store)
    assert json.loads(handed[key]) == data
    assert other_version not in handed.analyses
    assert handed.get(other_version) is None
    for bad in ("not json", json.dumps({"defs": [{"n": "first"}], "m": "x"}), json.dumps({"defs": []}), "[]"):
        assert Handed({key: bad}, store).get(key) is None  # falls through to the store's memo: a miss
    handed["new"] = "v"
    assert store["new"] == "v" and key not in store  # handed analyses serve this run only
    assert handed["other"] == "kept" and len(handed) == 2


def test_the_watch_loop_hands_the_run_its_analysis_of_the_saved_bytes(tmp_path: Path) -> None:
    pkg = tmp_path / "hpipe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    nodes = pkg / "nodes.py"
    nodes.write_text(PIPE)
    rec = Recorder()
    requests: list[RunRequest] = []

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.RunStarted) and lp.current is not None:
            requests.append(lp.current.request)
        rec.on_event(e)

    lp = WatchLoop(RunRequest("hpipe", cwd=str(tmp_path), cache_dir=str(tmp_path / ".ripple")), on_event,
                   on_change=rec.on_change, debounce=0.08)
    lp.start()
    try:
        rec.wait(lambda: len(rec.finished_runs()) == 1)
        assert requests[0].analyses == {}  # the first run follows no save
        nodes.write_text(PIPE.replace("first + 1", "first + 3"))
        rec.wait(lambda: len(rec.finished_runs()) == 2)
        saved = nodes.read_bytes()
        key, data = _analysis(saved, nodes)
        assert list(rec.changes[-1].analyses) == [key] and list(requests[1].analyses) == [key]
        assert json.loads(requests[1].analyses[key]) == data
        assert rec.finished_runs()[-1].ran == 1  # `second` ran, `first` hit: the analysis served the run
        assert lp.wait_idle(10)
        lp.trigger()  # a run that follows no new save: what the last run used is not sent again
        rec.wait(lambda: len(rec.finished_runs()) == 3)
        assert requests[2].analyses == {}
    finally:
        lp.stop()


MIXED = textwrap.dedent('''
    """Module docstring."""
    import functools as ft
    from os import path as p

    SQUARES = [i * i for i in range(3)]
    LIMIT: int = 3


    def helper(x):
        """Doc."""
        total = 0
        for item in x:
            total += item
        return lambda y: total + y


    @ft.lru_cache(maxsize=None)
    def cached(n: int) -> int:
        return n if n < 2 else cached(n - 1)


    class Box:
        size = [k for k in range(LIMIT)]

        def area(self) -> int:
            return len(self.size)


    def helper(x):  # bound twice: both count
        return p.join(x)
''')


def test_one_parse_feeds_the_index_and_the_analysis_it_hands_over(tmp_path: Path) -> None:
    """The index walks the tree before the analysis renames and prunes it in place: the same
    symbols as without a kept analysis, and the same analysis as the versioner's own."""
    path = tmp_path / "mixed.py"
    path.write_bytes(MIXED.encode())
    plain = parse_module(str(path), "mixed")
    kept = parse_module(str(path), "mixed", memo={}, keep_analysis=True)
    assert kept.analysis is not None and plain.analysis is None
    assert kept.analysis == (memo_key(content_digest(MIXED.encode())), analyze_source(MIXED.encode(), str(path)))
    assert analyze_source(MIXED, tree=ast.parse(MIXED)) == analyze_source(MIXED)
    as_seen = {k: (s.digest, s.kind, s.chains, s.target) for k, s in plain.symbols.items()}
    assert {k: (s.digest, s.kind, s.chains, s.target) for k, s in kept.symbols.items()} == as_seen
    memo: dict = {}
    parse_module(str(path), "mixed", memo=memo)
    again = parse_module(str(path), "mixed", memo=memo, keep_analysis=True)  # every definition known
    assert again.analysis is None
    assert {k: (s.digest, s.kind, s.chains, s.target) for k, s in again.symbols.items()} == as_seen


def test_a_request_carries_analyses_up_to_its_budget(tmp_path: Path) -> None:
    """One datagram to the worker, one argv string to a spawned child: a file too big to hand over is
    analysed by the run itself."""
    small, big = tmp_path / "small.py", tmp_path / "big.py"
    small.write_text(PIPE)
    big.write_text("".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(600)))
    analyses: dict[str, str] = {}
    hand_over(parse_module(str(big), "big", keep_analysis=True), analyses)
    assert analyses == {}
    mi = parse_module(str(small), "small", keep_analysis=True)
    hand_over(mi, analyses)
    assert list(analyses) == [memo_key(content_digest(small.read_bytes()))] and mi.analysis is None
    assert sum(map(len, analyses.values())) <= MAX_ANALYSES


RECORDER = '''
import json
import sys

AT_IMPORT = set(sys.modules)


def first() -> int:
    return 1


def second(first: int) -> int:
    return first + 1


def last(second: int) -> int:
    new = sorted(m for m in set(sys.modules) - AT_IMPORT if m == "engine" or m.startswith("engine."))
    with open(__file__ + ".imports.json", "w") as fh:
        json.dump(new, fh)
    return second
'''


def test_a_warm_run_imports_no_engine_module_the_worker_has_not_preloaded(tmp_path: Path,
                                                                          worker: WarmWorker) -> None:
    """What a fork imports, every run imports again. Checked over two runs, the second after an
    edit: predictions, hits, a miss explained against the previous run, results stored."""
    path = tmp_path / "pipe.py"
    path.write_text(RECORDER)
    report = Path(f"{path}.imports.json")
    assert _run(path, worker) == {"first": "ran", "second": "ran", "last": "ran"}
    assert json.loads(report.read_text()) == []
    path.write_text(RECORDER.replace("first + 1", "first + 2"))
    assert _run(path, worker) == {"first": "cached", "second": "ran", "last": "ran"}
    assert json.loads(report.read_text()) == []


def test_a_spawned_child_finds_this_engine_without_an_install(tmp_path: Path) -> None:
    """``-S``: no site-packages, so no editable install either; only the child's PYTHONPATH."""
    out = subprocess.run([sys.executable, "-S", "-c", "import importlib.util as u; print(u.find_spec('engine').origin)"],
                         env=_child_env(), cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert out == os.path.join(Path(__file__).resolve().parents[2], "engine", "__init__.py")


def test_the_run_explains_its_misses_from_the_history_its_predictions_read(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Predictions (a dry session) read each node's previous run to explain a miss; the run that
    follows explains the same misses with that read instead of reading the history again."""
    from engine import Driver
    from engine.caching import explain

    path = tmp_path / "explained.py"
    path.write_text(PIPE)
    sys.modules.pop("explained", None)
    Driver(str(path)).with_cache(tmp_path / "store").execute(["second"])
    path.write_text(PIPE.replace("first + 1", "first + 2"))
    sys.modules.pop("explained", None)
    dr = Driver(str(path)).with_cache(tmp_path / "store")
    reads: list[int] = []
    real = explain.previous_records
    monkeypatch.setattr(explain, "previous_records", lambda *a, **k: reads.append(1) or real(*a, **k))
    seen: list[ev.Event] = []
    dr.add_listener(seen.append)
    dr.run(["second"])
    sys.modules.pop("explained", None)
    planned = {e.node: e.why for e in seen if isinstance(e, ev.NodePlanned)}
    finished = {e.node: e.why for e in seen if isinstance(e, ev.NodeFinished)}
    assert "(since run " in planned["second"] and finished["second"] == planned["second"]
    assert len(reads) == 1


def test_the_graph_document_names_the_modules_the_run_imported_of_the_project(tmp_path: Path,
                                                                              worker: WarmWorker) -> None:
    """Found among the modules imported since the run began (the worker never imports the project):
    a module imported by name at run time counts, the worker's and the engine's own do not."""
    pkg = tmp_path / "docpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "extra.py").write_text("VALUE = 3\n")
    (pkg / "nodes.py").write_text("import importlib\nimport json\n\nEXTRA = importlib.import_module('docpkg.extra')\n"
                                  "\n\ndef first() -> int:\n    return EXTRA.VALUE + len(json.dumps(1))\n")
    events = Recorder()
    req = RunRequest("docpkg", cwd=str(tmp_path), cache_dir=str(tmp_path / ".ripple"), describe=True)
    run = IsolatedRun(req, events.on_event, worker=worker)
    run.start()
    assert run.wait(30).status == "ok" and run.used_worker
    doc = next(json.loads(e.text) for e in events.events if isinstance(e, ev.Message) and e.level == "graph")
    real = os.path.realpath(pkg)
    assert doc["modules"] == {"docpkg": os.path.join(real, "__init__.py"), "docpkg.nodes": os.path.join(real, "nodes.py"),
                              "docpkg.extra": os.path.join(real, "extra.py")}
