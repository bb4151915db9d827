"""Fingerprints of pandas and pyarrow values, split from ``data_version`` (which stays the one
entry point and calls in here lazily, only once a value of theirs is seen).

These encoders use the core's primitives through ``c`` (``engine.caching.encoder_core``).
"""

from __future__ import annotations

from typing import Any

from engine.caching.encoder_core import c
from engine.caching.stdlib_values import tz_id


def pandas_encoder_for(t: type) -> Any:
    import pandas as pd

    if issubclass(t, pd.DataFrame):
        return _enc_pd_frame
    if issubclass(t, pd.Series):
        return _enc_pd_series
    if issubclass(t, pd.Index):
        return _enc_pd_index
    if issubclass(t, pd.api.extensions.ExtensionArray):
        return _enc_pd_values
    if issubclass(t, pd.api.extensions.ExtensionDtype):
        return _enc_pd_dtype
    if t is type(pd.NaT):
        return c._enc_singleton(b"\x01NaT")
    if t is type(pd.NA):
        return c._enc_singleton(b"\x01NA")
    if issubclass(t, pd.Timestamp | pd.Timedelta):
        tag = b"\x01T" if issubclass(t, pd.Timestamp) else b"\x01D"

        def enc(obj: Any, out: bytearray, ctx: Any, depth: int) -> None:
            c._enc_str(f"{obj.isoformat()}|{getattr(obj, 'unit', '')}|{tz_id(getattr(obj, 'tz', None))}", out, ctx, depth)
            out += tag

        return enc
    if issubclass(t, pd.Period):
        return lambda o, out, c, d: c._enc_str(f"{o}|{o.freqstr}|period", out, c, d)
    if issubclass(t, pd.Interval):

        def enc_iv(obj: Any, out: bytearray, ctx: Any, depth: int) -> None:
            out += b"\x01I"
            c._enc((obj.left, obj.right, obj.closed), out, ctx, depth + 1)

        return enc_iv
    return None


def _enc_pd_dtype(obj: Any, out: bytearray, ctx: Any, depth: int) -> None:
    c._enc_str(f"{c._qualname_of(type(obj))}|{obj}", out, ctx, depth)
    out += b"\x01t"
    cats = getattr(obj, "categories", None)
    if cats is not None:
        _enc_pd_index(cats, out, ctx, depth + 1)
        c._enc_bool(bool(obj.ordered), out, ctx, depth)


def _enc_pd_values(v: Any, out: bytearray, ctx: Any, depth: int) -> None:
    """The values of a column/Series/Index, zero-copy through the backing numpy/arrow buffers."""
    import numpy as np
    import pandas as pd

    if isinstance(v, np.ndarray):
        c._enc_ndarray(v, out, ctx, depth)
        return
    c._enc_str(f"{c._qualname_of(type(v))}|{v.dtype}", out, ctx, depth)
    if isinstance(v, pd.Categorical):
        out += b"\x01c"
        c._enc_bool(bool(v.ordered), out, ctx, depth)
        _enc_pd_index(v.categories, out, ctx, depth + 1)
        c._enc_ndarray(np.asarray(v.codes), out, ctx, depth)
    elif getattr(v, "_pa_array", None) is not None:
        out += b"\x01a"
        c._enc(v._pa_array, out, ctx, depth + 1)
    elif isinstance(getattr(v, "_ndarray", None), np.ndarray):
        out += b"\x01n"
        c._enc_ndarray(v._ndarray, out, ctx, depth)
    elif isinstance(getattr(v, "_data", None), np.ndarray) and isinstance(getattr(v, "_mask", None), np.ndarray):
        out += b"\x01m"
        c._enc_ndarray(v._data, out, ctx, depth)
        c._enc_ndarray(v._mask, out, ctx, depth)
    else:
        out += b"\x01o"
        c._enc_ndarray(np.asarray(v, dtype=object), out, ctx, depth)


def _values_of(obj: Any) -> Any:
    v = getattr(obj, "_values", None)
    return v if v is not None else obj.array


def _enc_pd_index(idx: Any, out: bytearray, ctx: Any, depth: int) -> None:
    import numpy as np
    import pandas as pd

    i = c._enter(idx, ctx, depth)
    c._enc_str(c._qualname_of(type(idx)), out, ctx, depth)
    out += b"\x01x"
    c._enc(list(idx.names), out, ctx, depth + 1)
    if isinstance(idx, pd.RangeIndex):
        c._enc_range(range(idx.start, idx.stop, idx.step), out, ctx, depth)
    elif isinstance(idx, pd.MultiIndex):
        out += c._Q(idx.nlevels)
        for level in idx.levels:
            _enc_pd_index(level, out, ctx, depth + 1)
        for codes in idx.codes:
            c._enc_ndarray(np.asarray(codes), out, ctx, depth)
    else:
        _enc_pd_values(_values_of(idx), out, ctx, depth + 1)
        freq = getattr(idx, "freq", None) if not isinstance(idx, pd.PeriodIndex) else None
        if freq is not None:
            c._enc_str("freq|" + str(getattr(freq, "freqstr", freq)), out, ctx, depth)
    ctx.active.discard(i)


