"""The run event stream: order, content, JSON-lines round trip, and listener isolation."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine import Driver
from engine import events as ev

PIPELINE = """
from engine import Collect, Parallelizable

def a(x: int) -> int:
    return x + 1

def b(a: int) -> int:
    return a * 2

def broken(a: int) -> int:
    raise RuntimeError("nope")

def after(broken: int) -> int:
    return broken

def items(a: int) -> Parallelizable[int]:
    yield from range(a)

def per_item(items: int) -> int:
    return items

def gathered(per_item: Collect[int]) -> int:
    return sum(per_item)
"""


def _record(dr: Driver) -> list[ev.Event]:
    seen: list[ev.Event] = []
    dr.add_listener(seen.append)
    return seen


def test_event_order_for_a_successful_run(make_module):
    dr = Driver({}, make_module(PIPELINE))
    seen = _record(dr)
    dr.execute(["b"], inputs={"x": 1})
    kinds = [(e.kind, getattr(e, "node", None)) for e in seen]
    assert kinds == [
        ("run_started", None),
        ("node_started", "a"),
        ("node_finished", "a"),
        ("node_started", "b"),
        ("node_finished", "b"),
        ("run_finished", None),
    ]
    start, end = seen[0], seen[-1]
    assert isinstance(start, ev.RunStarted) and start.nodes == ["a", "b"] and start.outputs == ["b"]
    assert isinstance(end, ev.RunFinished) and end.status == "ok" and end.ran == 2 and end.failed == 0
    assert len({e.run_id for e in seen}) == 1
    assert all(e.seconds >= 0 for e in seen if isinstance(e, ev.NodeFinished))
    assert [e.t for e in seen] == sorted(e.t for e in seen)


def test_events_for_failure_skip_and_fan_out(make_module):
    mod = make_module(PIPELINE)
    dr = Driver({}, mod)
    seen = _record(dr)
    dr.run(["after", "gathered"], inputs={"x": 2})
    failed = [e for e in seen if isinstance(e, ev.NodeFailed)]
    assert len(failed) == 1
    assert failed[0].node == "broken" and failed[0].error == "nope" and failed[0].error_type == "RuntimeError"
    assert failed[0].file == mod.__file__ and failed[0].line == 10
    assert "raise RuntimeError" in failed[0].traceback
    skipped = [e for e in seen if isinstance(e, ev.NodeSkipped)]
    assert [(e.node, e.reason) for e in skipped] == [("after", "upstream broken failed")]
    per_item_starts = [e.task for e in seen if isinstance(e, ev.NodeStarted) and e.node == "per_item"]
    assert per_item_starts == ["items[0]", "items[1]", "items[2]"]
    end = seen[-1]
    assert isinstance(end, ev.RunFinished) and end.status == "failed" and end.failed == 1 and end.skipped == 1
    assert "broken: RuntimeError: nope" in end.error


SAMPLES = [
    ev.RunStarted("r1", 1.5, pipeline="p", outputs=["x"], nodes=["a", "x"], executor="threads", cache=True),
    ev.NodePlanned("r1", 1.6, node="a", will="hit", why="same code and inputs"),
    ev.NodeStarted("r1", 1.7, node="a", task="items[3]"),
    ev.NodeCached("r1", 1.8, node="a", seconds=0.01, saved_seconds=2.5, bytes=128, why="hit"),
    ev.NodeFinished("r1", 1.9, node="x", seconds=0.25, bytes=64, why="code changed", task=None),
    ev.NodeFailed("r1", 2.0, node="x", seconds=0.1, error="boom", error_type="ValueError",
                  traceback="Traceback...\n", file="/p.py", line=7, task="items[1]"),
    ev.NodeSkipped("r1", 2.1, node="y", reason="upstream x failed"),
    ev.RunFinished("r1", 2.2, status="failed", seconds=0.7, ran=1, cached=1, failed=1, skipped=1, error="x: boom"),
    ev.Message("r1", 2.3, level="warning", text="heads up", file="/p.py", line=3),
]


def test_every_event_type_is_covered_by_the_samples():
    assert {type(e) for e in SAMPLES} == set(ev.EVENT_TYPES.values())


@pytest.mark.parametrize("event", SAMPLES, ids=[e.kind for e in SAMPLES])
def test_json_lines_round_trip(event):
    line = event.to_json()
    assert "\n" not in line
    assert json.loads(line)["type"] == event.kind
    back = ev.from_json(line)
    assert type(back) is type(event) and back == event
    assert dataclasses.asdict(back) == dataclasses.asdict(event)


def test_read_jsonl_of_a_real_run_and_unknown_keys(make_module):
    dr = Driver({}, make_module(PIPELINE))
    seen = _record(dr)
    dr.run(["after", "gathered", "b"], inputs={"x": 1})
    text = "\n".join(e.to_json() for e in seen) + "\n\n"
    assert list(ev.read_jsonl(text.splitlines())) == seen
    newer = json.dumps({**SAMPLES[2].to_dict(), "added_in_a_later_version": 1})
    assert ev.from_json(newer) == SAMPLES[2]  # newer writers stay readable


def test_raising_listener_is_dropped_and_run_continues(make_module):
    dr = Driver({}, make_module(PIPELINE))
    calls: list[str] = []

    def broken_listener(event: ev.Event) -> None:
        calls.append(event.kind)
        raise RuntimeError("view crashed")

    dr.add_listener(broken_listener)
    good = _record(dr)
    assert dr.execute(["b"], inputs={"x": 1}) == {"b": 4}
    assert calls == ["run_started"]  # dropped after its first failure
    assert [e.kind for e in good][-1] == "run_finished" and len(good) == 6
    dr.execute(["b"], inputs={"x": 1})
    assert calls == ["run_started"]


def test_remove_listener_stops_delivery(make_module):
    dr = Driver({}, make_module(PIPELINE))
    seen = _record(dr)
    dr.remove_listener(seen.append)
    dr.execute(["b"], inputs={"x": 1})
    assert seen == []


def test_a_listener_of_some_kinds_gets_only_those_and_the_rest_are_not_built(make_module, tmp_path, monkeypatch):
    """``ripple run``'s os._exit watch takes nodes that start and end: a fully cached run then
    builds no event at all (not even the run's start and end), while a full listener still gets all."""
    dr = Driver({}, make_module(PIPELINE)).with_cache(tmp_path / "store")
    ends: list[ev.Event] = []
    dr.add_listener(ends.append, ["node_started", "node_finished"])
    assert dr.bus.wants("node_started") and not dr.bus.wants("node_cached") and not dr.bus.wants("run_started")
    dr.execute(["b"], inputs={"x": 1})
    assert [(e.kind, e.node) for e in ends] == [("node_started", "a"), ("node_finished", "a"),
                                                 ("node_started", "b"), ("node_finished", "b")]
    built: list[str] = []
    for name in ("RunStarted", "NodeCached", "RunFinished", "NodePlanned"):
        real = getattr(ev, name)
        monkeypatch.setattr(ev, name, lambda *a, _real=real, _name=name, **k: built.append(_name) or _real(*a, **k))
    ends.clear()
    dr.execute(["b"], inputs={"x": 1})  # warm: every node cached
    assert ends == [] and built == []
    everything = _record(dr)
    dr.execute(["b"], inputs={"x": 1})
    assert [e.kind for e in everything] == ["run_started", "node_planned", "node_planned", "node_cached", "node_cached",
                                            "run_finished"]
    assert built == ["RunStarted", "NodePlanned", "NodePlanned", "NodeCached", "NodeCached", "RunFinished"]
    assert ends == []
    dr.remove_listener(everything.append)
    assert dr.bus.wants("node_started") and not dr.bus.wants("node_cached")  # the kinds listener is left
    dr.remove_listener(ends.append)
    assert not dr.bus and not dr.bus.wants("node_started")


@pytest.mark.parametrize("event", SAMPLES, ids=[e.kind for e in SAMPLES])
def test_a_batch_line_reads_back_as_its_events(event):
    """A child sends each run of held events of one class as one line (``batch_json``)."""
    from engine.event_types import batch_json, read_line

    many = [dataclasses.replace(event, t=event.t + i) for i in range(3)]
    line = batch_json(many)
    assert "\n" not in line
    assert read_line(line) == many and read_line(event.to_json()) == [event]
    assert list(ev.read_jsonl([line, event.to_json()])) == [*many, event]
    d = json.loads(line)
    d["fields"].append("added_in_a_later_version")
    d["rows"] = [[*r, 1] for r in d["rows"]]
    assert read_line(json.dumps(d)) == many  # newer writers stay readable

