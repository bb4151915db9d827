"""Watch mode with a real watchdog observer, real file writes and real child processes."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from processes import Recorder, default_sigint, gone

from engine import events as ev
from engine.live.code_index import parse_module
from engine.live.loop import WatchLoop
from engine.live.protocol import RunRequest
from engine.live.watcher import ChangeSet, Watcher, ignored

UTIL = '''
"""Helpers: no nodes here."""

FACTOR = 2


def _scale(x: int) -> int:
    return x * FACTOR


def _unused(x: int) -> int:
    return x
'''

NODES = '''
"""Nodes."""
from pathlib import Path

from .util import _scale


def base() -> int:
    return 1


def scaled(base: int) -> int:
    return _scale(base)


def scaled_plus(scaled: int) -> int:
    return scaled + 1


def other(base: int, mode: str = "ok") -> int:
    if mode == "exit":
        import os
        os._exit(3)
    return base + 100


def loaded(data_file: Path = Path(__file__).parent / "data.txt") -> int:
    return len(data_file.read_text())


def total(scaled_plus: int, other: int, loaded: int) -> int:
    return scaled_plus + other + loaded
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    pkg = tmp_path / "wpipe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "util.py").write_text(textwrap.dedent(UTIL))
    (pkg / "nodes.py").write_text(textwrap.dedent(NODES))
    (pkg / "data.txt").write_text("hello")
    return tmp_path


@pytest.fixture
def loop(project: Path) -> Iterator[tuple[WatchLoop, Recorder]]:
    rec = Recorder()
    req = RunRequest("wpipe", cwd=str(project), cache_dir=str(project / ".ripple"), inputs={})
    lp = WatchLoop(req, rec.on_event, on_change=rec.on_change, on_outcome=rec.on_outcome, debounce=0.08)
    lp.start()
    rec.wait(lambda: len(rec.finished_runs()) == 1)
    assert rec.finished_runs()[0].status == "ok"
    yield lp, rec
    worker_pid = lp.worker.pid if lp.worker else None
    run_pids = [r for r in [lp.current.pid if lp.current else None, worker_pid] if r]
    lp.stop()
    for pid in run_pids:
        assert gone(pid), f"process {pid} left behind"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _indexed_digest(lp: WatchLoop, path: Path, name: str) -> str | None:
    """The digest the watcher last indexed for ``name`` in ``path``; None while it has none (not
    started, or it read the file between a writer's truncation and its write: a later event of that
    write brings the analysis of what it wrote)."""
    module = lp.watcher.index.files.get(str(path)) if lp.watcher is not None else None
    symbol = module.symbols.get(name) if module is not None else None
    return symbol.digest if symbol is not None else None


def _settle(rec: Recorder, runs: int) -> None:
    """Wait for ``runs`` finished runs, then make sure no further run sneaks in shortly after."""
    rec.wait(lambda: len(rec.finished_runs()) >= runs)
    deadline = time.monotonic() + 0.4
    while time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(rec.finished_runs()) == runs


def test_write_in_place_runs_and_summarises(loop: tuple[WatchLoop, Recorder], project: Path) -> None:
    lp, rec = loop
    _edit(project / "wpipe" / "nodes.py", "return base + 100", "return base + 200")
    _settle(rec, 2)
    cs = rec.changes[-1]
    assert cs.changed_functions == ["other"]
    assert set(cs.affected_nodes or ()) == {"other", "total"}
    assert cs.summary == "nodes.py saved: other changed -> 2 will run, 0 may run, 4 cached"
    assert rec.finished_runs()[-1].status == "ok"


def test_atomic_rename_save_is_seen(loop: tuple[WatchLoop, Recorder], project: Path) -> None:
    lp, rec = loop
    target = project / "wpipe" / "nodes.py"
    tmp = project / "wpipe" / ".nodes.py.swp"
    tmp.write_text(target.read_text().replace("scaled + 1", "scaled + 2"))
    os.replace(tmp, target)
    _settle(rec, 2)
    assert rec.changes[-1].changed_functions == ["scaled_plus"]


def test_a_burst_of_saves_runs_at_most_the_first_save_and_then_its_final_state(
        loop: tuple[WatchLoop, Recorder], project: Path) -> None:
    """The first write of a quiet spell runs at once (nothing says more will follow); the writes that
    follow within the debounce are one burst, analysed once, as it ended."""
    lp, rec = loop
    target = project / "wpipe" / "nodes.py"
    text = target.read_text()
    for i in range(10):
        target.write_text(text.replace("return base + 100", f"return base + {101 + i}"))
        time.sleep(0.005)
    final = parse_module(str(target), "wpipe.nodes").symbols["other"].digest
    rec.wait(lambda: _indexed_digest(lp, target, "other") == final)
    time.sleep(0.2)  # the analysis that indexed the final state starts its run right after
    assert lp.wait_idle(30)
    assert 1 <= len(rec.changes) <= 2 and rec.runs_started() <= 3
    assert lp.outcomes[-1].status == "ok" and not lp.outcomes[-1].superseded
    assert rec.finished_runs()[-1].status == "ok"


def test_comment_only_save_runs_nothing(loop: tuple[WatchLoop, Recorder], project: Path) -> None:
    lp, rec = loop
    target = project / "wpipe" / "nodes.py"
    text = target.read_text()
    target.write_text("# a comment\n" + text.replace("def base() -> int:", "def base()   ->   int:  # why\n")
                      .replace('"""Nodes."""', '"""Nodes, documented differently."""'))
    rec.wait(lambda: len(rec.changes) == 1)
    cs = rec.changes[0]
    assert cs.summary == "nodes.py saved: no node changed (comments or formatting only)" and not cs.should_run and not cs.code_changed
    _settle(rec, 1)


def test_helper_edit_runs_exactly_its_dependents(loop: tuple[WatchLoop, Recorder], project: Path) -> None:
    lp, rec = loop
    n = len(rec.events)
    _edit(project / "wpipe" / "util.py", "return x * FACTOR", "return x * FACTOR * 10")
    _settle(rec, 2)
    cs = rec.changes[-1]
    assert cs.changed_functions == ["_scale"]
    assert set(cs.affected_nodes or ()) == {"scaled", "scaled_plus", "total"}
    assert rec.since(n, "node_finished") == {"scaled", "scaled_plus", "total"}
    assert rec.since(n, "node_cached") == {"base", "other", "loaded"}


def test_unused_helper_and_constant_edits_are_mapped_by_reference(loop: tuple[WatchLoop, Recorder],
                                                                  project: Path) -> None:
    lp, rec = loop
    _edit(project / "wpipe" / "util.py", "return x\n", "return x + 1\n")
    rec.wait(lambda: len(rec.changes) == 1)
    assert rec.changes[0].affected_nodes == [] and rec.changes[0].summary.endswith("-> 0 will run, 0 may run, 6 cached")
    _edit(project / "wpipe" / "util.py", "FACTOR = 2", "FACTOR = 3")
    rec.wait(lambda: len(rec.changes) == 2)
    assert set(rec.changes[1].affected_nodes or ()) == {"scaled", "scaled_plus", "total"}


def test_data_file_edit_runs_its_dependents(loop: tuple[WatchLoop, Recorder], project: Path) -> None:
    lp, rec = loop
    n = len(rec.events)
    (project / "wpipe" / "data.txt").write_text("hello, world")
    _settle(rec, 2)
    cs = rec.changes[-1]
    assert cs.summary == "data.txt changed -> 1 will run, 1 may run, 4 cached"
    assert rec.since(n, "node_finished") == {"loaded", "total"}


def test_syntax_error_then_fix(loop: tuple[WatchLoop, Recorder], project: Path) -> None:
    lp, rec = loop
    target = project / "wpipe" / "nodes.py"
    good = target.read_text()
    target.write_text(good.replace("def total(", "def total(("))
    rec.wait(lambda: len(rec.changes) == 1)
    cs = rec.changes[0]
    assert cs.error is not None and cs.error.file == str(target) and cs.error.line > 0 and not cs.should_run
    msg = [e for e in rec.events if isinstance(e, ev.Message) and e.level == "error"][-1]
    assert msg.file == str(target) and msg.line == cs.error.line and f"{target}:{cs.error.line}" in msg.text
    assert lp.watcher.graph is not None and "total" in lp.watcher.graph.nodes  # the last good graph stays
    target.write_text(good.replace("scaled + 1", "scaled + 5"))
    _settle(rec, 2)
    assert rec.finished_runs()[-1].status == "ok"


def test_import_error_reported_then_next_good_save_runs(loop: tuple[WatchLoop, Recorder], project: Path) -> None:
    lp, rec = loop
    target = project / "wpipe" / "nodes.py"
    good = target.read_text()
    target.write_text(good.replace("from .util import _scale", "from .util import _scale, _missing"))
    rec.wait(lambda: any(o.status == "error" for o in lp.outcomes))
    msg = [e for e in rec.events if isinstance(e, ev.Message) and e.level == "error"][-1]
    assert msg.file == str(target) and msg.line == 5
    target.write_text(good)
    rec.wait(lambda: len(rec.finished_runs()) == 2)
    assert rec.finished_runs()[-1].status == "ok"


def test_crash_is_reported_and_the_watcher_keeps_going(project: Path) -> None:
    rec = Recorder()
    req = RunRequest("wpipe", cwd=str(project), inputs={"mode": "exit"}, no_cache=True)
    lp = WatchLoop(req, rec.on_event, on_change=rec.on_change, on_outcome=rec.on_outcome)
    lp.start()
    try:
        rec.wait(lambda: len(lp.outcomes) == 1)
        assert lp.outcomes[0].status == "crashed" and "3" in lp.outcomes[0].reason
        assert [e.node for e in rec.events if isinstance(e, ev.NodeFailed)] == ["other"]
        _edit(project / "wpipe" / "nodes.py", "scaled + 1", "scaled + 3")
        rec.wait(lambda: len(lp.outcomes) == 2)
        assert lp.outcomes[1].status == "crashed"
    finally:
        lp.stop()


def test_save_during_a_run_cancels_it(project: Path) -> None:
    _edit(project / "wpipe" / "nodes.py", "return base + 100", "import time\n    time.sleep(30)\n    return base")
    rec = Recorder()
    lp = WatchLoop(RunRequest("wpipe", cwd=str(project), no_cache=True), rec.on_event, on_change=rec.on_change, on_outcome=rec.on_outcome)
    lp.start()
    try:
        rec.wait(lambda: any(isinstance(e, ev.NodeStarted) and e.node == "other" for e in rec.events))
        _edit(project / "wpipe" / "nodes.py", "time.sleep(30)", "time.sleep(0)")
        rec.wait(lambda: len(lp.outcomes) == 2)
        assert [o.status for o in lp.outcomes] == ["cancelled", "ok"]
    finally:
        lp.stop()


def test_parse_ignores_comments_docstrings_and_formatting(tmp_path: Path) -> None:
    a = tmp_path / "a.py"
    a.write_text('def f(x):\n    """Doc."""\n    return x + 1  # c\n\nK = {"a": 1}\n')
    b = tmp_path / "b.py"
    b.write_text("# header\ndef f( x ):\n    return (x+1)\n\n\nK = {'a': 1}\n")
    sa, sb = parse_module(str(a), "a").symbols, parse_module(str(b), "b").symbols
    assert sa["f"].digest == sb["f"].digest and sa["K"].digest == sb["K"].digest
    assert ignored("/x/.nodes.py.swp") and ignored("/x/4913") and ignored("/x/a.py~") and ignored("/x/.#a.py")
    assert ignored("/p/__pycache__/a.pyc") and ignored("/p/.ripple/x") and not ignored("/p/a.py")


def test_watcher_alone_reports_changes(project: Path) -> None:
    seen: queue.Queue[ChangeSet] = queue.Queue()
    w = Watcher("wpipe", seen.put, cwd=str(project), debounce=0.05)
    w.start()
    try:
        _edit(project / "wpipe" / "util.py", "return x * FACTOR", "return x * FACTOR + 1")
        cs = seen.get(timeout=10)
        assert cs.changed_functions == ["_scale"] and cs.affected_nodes is None  # no graph known yet
        assert cs.should_run and cs.summary == "util.py saved: _scale changed -> running"
    finally:
        w.stop()


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in out}
        out |= frontier
    return out


def test_ripple_watch_cli_json_and_ctrl_c(project: Path) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "watch", "wpipe", "--json", "--cache-dir",
                             str(project / ".ripple")], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True, preexec_fn=default_sigint)
    lines: queue.Queue[dict] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()

    def until(pred: Callable[[dict], bool]) -> dict:
        deadline = time.monotonic() + 20
        while True:
            d = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if pred(d):
                return d

    try:
        assert until(lambda d: d["type"] == "run_finished")["status"] == "ok"
        _edit(project / "wpipe" / "nodes.py", "scaled + 1", "scaled + 7")
        msg = until(lambda d: d["type"] == "message")
        assert msg["text"].startswith("nodes.py saved: scaled_plus changed ->")
        assert until(lambda d: d["type"] == "node_started")["node"] in ("scaled_plus", "total")
        until(lambda d: d["type"] == "run_finished")
        kids = _descendants(proc.pid)
        assert kids, "the warm worker should be a child of ripple watch"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
        for pid in kids:
            assert gone(pid), f"child {pid} left behind"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Arrivals:
    """A watcher's change sets, for tests that wait on them."""

    def __init__(self) -> None:
        self.got: queue.Queue[ChangeSet] = queue.Queue()

    def __call__(self, cs: ChangeSet) -> None:
        self.got.put(cs)

    def next(self, timeout: float) -> ChangeSet | None:
        try:
            return self.got.get(timeout=timeout)
        except queue.Empty:
            return None


