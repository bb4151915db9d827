"""Encoders of the standard library's value types (dates and times, decimals, fractions, UUIDs),
loaded by ``data_version`` when the first such value is fingerprinted, so that a command whose data
holds none of them does not import those modules."""

from __future__ import annotations

import datetime as _dt
import uuid
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from engine.caching.encoder_core import c

if TYPE_CHECKING:
    from engine.caching.data_version import Encoder, _Ctx


def tz_id(tz: Any) -> str:
    """A time zone by its name, else its repr — unless that repr is the default one, which shows an
    address (a fresh value in every process, and blind to the zone's state): then by its state."""
    if tz is None:
        return ""
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if key:
        return f"{type(tz).__qualname__}:{key}"
    if type(tz).__repr__ is object.__repr__:
        try:
            state = c.fingerprint(tz.__reduce_ex__(4)[1:])
        except Exception:  # noqa: BLE001 - whatever reducing it raises, it cannot be versioned
            state = None
        if state is None:
            raise c._fail(tz, "its time zone has no name and its state cannot be fingerprinted")
        return f"{type(tz).__module__}.{type(tz).__qualname__}:{state}"
    return f"{type(tz).__qualname__}:{tz!r}"


def _enc_datetime(obj: _dt.datetime, out: bytearray, ctx: _Ctx, depth: int) -> None:
    c._enc_str(f"{obj.isoformat()}|{obj.fold}|{tz_id(obj.tzinfo)}", out, ctx, depth)
    out += b"W"


def _enc_date(obj: _dt.date, out: bytearray, ctx: _Ctx, depth: int) -> None:
    c._enc_str(obj.isoformat(), out, ctx, depth)
    out += b"Y"


def _enc_time(obj: _dt.time, out: bytearray, ctx: _Ctx, depth: int) -> None:
    c._enc_str(f"{obj.isoformat()}|{obj.fold}|{tz_id(obj.tzinfo)}", out, ctx, depth)
    out += b"H"


def _enc_timedelta(obj: _dt.timedelta, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += b"J"
    for v in (obj.days, obj.seconds, obj.microseconds):
        c._enc_int(v, out, ctx, depth)


def enc_tzinfo(obj: _dt.tzinfo, out: bytearray, ctx: _Ctx, depth: int) -> None:
    c._enc_str(tz_id(obj), out, ctx, depth)
    out += b"Z"


def _enc_decimal(obj: Decimal, out: bytearray, ctx: _Ctx, depth: int) -> None:
    c._enc_str(str(obj), out, ctx, depth)
    out += b"M"


def _enc_fraction(obj: Fraction, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += b"R"
    c._enc_int(obj.numerator, out, ctx, depth)
    c._enc_int(obj.denominator, out, ctx, depth)


def _enc_uuid(obj: uuid.UUID, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += b"U"
    out += obj.bytes


def encoders() -> dict[type, Encoder]:
    """The exact-type table entries for these types."""
    return {
        _dt.datetime: _enc_datetime, _dt.date: _enc_date, _dt.time: _enc_time,
        _dt.timedelta: _enc_timedelta, _dt.timezone: enc_tzinfo,
        Decimal: _enc_decimal, Fraction: _enc_fraction, uuid.UUID: _enc_uuid,
    }
