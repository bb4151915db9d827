"""The one prebuilt JSON encoder writes exactly what ``json.JSONEncoder`` with the same options
writes: event lines are parsed by other processes, and row MACs cover store documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import events as ev
from engine._json import compact_encoder

DOCUMENTS = [
    {"a": "0" * 32, "n": 3, "f": 0.1, "big": 1e300, "nan": float("nan"), "none": None, "t": True},
    {"päth/ünïcode": "tab\there", "new": "line\n", 'q"': "back\\slash", "nul": "\0", "emoji": "\U0001f600"},
    {"l": [1, "2", [3, {"x": []}]], "p": Path("/tmp/x")},
    ["a", 1, None],
    "text",
]


@pytest.mark.parametrize("ascii_only", [True, False])
@pytest.mark.parametrize("doc", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_the_prebuilt_encoder_writes_what_json_writes(doc: object, ascii_only: bool) -> None:
    expected = json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=ascii_only).encode(doc)
    assert compact_encoder(ascii_only=ascii_only)(doc) == expected


def test_event_lines_are_the_json_they_always_were() -> None:
    events = [
        ev.RunStarted("r1", 1.5, pipeline="pïpe", outputs=["a"], nodes=["a", "b"]),
        ev.NodePlanned("r1", 2.0, node="b", will="may run", why="upstream a changed"),
        ev.NodeCached("r1", 2.5, node="a", why="unchanged since …"),
        ev.Message("r1", 3.0, level="warning", text="tab\t and \U0001f600"),
    ]
    old = json.JSONEncoder(default=str, separators=(",", ":"), ensure_ascii=False).encode
    for e in events:
        assert e.to_json() == old(e.to_dict())
        assert ev.from_json(e.to_json()) == e