@pytest.fixture
def slow_watcher(project: Path) -> Iterator[tuple[Watcher, Arrivals]]:
    """A watcher whose debounce is a minute: whatever arrives sooner did not wait for it."""
    arrivals = Arrivals()
    watcher = Watcher("wpipe", arrivals, debounce=60.0, cwd=str(project))
    watcher.start()
    yield watcher, arrivals
    watcher.stop()


def test_a_single_in_place_save_is_analysed_without_waiting_out_the_debounce(
        slow_watcher: tuple[Watcher, Arrivals], project: Path) -> None:
    """Most editors write in place; its writer's close says the save is whole, so it runs after the
    settle of a few ms, like an atomic save, not after the debounce."""
    watcher, arrivals = slow_watcher
    _edit(project / "wpipe" / "nodes.py", "return base + 100", "return base + 7")
    cs = arrivals.next(20)
    assert cs is not None, "an in-place save waited for the 60 s debounce"
    assert [p.name for p in cs.files] == ["nodes.py"] and cs.changed_functions == ["other"] and cs.should_run


def test_an_atomic_save_is_analysed_without_waiting_out_the_debounce(
        slow_watcher: tuple[Watcher, Arrivals], project: Path) -> None:
    watcher, arrivals = slow_watcher
    target = project / "wpipe" / "nodes.py"
    tmp = project / "wpipe" / ".nodes.py.tmp"
    tmp.write_text(target.read_text().replace("return base + 100", "return base + 7"))
    os.replace(tmp, target)
    cs = arrivals.next(20)
    assert cs is not None, "an atomic save waited for the 60 s debounce"
    assert [p.name for p in cs.files] == ["nodes.py"] and cs.changed_functions == ["other"]