def _enc_pd_series(s: Any, out: bytearray, ctx: Any, depth: int) -> None:
    i = c._enter(s, ctx, depth)
    c._enc_str(c._qualname_of(type(s)), out, ctx, depth)
    out += b"\x01s"
    c._enc(s.name, out, ctx, depth + 1)
    _enc_pd_index(s.index, out, ctx, depth + 1)
    _enc_pd_values(_values_of(s), out, ctx, depth + 1)
    _enc_pd_attrs(s, out, ctx, depth)
    ctx.active.discard(i)


def _enc_pd_frame(df: Any, out: bytearray, ctx: Any, depth: int) -> None:
    i = c._enter(df, ctx, depth)
    c._enc_str(c._qualname_of(type(df)), out, ctx, depth)
    out += c._TQQ(b"\x01", *df.shape)
    _enc_pd_index(df.columns, out, ctx, depth + 1)
    _enc_pd_index(df.index, out, ctx, depth + 1)
    # Column by column (never by internal block): equal frames must hash alike however pandas
    # happened to consolidate them. A column of a consolidated float block is a contiguous view.
    for k in range(df.shape[1]):
        _enc_pd_values(_values_of(df.iloc[:, k]), out, ctx, depth + 1)
    _enc_pd_attrs(df, out, ctx, depth)
    ctx.active.discard(i)


def _enc_pd_attrs(obj: Any, out: bytearray, ctx: Any, depth: int) -> None:
    """``attrs`` travel with the value (and through pickle): dependents can read them."""
    attrs = getattr(obj, "attrs", None)
    if attrs:
        out += b"\x02@"
        c._enc(dict(attrs), out, ctx, depth + 1)


# --------------------------------------------------------------------------------------------------
# pyarrow


def arrow_encoder_for(t: type) -> Any:
    import pyarrow as pa

    if issubclass(t, pa.Table | pa.RecordBatch):
        tag = b"\x02T" if issubclass(t, pa.Table) else b"\x02B"

        def enc_tab(obj: Any, out: bytearray, ctx: Any, depth: int) -> None:
            out += tag
            out += c._digest(obj.schema.serialize())
            out += c._Q(obj.num_rows)
            for col in obj.columns:
                c._enc(col, out, ctx, depth + 1)

        return enc_tab
    if issubclass(t, pa.ChunkedArray):

        def enc_chunked(obj: Any, out: bytearray, ctx: Any, depth: int) -> None:
            c._enc_str(str(obj.type), out, ctx, depth)
            out += b"\x02"
            out += c._TQ(b"C", obj.num_chunks)
            for chunk in obj.chunks:
                _enc_arrow_array(chunk, out, ctx, depth + 1)

        return enc_chunked
    if issubclass(t, pa.Array):
        return _enc_arrow_array
    if issubclass(t, pa.Schema):
        return lambda o, out, c, d: out.extend(b"\x02S" + c._digest(o.serialize()))
    if issubclass(t, pa.DataType):
        return lambda o, out, c, d: c._enc_str(f"arrow-type:{o}", out, c, d)
    if issubclass(t, pa.Scalar):

        def enc_scalar(obj: Any, out: bytearray, ctx: Any, depth: int) -> None:
            c._enc_str(str(obj.type), out, ctx, depth)
            out += b"\x02s"
            c._enc(obj.as_py(), out, ctx, depth + 1)

        return enc_scalar
    return None


def _enc_arrow_array(a: Any, out: bytearray, ctx: Any, depth: int) -> None:
    import pyarrow as pa

    c._enc_str(str(a.type), out, ctx, depth)
    out += b"\x02"
    out += c._TQQ(b"A", len(a), a.offset)
    if isinstance(a, pa.DictionaryArray):
        _enc_arrow_array(a.indices, out, ctx, depth + 1)
        _enc_arrow_array(a.dictionary, out, ctx, depth + 1)
    elif a.type.num_fields > 0:
        # Nested arrays can carry per-child offsets that buffers() does not expose; the IPC
        # writer normalises slices, so hash its output instead (a copy, but an exact one).
        out += b"i"
        out += c._digest(pa.RecordBatch.from_arrays([a], names=["v"]).serialize())
    else:
        # Whole buffers + offset + length determine the value exactly (never a collision; a
        # different physical layout of equal values is at worst a cache miss).
        for buf in a.buffers():
            if buf is None:
                out += b"-"
            else:
                out += b"+"
                out += c._digest(buf)
