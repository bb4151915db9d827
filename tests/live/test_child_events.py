"""The child's event stream: every event arrives, in order, and the per-node predictions and cache
hits travel in one write with the next event instead of one write each, or on their own soon after,
each run of one class as one line (``event_types.batch_json``)."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator

import pytest

from engine import events as ev
from engine.event_types import read_line
from engine.live.child import _EventWriter


def _lines(fd: int) -> list[str]:
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks).decode().splitlines()


def _drain(fd: int) -> list[ev.Event]:
    return [e for line in _lines(fd) for e in read_line(line)]


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    os.close(r)
    os.close(w)


def test_predictions_wait_for_the_next_event_and_keep_their_order(pipe: tuple[int, int]) -> None:
    r, w = pipe
    out = _EventWriter(w, hold=3600.0)  # only the next event sends them here
    out.emit(ev.RunStarted("r", 0.0, nodes=["a", "b"]))
    out.emit(ev.NodePlanned("r", 0.0, node="a", will="hit"))
    out.emit(ev.NodePlanned("r", 0.0, node="b", will="run"))
    assert _drain(r) == [ev.RunStarted("r", 0.0, nodes=["a", "b"])]
    out.emit(ev.NodeStarted("r", 0.0, node="b"))
    got = _lines(r)
    assert len(got) == 2  # the two predictions in one line
    assert [e for line in got for e in read_line(line)] == [
        ev.NodePlanned("r", 0.0, node="a", will="hit"), ev.NodePlanned("r", 0.0, node="b", will="run"),
        ev.NodeStarted("r", 0.0, node="b")]


def test_cache_hits_are_held_with_the_predictions_in_order(pipe: tuple[int, int]) -> None:
    r, w = pipe
    out = _EventWriter(w, hold=3600.0)
    held = [ev.NodePlanned("r", 0.0, node="a", will="hit"), ev.NodeCached("r", 0.0, node="a", why="cached"),
            ev.NodeCached("r", 0.0, node="b", why="cached")]
    for e in held:
        out.emit(e)
    assert _drain(r) == []
    out.emit(ev.RunFinished("r", 0.0, status="ok"))
    assert _drain(r) == [*held, ev.RunFinished("r", 0.0, status="ok")]


def test_held_events_go_out_on_their_own_when_no_other_event_follows(pipe: tuple[int, int]) -> None:
    """A slow lookup after a hit must not keep the hit from the views: the timer sends it."""
    r, w = pipe
    out = _EventWriter(w, hold=0.01)
    out.emit(ev.NodeCached("r", 0.0, node="a", why="cached"))
    ready, _, _ = select.select([r], [], [], 30.0)  # no other event is ever emitted
    assert ready and _drain(r) == [ev.NodeCached("r", 0.0, node="a", why="cached")]
