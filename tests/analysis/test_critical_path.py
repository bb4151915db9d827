"""critical_path over constructed records: the chain, what parallel workers could save, edge cases."""

from __future__ import annotations

from engine.analysis.critical_path import CriticalPath, Span, critical_path


def test_longest_weighted_chain_wins_over_the_longest_chain() -> None:
    # a -> b -> c is 3 nodes but 3 s; a -> slow is 2 nodes but 5.5 s
    spans = [Span("a", 1.0), Span("b", 1.0, ("a",)), Span("c", 1.0, ("b",)), Span("slow", 4.5, ("a",))]
    cp = critical_path(spans)
    assert cp.nodes == ("a", "slow")
    assert cp.seconds == 5.5
    assert cp.total == 7.5
    # no start/end: the wall time is the sequential sum, so parallelism could save total - path
    assert cp.wall == 7.5 and cp.parallel_saving == 2.0


def test_mappings_in_any_order_and_unknown_deps_are_ignored() -> None:
    records = [{"name": "z", "seconds": 2.0, "deps": ["y", "not-in-run"]}, {"node": "y", "seconds": 3.0}]
    cp = critical_path(records)
    assert cp.nodes == ("y", "z") and cp.seconds == 5.0


def test_start_and_end_give_durations_and_the_measured_wall_time() -> None:
    spans = [Span("a", start=100.0, end=101.0), Span("b", start=101.0, end=103.0, deps=("a",)),
             Span("c", start=101.0, end=101.5, deps=("a",))]
    cp = critical_path(spans)
    assert cp.nodes == ("a", "b") and cp.seconds == 3.0
    assert cp.wall == 3.0 and cp.parallel_saving == 0.0  # it already ran in parallel
    assert critical_path(spans, wall=10.0).parallel_saving == 7.0


def test_seconds_win_over_wall_clock_differences() -> None:
    assert Span("a", seconds=0.25, start=0.0, end=9.0).duration == 0.25


def test_empty_and_ties_are_stable() -> None:
    assert critical_path([]) == CriticalPath((), 0.0, 0.0, 0.0)
    cp = critical_path([Span("first", 1.0), Span("second", 1.0)])
    assert cp.nodes == ("first",)


def test_a_long_chain_does_not_recurse() -> None:
    n = 10_000
    spans = [Span(f"n{i}", 0.001, (f"n{i - 1}",) if i else ()) for i in range(n)]
    cp = critical_path(reversed(spans))
    assert len(cp.nodes) == n and cp.nodes[0] == "n0"


def test_a_cycle_is_dropped_not_looped() -> None:
    cp = critical_path([Span("a", 1.0, ("b",)), Span("b", 1.0, ("a",)), Span("c", 0.5)])
    assert cp.nodes == ("c",)


def test_to_dict_carries_the_saving() -> None:
    d = critical_path([Span("a", 2.0), Span("b", 1.0)]).to_dict()
    assert d == {"nodes": ["a"], "seconds": 2.0, "total": 3.0, "wall": 3.0, "parallel_saving": 1.0}
