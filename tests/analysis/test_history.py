"""The history analysis on constructed records: ranking by self time, share, trend, time saved."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from engine.analysis.history import median_seconds, rank, saved_by, trend


@dataclass
class Rec:
    node: str
    status: str
    seconds: float | None
    hit: bool = False
    key: str | None = None


def test_rank_by_self_time_with_share_of_wall_time() -> None:
    recs = [Rec("load", "ran", 0.5), Rec("fit", "ran", 3.0), Rec("report", "ran", 0.5)]
    ranking = rank(recs, wall=5.0, critical=["load", "fit"])
    assert [r.node for r in ranking] == ["fit", "load", "report"]  # ties by name
    assert ranking[0].share == pytest.approx(0.6)
    assert [r.critical for r in ranking] == [True, True, False]
    # without a wall time the share is of the summed self times
    assert rank(recs)[0].share == pytest.approx(0.75)


def test_trend_flags_a_last_run_much_slower_than_its_median() -> None:
    history = [Rec("fit", "ran", 4.0), Rec("fit", "cached", 0.01, hit=True), Rec("fit", "ran", 1.0),
               Rec("fit", "ran", 1.2), Rec("fit", "ran", 0.9)]  # newest first
    t = trend("fit", history)
    assert (t.runs, t.last, t.median, t.regressed) == (4, 4.0, 1.0, True)
    assert t.ratio == pytest.approx(4.0)


def test_trend_ignores_jitter_on_fast_nodes_and_steady_nodes() -> None:
    fast = [Rec("x", "ran", 0.004), Rec("x", "ran", 0.001), Rec("x", "ran", 0.001)]
    assert not trend("x", fast).regressed  # 4x slower, but 3 ms
    steady = [Rec("y", "ran", 1.1), Rec("y", "ran", 1.0), Rec("y", "ran", 1.05)]
    assert not trend("y", steady).regressed


def test_trend_with_no_or_one_executed_run() -> None:
    assert trend("n", []).last is None
    assert trend("n", [Rec("n", "cached", 0.0, hit=True)]).runs == 0
    one = trend("n", [Rec("n", "ran", 2.0)])
    assert (one.last, one.median, one.regressed, one.ratio) == (2.0, None, False, None)


def test_median_seconds_counts_executions_only() -> None:
    assert median_seconds([Rec("n", "ran", 1.0), Rec("n", "cached", 0.0, True), Rec("n", "failed", 3.0)]) == 2.0
    assert median_seconds([Rec("n", "cached", 0.0, True)]) is None


def test_time_saved_uses_the_entry_else_the_median() -> None:
    hits = [Rec("fit", "cached", 0.01, True, key="k1"), Rec("load", "cached", 0.0, True, key="gone")]
    assert saved_by(hits, {"k1": 2.5}, {"load": 0.5, "fit": 9.0}) == pytest.approx(3.0)
    assert saved_by(hits, {}, {}) == 0.0


def test_eta_from_expected_costs() -> None:
    from engine.analysis.estimate import Eta, eta, fmt_eta

    expected = {"load": 1.0, "fit": 4.0, "report": 0.5}
    # fit has run 3 s of its 4; report waits; load is predicted to hit and costs nothing
    e = eta(["load", "report"], {"fit": 3.0}, expected, {"load": "hit", "report": "run"})
    assert e == Eta(1.5, True)
    assert fmt_eta(e) == "ETA 1.5s"
    # running past its median adds nothing; a node with no history makes it a lower bound
    e = eta(["new"], {"fit": 9.0}, expected)
    assert e == Eta(0.0, False) and fmt_eta(e) == "ETA ?"
    assert fmt_eta(Eta(12.0, False)) == "ETA ≥12s"
    assert eta(["new"], {}, expected) is None
    assert fmt_eta(Eta(125.0, True)) == "ETA 2m05s"
