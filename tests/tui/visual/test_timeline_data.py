"""Timelines and trends as data and text: what the Bottlenecks tab, ``runs show --timeline`` and the
duration plots draw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visual_support import demo_runs, events_until_running

from engine import events as ev
from engine.analysis.timeline import block_plot, build, rows, to_text
from tui.state.timeline import RunClock, load_trends


def _spans() -> list[tuple[str, str, float | None, float | None]]:
    return [("a", "ran", 100.0, 0.5), ("b", "cached", 100.5, 0.001), ("c", "ran", 100.5, 1.2),
            ("d", "ran", 100.6, 0.3), ("e", "failed", 101.7, 0.1), ("f", "skipped", None, None)]


DEPS = {"c": ["a"], "d": ["a"], "e": ["c", "d"], "f": ["e"]}


def test_bars_run_from_start_to_end_and_the_critical_path_is_marked() -> None:
    tl = build("r1", _spans(), deps=DEPS, status="failed", origin=100.0)
    bars = {b.node: b for b in tl.bars}
    assert (bars["a"].start, bars["a"].end) == (0.0, 0.5)
    assert bars["c"].start < bars["d"].start < bars["c"].end  # parallel: d overlaps c
    assert bars["b"].seconds == 0.0  # a hit is a tick, not a bar
    assert tl.critical == ("a", "c", "e") and abs(tl.critical_seconds - 1.8) < 1e-9
    assert [b.critical for b in tl.bars if b.node in ("a", "c", "e")] == [True, True, True]
    assert not bars["d"].critical and abs(tl.wall - 1.8) < 1e-9


def test_a_record_without_a_start_follows_the_previous_bar() -> None:
    tl = build("r", [("x", "ran", None, 1.0), ("y", "ran", None, 2.0)])
    bars = {b.node: b for b in tl.bars}
    assert (bars["y"].start, bars["y"].end) == (1.0, 3.0)


def test_the_text_chart_fits_its_width_with_ticks_bars_and_marks() -> None:
    tl = build("r1", _spans(), deps=DEPS, status="failed", origin=100.0)
    drawn = rows(tl, 70)
    for row in drawn[:-1]:
        assert len(row.text) == 70
    by_node = {r.node: r.text for r in drawn}
    assert "╎" in by_node["b"] and "█" not in by_node["b"] and by_node["b"].rstrip().endswith("hit")
    assert by_node["c"].startswith("*c") and by_node["d"].startswith(" d")
    assert by_node["c"].count("█") > by_node["d"].count("█") > 0
    text = to_text(tl, 70)
    assert "critical path 1.80s (*): a → c → e" in text and text.splitlines()[-1].strip().endswith("1.80s")


def test_a_long_run_is_listed_up_to_a_limit() -> None:
    tl = build("r", [(f"n{i}", "ran", float(i), 1.0) for i in range(100)])
    drawn = rows(tl, 80, limit=10)
    assert "90 more nodes" in drawn[10].text


def test_block_plot_scales_to_its_height() -> None:
    assert block_plot([1.0, 0.5, 0.0], height=2) == ["█  ", "██ "]
    assert block_plot([0.01, 10.0], height=1)[0][0] == "▁"  # a positive value always shows


def test_live_clock_replays_overlap_and_grows_the_running_bar() -> None:
    graph, runs = demo_runs()
    clock = RunClock()
    for e in runs[0][: events_until_running("fitted_model")]:
        clock.apply(e, 50.0)
    early = clock.timeline(50.0, graph.parents)
    later = clock.timeline(53.0, graph.parents)
    assert early is not None and later is not None
    grow = {b.node: b for b in later.bars}["fitted_model"]
    assert grow.status == "running" and abs(grow.end - 3.0) < 1e-6  # the run is 3 s old on the clock
    assert {b.node: b for b in early.bars}["fitted_model"].seconds < grow.seconds
    for e in runs[0][events_until_running("fitted_model"):]:
        clock.apply(e, 53.0)
    done = clock.timeline(99.0, graph.parents)
    assert done is not None and done.status == "ok" and len(done.bars) == len(graph.order)
    ends = sorted((b.start, b.end) for b in done.bars if b.status == "ran")
    assert any(s2 < e1 for (_, e1), (s2, _) in zip(ends, ends[1:])), "four threads: some bars overlap"
    assert "fitted_model" in done.critical


def test_trends_collect_durations_hits_and_run_rates() -> None:
    _, runs = demo_runs()
    clock = RunClock()
    for run in runs:
        for e in run:
            clock.apply(e, 0.0)
    points = list(clock.nodes["fitted_model"])
    assert [p.hit for p in points] == [False, True] and points[0].seconds > points[1].seconds
    first, second = clock.runs
    assert first.hit_rate == 0.0 and second.hit_rate is not None and second.hit_rate > 0.9
    clock.end_run("crashed")  # no run is running: nothing changes
    assert clock.status == "ok"


def test_trends_load_from_the_store(make_module: Any, tmp_path: Path) -> None:
    from engine import Driver

    mod = make_module("""
        def base() -> int:
            return 1

        def doubled(base: int) -> int:
            return base * 2
    """)
    store = tmp_path / "store"
    dr = Driver({}, mod).with_cache(str(store))
    dr.execute(["doubled"])
    dr.execute(["doubled"])
    got = load_trends(str(store), ["base", "doubled"])
    assert [p.hit for p in got.nodes["doubled"]] == [False, True]
    assert [r.hit_rate for r in got.runs] == [0.0, 1.0]
    assert load_trends("", ["x"]).runs == [] and load_trends(str(tmp_path / "none"), ["x"]).nodes == {}
    clock = RunClock()
    clock.apply(got, 0.0)
    assert len(clock.nodes["doubled"]) == 2 and len(clock.runs) == 2
    clock.apply(got, 0.0)  # the same history again (a run seen live and in the store): counted once
    assert len(clock.nodes["doubled"]) == 2 and len(clock.runs) == 2


def test_events_of_another_run_are_ignored() -> None:
    clock = RunClock()
    clock.apply(ev.RunStarted("r1", 10.0, pipeline="p", outputs=[], nodes=["a"]), 0.0)
    assert not clock.apply(ev.NodeStarted("other", 10.5, node="a"), 0.0)
    assert clock.apply(ev.NodeStarted("r1", 10.5, node="a"), 0.0)


def test_fan_out_items_make_one_bar_over_all_items() -> None:
    clock = RunClock()
    clock.apply(ev.RunStarted("r", 10.0, pipeline="p", outputs=[], nodes=["each"]), 0.0)
    for i, (start, end) in enumerate([(10.0, 10.5), (10.2, 11.0)]):
        clock.apply(ev.NodeStarted("r", start, node="each", task=f"each[{i}]"), 0.0)
        clock.apply(ev.NodeFinished("r", end, node="each", seconds=end - start, task=f"each[{i}]"), 0.0)
    tl = clock.timeline(0.0)
    assert tl is not None
    (bar,) = tl.bars
    assert (bar.start, bar.end) == (0.0, 1.0) and "each" not in clock.nodes  # no per-item trend points
