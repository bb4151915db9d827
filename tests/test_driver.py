"""The Driver's inspection API, renderings and the Hamilton-shaped Builder."""

from __future__ import annotations

import pytest

from engine import Builder, Driver, UsageError, Variable

DIAMOND = '''
from engine import tag

def source_data(path: str) -> list:
    """Rows read from path."""
    return [1, 2, 3]

def cleaned(source_data: list) -> list:
    return [r for r in source_data if r > 1]

@tag(kind="feature")
def left(cleaned: list) -> int:
    return sum(cleaned)

def right(cleaned: list, weight: int = 2) -> int:
    return len(cleaned) * weight

def combined(left: int, right: int) -> int:
    return left + right

def unrelated() -> str:
    return "x"
'''


@pytest.fixture
def dr(make_module):
    return Driver({}, make_module(DIAMOND))


def _names(variables: list[Variable]) -> list[str]:
    return [v.name for v in variables]


def test_upstream_and_downstream(dr):
    # as Hamilton: the named nodes themselves are included, and upstream includes the inputs
    assert _names(dr.what_is_upstream_of("combined")) == ["source_data", "cleaned", "left", "right", "combined",
                                                         "path", "weight"]
    assert _names(dr.what_is_upstream_of("left")) == ["source_data", "cleaned", "left", "path"]
    assert _names(dr.what_is_downstream_of("cleaned")) == ["cleaned", "left", "right", "combined"]
    assert _names(dr.what_is_downstream_of("combined")) == ["combined"]
    assert _names(dr.what_is_upstream_of("unrelated")) == ["unrelated"]


def test_path_between(dr):
    assert _names(dr.what_is_the_path_between("source_data", "left")) == ["source_data", "cleaned", "left"]
    assert _names(dr.what_is_the_path_between("left", "combined")) == ["left", "combined"]
    assert dr.what_is_the_path_between("unrelated", "combined") == []


def test_unknown_node_names_are_usage_errors(dr):
    with pytest.raises(UsageError, match="unknown node 'nope'"):
        dr.what_is_upstream_of("nope")
    with pytest.raises(UsageError, match="did you mean 'cleaned'"):
        dr.execute(["cleand"], inputs={"path": "p"})


def test_list_available_variables(dr, make_module):
    variables = {v.name: v for v in dr.list_available_variables()}
    assert set(variables) == {"source_data", "cleaned", "left", "right", "combined", "unrelated", "path", "weight"}
    src = variables["source_data"]
    assert src.type is list and src.documentation == "Rows read from path." and not src.is_external_input
    assert src.originating_file.endswith(".py") and src.line == 4
    assert variables["left"].tags == {"kind": "feature", "module": variables["left"].tags["module"]}
    assert variables["path"].is_external_input and variables["path"].required and variables["path"].type is str
    assert variables["weight"].is_external_input and not variables["weight"].required


def test_visualize_text(dr):
    drawing = dr.visualize("text")
    assert "╭" in drawing.splitlines()[0] and all(n in drawing for n in ("source_data", "combined"))
    text = dr.visualize("list")
    lines = text.splitlines()
    assert lines[0].split() == ["source_data", "<-", "path"]
    assert any(line.split()[:1] == ["combined"] and line.endswith("<- left, right") for line in lines)
    assert lines[-1] == "inputs: path, weight"
    only = dr.visualize("list", ["left"])
    assert "right" not in only and "combined" not in only and "cleaned" in only


def test_visualize_dot(dr):
    dot = dr.visualize("dot")
    assert dot.startswith("digraph ripple {") and dot.rstrip().endswith("}")
    for edge in ('"cleaned" -> "left";', '"left" -> "combined";', '"right" -> "combined";', '"path" -> "source_data";'):
        assert edge in dot
    assert '"path" [shape=ellipse, style=dashed];' in dot
    assert dot.count("->") == 7


def test_visualize_mermaid(dr):
    mermaid = dr.visualize("mermaid").splitlines()
    assert mermaid[0] == "flowchart LR"
    ids = {line.split('["')[1].rstrip('"]'): line.split("[")[0].strip() for line in mermaid if '["' in line}
    assert f"  {ids['left']} --> {ids['combined']}" in mermaid
    assert f"  {ids['cleaned']} --> {ids['right']}" in mermaid
    assert sum("-.->" in line for line in mermaid) == 2  # path and weight are inputs
    with pytest.raises(UsageError, match="unknown graph format"):
        dr.visualize("png")


def test_display_graph_prints_the_executed_nodes(dr, capsys):
    assert dr.execute(["left"], inputs={"path": "p"}, display_graph=True) == {"left": 5}
    out = capsys.readouterr().out
    assert "left" in out and "ran" in out and "combined" not in out