def test_a_save_then_a_chmod_is_still_one_complete_save(slow_watcher: tuple[Watcher, Arrivals],
                                                         project: Path) -> None:
    """Editors that restore the file's mode after writing: the attribute event that follows the close
    changes neither size nor mtime, so the save stays whole."""
    watcher, arrivals = slow_watcher
    target = project / "wpipe" / "nodes.py"
    _edit(target, "return base + 100", "return base + 7")
    os.chmod(target, 0o640)
    assert arrivals.next(20) is not None, "a chmod after the save made it wait for the 60 s debounce"


def test_a_half_written_file_is_not_analysed_until_its_writer_closes_it(
        slow_watcher: tuple[Watcher, Arrivals], project: Path) -> None:
    """A write still going on must never be mistaken for a save: the first half of the file alone
    would be a syntax error, or a module without half its nodes."""
    watcher, arrivals = slow_watcher
    if not watcher.reports_close:
        pytest.skip("this observer does not report a writer closing the file")
    target = project / "wpipe" / "nodes.py"
    new = target.read_text().replace("return base + 100", "return base + 7")
    half = new.index("def other(")
    with open(target, "w") as fh:
        fh.write(new[:half + 5])
        fh.flush()
        assert arrivals.next(1.0) is None, "a file still being written was analysed"
        fh.write(new[half + 5:])
    cs = arrivals.next(20)
    assert cs is not None, "the save, once closed, waited for the 60 s debounce"
    assert cs.error is None and cs.changed_functions == ["other"]


