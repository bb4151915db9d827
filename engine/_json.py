"""Compact JSON text from one prebuilt encoder: ``json.dumps`` (and ``JSONEncoder.encode``) build a
new C encoder on every call, which costs as much as encoding a small document (~1 µs) — and the
store writes several documents per stored result, a watch child an event line per node."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def compact_encoder(*, ascii_only: bool) -> Callable[[Any], str]:
    """``json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=ascii_only).encode``, built
    once, without the circular-reference check: for flat documents (rows, records, events), whose
    text must stay byte-identical to what that encoder wrote (row MACs cover some of it)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - an interpreter without the _json accelerator
        return json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=ascii_only).encode
    strings = json.encoder.encode_basestring_ascii if ascii_only else json.encoder.encode_basestring
    encode = make(None, str, strings, None, ":", ",", False, False, True)
    return lambda doc: "".join(encode(doc, 0))
