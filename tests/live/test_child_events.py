"""The child's event stream: every event arrives, in order, and the per-node predictions travel in
one write with the next event instead of one write each."""

from __future__ import annotations

import os

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


def test_predictions_wait_for_the_next_event_and_keep_their_order() -> None:
    r, w = os.pipe()
    try:
        out = _EventWriter(w)
        out.emit(ev.RunStarted("r", 0.0, nodes=["a", "b"]))
        out.emit(ev.NodePlanned("r", 0.0, node="a", will="hit"))
        out.emit(ev.NodePlanned("r", 0.0, node="b", will="run"))
        assert _drain(r) == [ev.RunStarted("r", 0.0, nodes=["a", "b"]).to_json()]
        out.emit(ev.NodeStarted("r", 0.0, node="b"))
        got = _drain(r)
        assert got == [ev.NodePlanned("r", 0.0, node="a", will="hit").to_json(),
                       ev.NodePlanned("r", 0.0, node="b", will="run").to_json(),
                       ev.NodeStarted("r", 0.0, node="b").to_json()]
    finally:
        os.close(r)
        os.close(w)