def test_a_save_soon_after_the_last_is_a_burst_that_waits_for_the_debounce(
        slow_watcher: tuple[Watcher, Arrivals], project: Path) -> None:
    """A checkout or a formatter rewrites file after file: only the first write of a quiet spell runs
    at once, the rest is one burst, analysed when it has been quiet for the debounce."""
    watcher, arrivals = slow_watcher
    _edit(project / "wpipe" / "nodes.py", "return base + 100", "return base + 7")
    assert arrivals.next(20) is not None
    _edit(project / "wpipe" / "util.py", "return x * FACTOR", "return x * FACTOR + 1")
    assert arrivals.next(1.0) is None, "the next save of a burst skipped the debounce"


def test_a_burst_that_ends_is_analysed_in_its_final_state(project: Path) -> None:
    """Whatever a burst looked like on the way (a file written twice, two files), what is analysed
    last is what the files hold at its end."""
    arrivals = Arrivals()
    watcher = Watcher("wpipe", arrivals, debounce=0.5, cwd=str(project))
    watcher.start()
    try:
        nodes, util = project / "wpipe" / "nodes.py", project / "wpipe" / "util.py"
        text = nodes.read_text()
        for i in range(5):
            nodes.write_text(text.replace("return base + 100", f"return base + {i}"))
        _edit(util, "return x * FACTOR", "return x * FACTOR + 1")
        seen: list[ChangeSet] = []
        while (cs := arrivals.next(3.0)) is not None:
            seen.append(cs)
        assert seen, "the burst was never analysed"
        files = {p.name for cs in seen for p in cs.files}
        assert files == {"nodes.py", "util.py"}
        indexed = watcher.index.files
        assert indexed[str(nodes)].symbols["other"].digest == parse_module(str(nodes), "wpipe.nodes").symbols["other"].digest
        assert indexed[str(util)].symbols["_scale"].digest == parse_module(str(util), "wpipe.util").symbols["_scale"].digest
        assert len(seen) <= 2
    finally:
        watcher.stop()
