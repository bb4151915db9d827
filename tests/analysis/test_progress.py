"""``ripple run``'s progress line ticks with the clock and shows an ETA; the dashboard header too."""

from __future__ import annotations

from rich.console import Console

from engine import events as ev
from engine.cli._progress import Predictions, RunProgress
from tui.state.graph import GraphInfo, NodeInfo
from tui.state.run_model import RunModel
from tui.widgets import panels


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_ticks_between_events_and_counts_down() -> None:
    clock = Clock()
    p = RunProgress(Console(file=open("/dev/null", "w")), {"load": 1.0, "fit": 4.0, "report": 0.5}, clock=clock)
    p.on_event(ev.RunStarted("r", 0.0, nodes=["load", "fit", "report"]))
    p.on_event(ev.NodePlanned("r", 0.0, node="load", will="hit"))
    p.on_event(ev.NodeCached("r", 0.0, node="load"))
    p.on_event(ev.NodeStarted("r", 0.0, node="fit"))
    clock.now += 1.0
    first = p.render().plain
    assert "1/3 nodes" in first and "fit 1.0s" in first and "ETA 3.5s" in first
    clock.now += 2.5  # no event in between: the renderable is re-rendered by rich's refresh timer
    second = p.render().plain
    assert "fit 3.5s" in second and "ETA 1.0s" in second and "3.5s" in second.split("nodes")[1]
    p.on_event(ev.NodeFinished("r", 0.0, node="fit", seconds=3.5))
    assert "2/3 nodes" in p.render().plain and "ETA 0.5s" in p.render().plain


def test_predictions_outcome_names_surprises() -> None:
    pred = Predictions()
    pred.on_event(ev.RunStarted("r", 0.0, nodes=["a", "b"]))
    pred.on_event(ev.NodePlanned("r", 0.0, node="a", will="run"))
    pred.on_event(ev.NodePlanned("r", 0.0, node="b", will="hit"))

    class Rec:
        def __init__(self, name: str, status: str) -> None:
            self.name, self.status, self.seconds = name, status, 0.5

    class Result:
        records = {"a": Rec("a", "ran"), "b": Rec("b", "ran")}

    assert pred.line(Result()) == "plan: 1 will run, 1 cached; 2 ran (not predicted: b)"
    pred.expected = {"a": 2.0, "b": 1.0}
    assert pred.line(Result()) == "plan: 1 will run, 1 cached (est. 2.0s); 2 ran in 1.0s (not predicted: b)"
    pred.expected = {"a": 0.012}
    assert pred.line(Result()).startswith("plan: 1 will run, 1 cached (est. 12ms); 2 ran in 1.0s")


def test_dashboard_header_shows_running_nodes_and_an_eta() -> None:
    graph = GraphInfo([NodeInfo("load"), NodeInfo("fit", deps=("load",))], ["load", "fit"])
    model = RunModel("p", graph)
    model.apply(ev.RunStarted("r", 0.0, nodes=["load", "fit"]), 10.0)
    model.apply(ev.NodeStarted("r", 0.0, node="load"), 10.0)
    model.history["load"] = __import__("collections").deque([2.0, 2.0])
    model.history["fit"] = __import__("collections").deque([5.0])
    header = panels.header_text(model, 11.5).plain
    assert "load 1.50s" in header and "ETA 5.5s" in header
    model.apply(ev.RunFinished("r", 0.0, status="ok", seconds=3.0), 13.0)
    assert "ETA" not in panels.header_text(model, 14.0).plain


