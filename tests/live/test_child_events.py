"""The child's event stream: every event arrives, in order, and the per-node predictions and cache
hits travel in one write with the next event instead of one write each, or on their own soon after."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator

import pytest

from engine import events as ev
from engine.live.child import _EventWriter


def _drain(fd: int) -> list[str]:
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks).decode().splitlines()


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
    assert _drain(r) == [ev.RunStarted("r", 0.0, nodes=["a", "b"]).to_json()]
    out.emit(ev.NodeStarted("r", 0.0, node="b"))
    got = _drain(r)
    assert got == [ev.NodePlanned("r", 0.0, node="a", will="hit").to_json(),
                   ev.NodePlanned("r", 0.0, node="b", will="run").to_json(),
                   ev.NodeStarted("r", 0.0, node="b").to_json()]


def test_cache_hits_are_held_with_the_predictions_in_order(pipe: tuple[int, int]) -> None:
    r, w = pipe
    out = _EventWriter(w, hold=3600.0)
    held = [ev.NodePlanned("r", 0.0, node="a", will="hit"), ev.NodeCached("r", 0.0, node="a", why="cached"),
            ev.NodeCached("r", 0.0, node="b", why="cached")]
    for e in held:
        out.emit(e)
    assert _drain(r) == []
    out.emit(ev.RunFinished("r", 0.0, status="ok"))
    assert _drain(r) == [e.to_json() for e in [*held, ev.RunFinished("r", 0.0, status="ok")]]


def test_held_events_go_out_on_their_own_when_no_other_event_follows(pipe: tuple[int, int]) -> None:
    """A slow lookup after a hit must not keep the hit from the views: the timer sends it."""
    r, w = pipe
    out = _EventWriter(w, hold=0.01)
    out.emit(ev.NodeCached("r", 0.0, node="a", why="cached"))
    ready, _, _ = select.select([r], [], [], 30.0)  # no other event is ever emitted
    assert ready and _drain(r) == [ev.NodeCached("r", 0.0, node="a", why="cached").to_json()]
