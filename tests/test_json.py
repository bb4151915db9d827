"""``engine._json`` writes and reads exactly what ``json`` does: event lines are parsed by other
processes, row MACs cover store documents, and code versions hash some of them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from engine import events as ev
from engine._json import compact_encoder, dumps, loads

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


def _document(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**70, -(2**64) + 3, rng.randrange(-10**6, 10**6)])
    if kind == 2:
        return rng.choice([0.0, -0.0, 0.1, 1e300, -1e-300, float("inf"), float("-inf"), float("nan"), rng.random()])
    if kind in (3, 4, 5):
        alphabet = "ab\"\\/\b\f\n\r\t\0\x7f\u00e9\u2028\U0001f600\ud800 "
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
    if kind in (6, 7):
        return [_document(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(_document(rng, 3)): _document(rng, depth + 1) for _ in range(rng.randrange(4))}


DOCS = [_document(random.Random(seed)) for seed in range(400)]


def test_dumps_writes_what_json_dumps_writes() -> None:
    for doc in DOCS + DOCUMENTS[:2] + DOCUMENTS[3:]:
        assert dumps(doc) == json.dumps(doc)
        assert dumps(doc, sort_keys=True) == json.dumps(doc, sort_keys=True)
        assert dumps(doc, compact=True) == json.dumps(doc, separators=(",", ":"))


def test_dumps_refuses_what_json_refuses() -> None:
    for bad in ({"p": Path("/x")}, [object()], {(1, 2): 3}):
        with pytest.raises(TypeError) as ours:
            dumps(bad)
        with pytest.raises(TypeError) as theirs:
            json.dumps(bad)
        assert str(ours.value) == str(theirs.value)


def test_loads_reads_what_json_loads_reads() -> None:
    for doc in DOCS:
        for text in (json.dumps(doc), json.dumps(doc, indent=2), f" \n\t{json.dumps(doc)}\r\n "):
            assert json.dumps(loads(text)) == json.dumps(json.loads(text))
            assert json.dumps(loads(text.encode())) == json.dumps(json.loads(text.encode()))


@pytest.mark.parametrize("text", ["", " ", "{", "[1,]", "1 2", "nul", " [1] x", '{"a" 1}', '"\\x"', "\ufeff[]",
                                  '["a\u0001"]', "[1e]", "-", "{}{}", "[NaN, -Infinity]x"])
def test_loads_fails_as_json_fails(text: str) -> None:
    try:
        expected = json.loads(text)
    except json.JSONDecodeError as exc:
        with pytest.raises(json.JSONDecodeError) as ours:
            loads(text)
        assert (ours.value.msg, ours.value.pos) == (exc.msg, exc.pos)
    else:
        assert json.dumps(loads(text)) == json.dumps(expected)


def test_loads_object_reads_a_row_of_another_shape_as_none() -> None:
    from engine._json import loads_object

    assert loads_object('{"a": [1]}') == {"a": [1]}
    for text in (None, "", "[1]", "3", "not json", '{"a": '):
        assert loads_object(text) is None