def test_dashboard_change_summary_uses_the_runs_prediction_and_compares_with_what_ran() -> None:
    from tui.state.notices import ChangeDetected

    graph = GraphInfo([NodeInfo("a"), NodeInfo("b", deps=("a",)), NodeInfo("c")], ["a", "b", "c"])
    model = RunModel("p", graph)
    model.apply(ChangeDetected("nodes.py saved: a changed -> 2 to run, 1 cached", affected=["a", "b"]), 1.0)
    assert panels.change_summary(model) == "nodes.py saved: a changed -> 2 to run, 1 cached"
    model.apply(ev.RunStarted("r1", 0.0, nodes=["a", "b", "c"]), 1.0)
    for node, will in (("a", "run"), ("b", "may run"), ("c", "hit")):
        model.apply(ev.NodePlanned("r1", 0.0, node=node, will=will), 1.0)
    assert panels.change_summary(model) == "nodes.py saved: a changed -> 1 will run, 1 may run, 1 cached"
    model.apply(ev.NodeFinished("r1", 0.0, node="a", seconds=0.1), 1.1)
    model.apply(ev.NodeCached("r1", 0.0, node="b"), 1.1)
    model.apply(ev.NodeCached("r1", 0.0, node="c"), 1.1)
    model.apply(ev.RunFinished("r1", 0.0, status="ok", seconds=0.1), 1.2)
    assert panels.change_summary(model).endswith("1 will run, 1 may run, 1 cached; 1 ran")
    assert "1 ran" in panels.header_text(model, 2.0).plain
    # the next change shows the watcher's count until its run's own predictions arrive
    model.apply(ChangeDetected("nodes.py saved: b changed -> 1 to run, 2 cached", affected=["b"]), 3.0)
    assert panels.change_summary(model) == "nodes.py saved: b changed -> 1 to run, 2 cached"
    model.apply(ev.RunStarted("r2", 0.0, nodes=["a", "b", "c"]), 3.0)
    assert panels.change_summary(model) == "nodes.py saved: b changed -> 1 to run, 2 cached"
    for node, will in (("a", "hit"), ("b", "run"), ("c", "hit")):
        model.apply(ev.NodePlanned("r2", 0.0, node=node, will=will), 3.0)
    assert panels.change_summary(model) == "nodes.py saved: b changed -> 1 will run, 2 cached"


def test_headless_watch_announces_the_plan_once_per_run(tmp_path, monkeypatch, capsys) -> None:
    from engine.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "watchplan.py").write_text("def a(x: int = 1) -> int:\n    return x % 2\n\n\n"
                                           "def b(a: int) -> int:\n    return a + 1\n")
    assert main(["watch", "watchplan.py", "--once", "--cache-dir", "c"]) == 0
    out = capsys.readouterr().out
    assert out.count("plan: 2 will run, 0 cached") == 1 and out.index("plan:") < out.index("ran     a")
    assert main(["watch", "watchplan.py", "--once", "--cache-dir", "c"]) == 0
    assert "plan: 0 will run, 2 cached" in capsys.readouterr().out


def test_estimates_read_the_history_only_for_nodes_not_predicted_to_hit_and_only_once() -> None:
    asked: list[list[str]] = []

    def estimate(nodes: list[str]) -> dict[str, float]:
        asked.append(nodes)
        return {n: 2.0 for n in nodes}

    warm = Predictions(estimate=estimate)
    warm.on_event(ev.RunStarted("r", 0.0, nodes=["a", "b"]))
    for n in ("a", "b"):
        warm.on_event(ev.NodePlanned("r", 0.0, node=n, will="hit"))
    warm.on_event(ev.NodeCached("r", 0.0, node="a"))
    assert asked == [[]]  # nothing will run: no node's history is wanted

    asked.clear()
    pred = Predictions(estimate=estimate)
    pred.on_event(ev.RunStarted("r", 0.0, nodes=["a", "b", "c"]))
    for n, will in (("a", "hit"), ("b", "run"), ("c", "may run")):
        pred.on_event(ev.NodePlanned("r", 0.0, node=n, will=will))
    assert asked == []  # still planning
    pred.on_event(ev.NodeCached("r", 0.0, node="a"))  # planning is over, before anything is recorded
    pred.on_event(ev.NodeStarted("r", 0.0, node="b"))
    assert asked == [["b", "c"]] and pred.expected == {"b": 2.0, "c": 2.0}

    asked.clear()
    clock = Clock()
    p = RunProgress(Console(file=open("/dev/null", "w")), clock=clock, estimate=estimate)
    p.on_event(ev.RunStarted("r", 0.0, nodes=["a", "b"]))
    p.on_event(ev.NodePlanned("r", 0.0, node="a", will="hit"))
    p.on_event(ev.NodeCached("r", 0.0, node="a"))
    assert asked == []  # no node has started: no ETA to show yet
    p.on_event(ev.NodeStarted("r", 0.0, node="b"))
    p.on_event(ev.NodeStarted("r", 0.0, node="b"))
    clock.now += 0.5
    assert asked == [["b"]] and "ETA 1.5s" in p.render().plain
