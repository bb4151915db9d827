"""JSON for the engine, from the stdlib's own C accelerator (``_json``) without the ``json`` package.

Why: ``import json`` compiles seven regular expressions and loads four modules, ~0.9 ms of every
process (a warm run's whole share is ~40 ms), while everything the engine reads and writes goes
through ``_json`` anyway. These are the very functions ``json.loads``/``json.dumps`` end up in,
called as they call them, so the text is byte-identical (row MACs cover some of it) and errors are
``json``'s own ``JSONDecodeError``; ``tests/test_json.py`` holds both to ``json`` on generated
documents. An interpreter without ``_json`` gets ``json`` itself.

``json.dumps`` (and ``JSONEncoder.encode``) also build a new C encoder on every call, which costs as
much as encoding a small document (~1 µs) — the store writes several documents per stored result,
a watch child an event line per node — so each encoder here is built once.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

try:
    from _json import encode_basestring, encode_basestring_ascii, make_encoder, make_scanner
except ImportError:  # pragma: no cover - an interpreter without the accelerator
    make_encoder = make_scanner = None

__all__ = ["compact_encoder", "dumps", "loads", "loads_object"]

_WHITESPACE = " \t\n\r"


def _not_serializable(o: Any) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def _encoder(*, ascii_only: bool = True, sort_keys: bool = False, compact: bool = False,
             default: Any = None) -> Callable[[Any], str]:
    """``json.JSONEncoder(..., check_circular=False).encode`` with these options, built once. Without
    the circular-reference check because a reused C encoder would keep the marks an interrupted call
    left; the engine's documents are plain data, never circular."""
    key_sep, item_sep = (":", ",") if compact else (": ", ", ")
    if make_encoder is None:  # pragma: no cover
        import json

        return json.JSONEncoder(separators=(item_sep, key_sep), default=default, ensure_ascii=ascii_only,
                                sort_keys=sort_keys, check_circular=False).encode
    strings = encode_basestring_ascii if ascii_only else encode_basestring
    chunks = make_encoder(None, _not_serializable if default is None else default, strings, None, key_sep, item_sep,
                          sort_keys, False, True)

    def encode(doc: Any) -> str:
        if doc.__class__ is str:  # what JSONEncoder.encode does with a bare string
            return strings(doc)
        return "".join(chunks(doc, 0))

    return encode


_PLAIN, _SORTED, _COMPACT = _encoder(), _encoder(sort_keys=True), _encoder(compact=True)


def dumps(doc: Any, *, sort_keys: bool = False, compact: bool = False) -> str:
    """``json.dumps(doc, sort_keys=sort_keys)``, or with ``separators=(",", ":")`` when ``compact``
    (not both: nothing writes that)."""
    if compact:
        return _COMPACT(doc)
    return _SORTED(doc) if sort_keys else _PLAIN(doc)


def compact_encoder(*, ascii_only: bool) -> Callable[[Any], str]:
    """``json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=ascii_only).encode``: for
    flat documents (rows, records, events), whose text must stay byte-identical to what that
    encoder wrote (row MACs cover some of it)."""
    return _encoder(ascii_only=ascii_only, compact=True, default=str)


def _constant(name: str) -> float:
    return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_SCAN = None if make_scanner is None else make_scanner(types.SimpleNamespace(
    strict=True, object_hook=None, object_pairs_hook=None, parse_float=float, parse_int=int,
    parse_constant=_constant))


def loads(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``."""
    if _SCAN is None or text.__class__ is not str or text.startswith("\ufeff"):
        import json  # bytes (their encoding is detected), a BOM's error, no accelerator: json's own path

        return json.loads(text)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        doc, end = _SCAN(text, start)
    except StopIteration as err:
        raise _error("Expecting value", text, err.value) from None
    if end != len(text) and text[end:].strip(_WHITESPACE):
        raise _error("Extra data", text, len(text) - len(text[end:].lstrip(_WHITESPACE)))
    return doc


def loads_object(text: str | None) -> dict[str, Any] | None:
    """``text`` as a JSON object; None when it is absent, empty, not JSON or another value (a memo
    row of another shape reads as no row)."""
    if not text:
        return None
    try:
        got = loads(text)
    except ValueError:
        return None
    return got if isinstance(got, dict) else None


def _error(message: str, text: str, pos: int) -> ValueError:
    from json import JSONDecodeError

    return JSONDecodeError(message, text, pos)
