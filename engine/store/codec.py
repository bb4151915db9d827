"""Serialisation of values: pickle protocol 5 with out-of-band buffers, written without copies."""

from __future__ import annotations

import os
import struct
from typing import Any

from engine._pickling import PickleBuffer
from engine._pickling import dumps as pickle_dumps
from engine._pickling import loads as pickle_loads
from engine.store.errors import Unstorable

# --------------------------------------------------------------------------------------------------
# serialisation
#
#   magic "RPK\x01" | u32 nbuf | u64 pickle_len | nbuf × u64 buffer length | pickle bytes |
#   (pad to 64) buffer 0 | (pad to 64) buffer 1 | ...
#
# Buffers are 64-byte aligned within the stream; the bytearray they are read into is malloc-aligned,
# so restored numpy arrays are aligned for every dtype numpy cares about.

_MAGIC = b"RPK\x01"


_HEAD = struct.Struct("<4sIQ")


_ALIGN = 64


_ZEROS = bytes(_ALIGN)


def _pad(offset: int) -> int:
    return -offset % _ALIGN


def _serialize(value: Any) -> tuple[list[Any], int]:
    """Return the stream as a list of byte-like parts (header, pickle, padding, raw buffers)."""
    buffers: list[memoryview] = []

    def out_of_band(pb: PickleBuffer) -> bool:
        try:
            buffers.append(pb.raw())
        except BufferError:  # non-contiguous: let pickle copy it in-band
            return True
        return False

    try:
        data = pickle_dumps(value, protocol=5, buffer_callback=out_of_band)
    except Exception as e:  # pickle raises TypeError, AttributeError, PicklingError, RecursionError...
        raise Unstorable(f"cannot serialise a value of type {type(value).__qualname__}: {e}") from e
    if not buffers:
        head = _HEAD.pack(_MAGIC, 0, len(data))
        return [head, data], len(head) + len(data)
    head = _HEAD.pack(_MAGIC, len(buffers), len(data)) + struct.pack(
        f"<{len(buffers)}Q", *(b.nbytes for b in buffers)
    )
    parts: list[Any] = [head, data]
    offset = len(head) + len(data)
    for b in buffers:
        pad = _pad(offset)
        if pad:
            parts.append(_ZEROS[:pad])
            offset += pad
        parts.append(b)
        offset += b.nbytes
    return parts, offset


def _deserialize(buf: bytes | bytearray) -> Any:
    mv = memoryview(buf)
    magic, nbuf, plen = _HEAD.unpack_from(mv, 0)
    if magic != _MAGIC:
        raise ValueError("bad magic")
    offset = _HEAD.size
    if offset + 8 * nbuf + plen > len(mv):
        raise ValueError("truncated header")
    lengths = struct.unpack_from(f"<{nbuf}Q", mv, offset) if nbuf else ()
    offset += 8 * nbuf
    pick = mv[offset : offset + plen]
    offset += plen
    bufs = []
    for n in lengths:
        offset += _pad(offset)
        bufs.append(mv[offset : offset + n])
        offset += n
    if offset != len(mv):
        raise ValueError(f"stream length {len(mv)} does not match its header ({offset})")
    return pickle_loads(pick, buffers=bufs)


def _write_all(fd: int, data: Any) -> None:
    mv = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
    while mv.nbytes:
        n = os.write(fd, mv)
        mv = mv[n:]