def test_driver_accepts_modules_without_config(make_module):
    mod = make_module(DIAMOND)
    assert Driver(mod).execute(["unrelated"]) == {"unrelated": "x"}
    with pytest.raises(UsageError, match="at least one pipeline module"):
        Driver({})


def test_builder(make_module):
    mod = make_module(DIAMOND + "\n\ndef scaled(left: int, factor: int) -> int:\n    return left * factor\n")
    dr = (
        Builder()
        .with_modules(mod)
        .with_config({"factor": 10})
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_local_executor("threads")
        .build()
    )
    assert isinstance(dr, Driver) and dr.executor.name == "threads"
    assert dr.execute(["scaled", "combined"], inputs={"path": "p"}) == {"scaled": 50, "combined": 9}


def test_run_returns_records_and_ids(dr):
    first = dr.run(["combined"], inputs={"path": "p"}, run_id="fixed-id")
    second = dr.run(["combined"], inputs={"path": "p"})
    assert first.run_id == "fixed-id" and second.run_id != first.run_id
    assert first.status == "ok" and first.outputs == {"combined": 9}
    assert first.count("ran") == 5 and dr.last_run is second


def test_runs_and_the_cache_leave_the_collector_as_they_found_it(make_module, tmp_path):
    """The engine pauses and freezes the collector only around its own bookkeeping (engine._gc):
    afterwards it is enabled or not as before, and what someone else froze is still frozen."""
    import gc

    mod = make_module(DIAMOND)
    dr = Driver({}, mod).with_cache(tmp_path / "store")
    assert gc.isenabled() and not gc.get_freeze_count()
    assert dr.execute(["combined"], inputs={"path": "x"})["combined"] == 9
    assert gc.isenabled() and not gc.get_freeze_count()
    mine = [[] for _ in range(3)]  # lists: objects the collector tracks, so they can be frozen
    gc.freeze()  # a forking server's freeze

    def still_frozen() -> bool:  # a frozen object is in no generation (the count would also drop
        live = {id(o) for o in gc.get_objects()}  # when frozen objects die meanwhile)
        return gc.get_freeze_count() > 0 and not any(id(m) in live for m in mine)

    try:
        assert still_frozen()
        Driver({}, mod).with_cache(tmp_path / "store").execute(["combined"], inputs={"path": "x"})
        assert still_frozen()
        gc.disable()
        Driver({}, mod).with_cache(tmp_path / "store").execute(["combined"], inputs={"path": "x"})
        assert not gc.isenabled() and still_frozen()
    finally:
        gc.enable()
        gc.unfreeze()


def test_the_collector_never_runs_inside_the_engines_own_bookkeeping(make_module, tmp_path):
    """Building the graph, analysing a source file and opening the cache run with the collector
    paused (engine._gc): with a threshold that collects at every allocation, none starts there
    but at the few allocations before each pause begins (unpaused, each phase starts hundreds)."""
    import gc

    from engine.caching.source_analysis import analyze_source
    from engine.core.building import build_graph

    mod = make_module(DIAMOND)
    dr = Driver({}, mod)
    source = DIAMOND * 20
    started: list[int] = []

    def note(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(info["generation"])

    old = gc.get_threshold()
    gc.callbacks.append(note)
    gc.set_threshold(1)
    try:
        build_graph([mod])
        built = len(started)
        analyze_source(source, "diamond.py")
        analysed = len(started) - built
        dr.with_cache(tmp_path / "store")
        opened = len(started) - built - analysed
        [type("Box", (), {})() for _ in range(50)]  # the collector itself still runs outside
        after = len(started) - built - analysed - opened
    finally:
        gc.set_threshold(*old)
        gc.callbacks.remove(note)
    assert max(built, analysed, opened) <= 10
    assert after > 0


def test_a_dropped_driver_closes_the_store_it_opened_without_waiting_for_the_collector(make_module, tmp_path):
    """The store sits in reference cycles, so only a full collection freed it: a notebook or a worker
    making many drivers (and the test suite) ran out of descriptors — its connection, WAL and journal."""
    import gc
    import os
    import weakref

    mod = make_module("def a() -> int:\n    return 1\n\n\ndef b(a: int) -> int:\n    return a + 1\n")
    before = len(os.listdir("/proc/self/fd"))
    gc.disable()
    try:
        dr = Driver({}, mod).with_cache(tmp_path / "store")
        assert dr.execute(["b"]) == {"b": 2}
        store = weakref.ref(dr.cache.store)
        assert len(os.listdir("/proc/self/fd")) > before
        del dr
        assert store() is None or store()._closed
        assert len(os.listdir("/proc/self/fd")) == before
    finally:
        gc.enable()
    again = Driver({}, mod).with_cache(tmp_path / "store")
    assert again.execute(["b"]) == {"b": 2} and again.cache.last["hits"] == 2  # everything was committed
