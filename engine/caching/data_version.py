"""Data versions: a type-tagged, recursive xxh3_128 fingerprint of a Python value.

Why this exists: a cache key built from data versions is only as safe as the fingerprint. Peers
served stale results because ``1`` and ``"1"`` hashed alike, numpy shapes and pandas column names
were ignored, and an unhashable leaf was folded into its parent's hash as a placeholder (Hamilton
#1619, #1616/#1617, #1715). The rules here:

* every value is encoded as a *tag* plus an unambiguous (length-prefixed) payload, so no two types
  and no two container shapes can produce the same byte stream;
* anything that cannot be fingerprinted faithfully makes the **whole** value unfingerprintable
  (``None``) — never a placeholder inside a normal-looking digest;
* ordered containers stream their elements into one buffer that is hashed once (fast for many small
  values); a ``dict`` keeps its insertion order (dependents can see it), a ``set`` and an
  object's attribute dict are order-insensitive (sorted by key when keys are all ``str`` or all
  ``int``, otherwise by per-item digests);
* state a ``repr`` would hide is encoded exactly: ``random.Random`` and numpy generator state,
  ``re.Pattern`` (pattern and flags), ``struct.Struct``, ``SimpleNamespace``, ``DataFrame.attrs``
  and an index's ``freq``; instances of project classes fold in their class's code version when the
  caller passes ``class_version``;
* numpy / pandas / pyarrow buffers are hashed zero-copy, and those libraries are imported only when a
  value of theirs is seen (``import engine.caching.data_version`` must stay light);
* a ``pathlib.Path`` or :class:`engine.files.File` is versioned by the *content* of the file.

Digests are stable across processes and machines with the same library versions; they are not a
serialisation format and may change between Ripple releases (the store stamps its format version).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import struct
import sys
import types
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import xxhash

if TYPE_CHECKING:
    import random

__all__ = [
    "MAX_DEPTH",
    "combine",
    "fingerprint",
    "fingerprint_bytes",
    "register",
    "try_fingerprint",
]

MAX_DEPTH = 32
"""Nesting depth beyond which a value is declared unfingerprintable (not truncated: see #1715)."""

_xxh128 = xxhash.xxh3_128
_digest = xxhash.xxh3_128_digest

_TQ = struct.Struct("<cQ").pack  # tag + unsigned length
_TQQ = struct.Struct("<cQQ").pack
_Tq = struct.Struct("<cq").pack  # tag + signed 64-bit int
_Td = struct.Struct("<cd").pack  # tag + float
_Tdd = struct.Struct("<cdd").pack
_Q = struct.Struct("<Q").pack
_NAN = b"f" + b"\x7f\xf8" + b"\x00" * 6  # one canonical NaN whatever its payload/sign
_FLUSH_AT = 1 << 22  # flush the streaming buffer into the hasher beyond 4 MiB


class Unfingerprintable(Exception):
    """Raised inside the encoder; :func:`fingerprint` turns it into ``None`` for the whole value."""


class _Ctx:
    """Per-call state: hasher, ids of containers on the current path, dict-key plans, file versioner."""

    __slots__ = ("h", "active", "plans", "file_version", "code_ref", "class_version", "path_root")

    def __init__(self, parent: _Ctx | None = None, file_version: FileVersionFn | None = None,
                 code_ref: CodeRefFn | None = None, class_version: ClassVersionFn | None = None) -> None:
        self.h = _xxh128()
        self.file_version = parent.file_version if parent is not None else file_version
        self.code_ref = parent.code_ref if parent is not None else code_ref
        self.class_version = parent.class_version if parent is not None else class_version
        self.path_root: str | None = parent.path_root if parent is not None else None
        self.active: set[int] = parent.active if parent is not None else set()
        self.plans: dict[tuple, tuple[bytes, list[tuple[Any, bytes]]]] = parent.plans if parent is not None else {}


Encoder = Callable[[Any, bytearray, _Ctx, int], None]
FileVersionFn = Callable[[Any], str]
CodeRefFn = Callable[[Any], "str | None"]
ClassVersionFn = Callable[[type], "str | None"]

# Process-wide memo: resolved encoder per exact type (cleared by ``register``).
_ENCODER_MEMO: dict[type, Encoder] = {}
# User extensions registered with ``register`` (type -> fn returning bytes | str | None).
_EXTENSIONS: dict[type, Callable[[Any], bytes | str | None]] = {}


# --------------------------------------------------------------------------------------------------
# public API


def fingerprint(obj: Any, *, file_version: FileVersionFn | None = None,
                code_ref: CodeRefFn | None = None, class_version: ClassVersionFn | None = None,
                path_root: str | None = None) -> str | None:
    """Return the 32-hex-char data version of ``obj``, or ``None`` if it cannot be versioned safely.

    ``None`` means "do not cache by this value": callers treat the node as uncacheable and warn once.
    ``file_version`` versions ``Path``/``File`` values (default: :func:`engine.files.file_version`,
    which reads the content; pass ``FileVersions(memo).version`` for the stat fast path).
    ``code_ref`` (used by the code versioner for constants such as ``HANDLERS = {"a": _fa}``) is
    called with every class, function, method, module or C-implemented object met inside the
    value; a string it returns stands for that object (the caller versions its code separately),
    ``None`` keeps the normal rule (classes by name, anything else unfingerprintable).
    ``class_version`` returns the code version of a project-local class (else None): instances of
    such classes fold it in, so editing a class changes the data version of its instances.
    ``path_root``: paths under it are named relative to it, so a moved project keeps its versions.
    """
    return try_fingerprint(obj, file_version=file_version, code_ref=code_ref, class_version=class_version,
                           path_root=path_root)[0]


def try_fingerprint(obj: Any, *, file_version: FileVersionFn | None = None, code_ref: CodeRefFn | None = None,
                    class_version: ClassVersionFn | None = None,
                    path_root: str | None = None) -> tuple[str | None, str | None]:
    """Like :func:`fingerprint` but also says *why* a value is unfingerprintable (for the warning)."""
    ctx = _Ctx(file_version=file_version, code_ref=code_ref, class_version=class_version)
    if path_root:
        ctx.path_root = path_root.rstrip("/\\") + "/"
    out = bytearray()
    try:
        _enc(obj, out, ctx, 0)
    except Unfingerprintable as exc:
        return None, str(exc)
    except RecursionError:
        return None, "value is nested too deeply"
    ctx.h.update(out)
    return ctx.h.hexdigest(), None


def fingerprint_bytes(b: bytes | bytearray | memoryview) -> str:
    """Plain xxh3_128 hex digest of raw bytes (no type tag): the content version of a blob."""
    return xxhash.xxh3_128_hexdigest(b)


def combine(*parts: str) -> str:
    """Digest of several digests/strings; length-prefixed so ``("ab","c")`` != ``("a","bc")``."""
    h = _xxh128()
    h.update(_Q(len(parts)))
    for p in parts:
        b = p.encode("utf-8", "surrogatepass")
        h.update(_Q(len(b)))
        h.update(b)
    return h.hexdigest()


def register(cls: type, fn: Callable[[Any], bytes | str | None] | None = None) -> Any:
    """Teach the fingerprint about ``cls``: ``fn(obj)`` returns canonical bytes/str, or ``None``.

    Usable directly (``register(MyType, fn)``) or as a decorator (``@register(MyType)``). Returning
    ``None`` declares the object unfingerprintable. Subclasses use the nearest registered base.
    """

    def _do(f: Callable[[Any], bytes | str | None]) -> Callable[[Any], bytes | str | None]:
        _EXTENSIONS[cls] = f
        _ENCODER_MEMO.clear()
        _ENCODER_MEMO.update(_BASE_ENCODERS)
        return f

    return _do if fn is None else _do(fn)


# --------------------------------------------------------------------------------------------------
# core encoder


def _enc(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    t = type(obj)
    f = _ENCODER_MEMO.get(t)
    if f is None:
        f = _resolve(t)
    f(obj, out, ctx, depth)


def _fail(obj: Any, why: str = "") -> Unfingerprintable:
    t = type(obj)
    return Unfingerprintable(f"cannot fingerprint a {t.__module__}.{t.__qualname__}" + (f" ({why})" if why else ""))


def _enter(obj: Any, ctx: _Ctx, depth: int) -> int:
    if depth >= MAX_DEPTH:
        raise Unfingerprintable(f"value nests deeper than {MAX_DEPTH} levels")
    i = id(obj)
    if i in ctx.active:
        raise Unfingerprintable(f"value contains a reference cycle through a {type(obj).__qualname__}")
    ctx.active.add(i)
    return i


def _sub_digest(obj: Any, ctx: _Ctx, depth: int) -> bytes:
    """Digest of one element in its own hasher (used where order must be canonicalised)."""
    sub = _Ctx(ctx)
    buf = bytearray()
    _enc(obj, buf, sub, depth)
    sub.h.update(buf)
    return sub.h.digest()


def _enc_none(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += b"N"


def _enc_bool(obj: bool, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += b"T" if obj else b"F"


def _enc_int(obj: int, out: bytearray, ctx: _Ctx, depth: int) -> None:
    try:
        out += _Tq(b"i", obj)
    except struct.error:
        n = (obj.bit_length() + 8) // 8
        out += _TQ(b"I", n)
        out += obj.to_bytes(n, "little", signed=True)


def _enc_float(obj: float, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += _Td(b"f", obj) if obj == obj else _NAN


def _enc_complex(obj: complex, out: bytearray, ctx: _Ctx, depth: int) -> None:
    re_, im = obj.real, obj.imag
    out += _Tdd(b"c", re_ if re_ == re_ else math.nan, im if im == im else math.nan)


def _enc_str(obj: str, out: bytearray, ctx: _Ctx, depth: int) -> None:
    b = obj.encode("utf-8", "surrogatepass")
    out += _TQ(b"s", len(b))
    out += b


def _enc_bytes(obj: bytes, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += _TQ(b"b", len(obj))
    out += obj


def _enc_bytearray(obj: bytearray, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += _TQ(b"B", len(obj))
    out += obj


def _enc_memoryview(obj: memoryview, out: bytearray, ctx: _Ctx, depth: int) -> None:
    fmt = obj.format.encode()
    out += _TQ(b"m", len(fmt))
    out += fmt
    out += _Q(len(obj.shape or ()))
    for n in obj.shape or ():
        out += _Q(n)
    data = obj if obj.c_contiguous else obj.tobytes()
    out += _digest(data)


def _enc_seq_items(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    """Stream elements in order; the common scalar types are inlined for speed."""
    d = depth + 1
    memo = _ENCODER_MEMO
    for x in obj:
        t = type(x)
        if t is str:
            b = x.encode("utf-8", "surrogatepass")
            out += _TQ(b"s", len(b))
            out += b
        elif t is int:
            try:
                out += _Tq(b"i", x)
            except struct.error:
                _enc_int(x, out, ctx, d)
        elif t is float:
            out += _Td(b"f", x) if x == x else _NAN
        else:
            f = memo.get(t)
            if f is None:
                f = _resolve(t)
            f(x, out, ctx, d)
        if len(out) > _FLUSH_AT and ctx.h is not None:
            ctx.h.update(out)
            out.clear()


def _enc_list(obj: list, out: bytearray, ctx: _Ctx, depth: int) -> None:
    i = _enter(obj, ctx, depth)
    out += _TQ(b"l", len(obj))
    _enc_seq_items(obj, out, ctx, depth)
    ctx.active.discard(i)


def _enc_tuple(obj: tuple, out: bytearray, ctx: _Ctx, depth: int) -> None:
    i = _enter(obj, ctx, depth)
    out += _TQ(b"t", len(obj))
    _enc_seq_items(obj, out, ctx, depth)
    ctx.active.discard(i)


def _enc_deque(obj: deque, out: bytearray, ctx: _Ctx, depth: int) -> None:
    i = _enter(obj, ctx, depth)
    out += _TQ(b"q", len(obj))
    _enc_int(-1 if obj.maxlen is None else obj.maxlen, out, ctx, depth)
    _enc_seq_items(obj, out, ctx, depth)
    ctx.active.discard(i)


def _enc_dict_items(obj: Any, out: bytearray, ctx: _Ctx, depth: int, ordered: bool = False) -> None:
    """A dict value keeps its insertion order (``ordered``: dependents see it in ``list(d)``,
    ``json.dumps``, ``pd.DataFrame(d)``); an object's attribute dict does not (sorted by key when
    keys are all str or all int, else by item digests)."""
    d = depth + 1
    kt = set(map(type, obj))
    if len(kt) <= 1 and (not kt or str in kt or int in kt):
        # Records usually share their keys: the sorted, pre-encoded key list is planned once per
        # call. Sound because keys here are *exact* str (or exact int), whose equality is identity
        # of content, so an equal keys-tuple means identical keys.
        keys = tuple(obj)
        plan = ctx.plans.get((ordered, keys))
        if plan is None:
            plan = _dict_plan(keys, ctx, d, ordered)
            if len(ctx.plans) < 4096:
                ctx.plans[(ordered, keys)] = plan
        out += plan[0]
        memo = _ENCODER_MEMO
        for k, kb in plan[1]:
            out += kb
            v = obj[k]
            t = type(v)
            if t is str:
                b = v.encode("utf-8", "surrogatepass")
                out += _TQ(b"s", len(b))
                out += b
            elif t is int:
                try:
                    out += _Tq(b"i", v)
                except struct.error:
                    _enc_int(v, out, ctx, d)
            elif t is float:
                out += _Td(b"f", v) if v == v else _NAN
            else:
                f = memo.get(t)
                if f is None:
                    f = _resolve(t)
                f(v, out, ctx, d)
    else:
        items = [_sub_digest((k, v), ctx, depth) for k, v in obj.items()]
        if not ordered:
            items.sort()
        out += _TQ(b"D", len(items))
        for dg in items:
            out += dg


def _dict_plan(keys: tuple, ctx: _Ctx, depth: int, ordered: bool) -> tuple[bytes, list[tuple[Any, bytes]]]:
    entries = []
    for k in (keys if ordered else sorted(keys)):
        kb = bytearray()
        _enc(k, kb, ctx, depth)
        entries.append((k, bytes(kb)))
    return _TQ(b"d" if not ordered else b"e", len(keys)), entries


def _enc_dict(obj: dict, out: bytearray, ctx: _Ctx, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise Unfingerprintable(f"value nests deeper than {MAX_DEPTH} levels")
    i = id(obj)
    active = ctx.active
    if i in active:
        raise Unfingerprintable("value contains a reference cycle through a dict")
    active.add(i)
    _enc_dict_items(obj, out, ctx, depth, ordered=True)
    active.discard(i)


def _enc_ordered_dict(obj: OrderedDict, out: bytearray, ctx: _Ctx, depth: int) -> None:
    # OrderedDict equality is order-sensitive, so its fingerprint is too.
    i = _enter(obj, ctx, depth)
    out += _TQ(b"o", len(obj))
    _enc_seq_items(obj.items(), out, ctx, depth)
    ctx.active.discard(i)


def _enc_set_items(obj: Any, tag: bytes, out: bytearray, ctx: _Ctx, depth: int) -> None:
    kt = set(map(type, obj))
    if len(kt) == 1 and (str in kt or int in kt):
        out += _TQ(tag, len(obj))
        _enc_seq_items(sorted(obj), out, ctx, depth)
    else:
        digests = sorted(_sub_digest(x, ctx, depth + 1) for x in obj)
        out += _TQ(tag.upper(), len(digests))
        for dg in digests:
            out += dg


def _enc_set(obj: set, out: bytearray, ctx: _Ctx, depth: int) -> None:
    i = _enter(obj, ctx, depth)
    _enc_set_items(obj, b"e", out, ctx, depth)
    ctx.active.discard(i)


def _enc_frozenset(obj: frozenset, out: bytearray, ctx: _Ctx, depth: int) -> None:
    i = _enter(obj, ctx, depth)
    _enc_set_items(obj, b"z", out, ctx, depth)
    ctx.active.discard(i)


def _enc_range(obj: range, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += b"r"
    for v in (obj.start, obj.stop, obj.step):
        _enc_int(v, out, ctx, depth)


def _enc_slice(obj: slice, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += b"x"
    for v in (obj.start, obj.stop, obj.step):
        _enc(v, out, ctx, depth + 1)


def _enc_singleton(tag: bytes) -> Encoder:
    def enc(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
        out += tag

    return enc


def _qualname_of(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def _enc_type(obj: type, out: bytearray, ctx: _Ctx, depth: int) -> None:
    # A class used as a value (e.g. ``dtype=float``): identified by name, not by its code.
    if ctx.code_ref is not None and _enc_code_ref(obj, out, ctx, depth):
        return
    _enc_str(_qualname_of(obj), out, ctx, depth)
    out += b"y"


def _enc_code_ref(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> bool:
    r = ctx.code_ref(obj)  # type: ignore[misc]
    if r is None:
        return False
    _enc_str(r, out, ctx, depth)
    out += b"\x03"
    return True


def _content_version(path: Any, ctx: _Ctx) -> bytes:
    fv = ctx.file_version
    if fv is None:
        from engine.files import file_version as fv
    v = fv(path)
    b = v.encode("utf-8", "surrogatepass")
    return _TQ(b"v", len(b)) + b


def _path_text(p: Any, ctx: _Ctx) -> str:
    text = str(p)
    base = ctx.path_root
    return "<root>/" + text[len(base):] if base is not None and text.startswith(base) else text


def _enc_path(obj: PurePath, out: bytearray, ctx: _Ctx, depth: int) -> None:
    _enc_str(f"{type(obj).__name__}:{_path_text(obj, ctx)}", out, ctx, depth)
    out += b"P"
    out += _content_version(obj, ctx)


def _enc_file(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    _enc_str(_path_text(obj.path, ctx), out, ctx, depth)
    out += b"L"
    out += _content_version(obj.path, ctx)


def _unsupported(why: str) -> Encoder:
    def enc(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
        if ctx.code_ref is not None and _enc_code_ref(obj, out, ctx, depth):
            return
        raise _fail(obj, why)

    return enc


_BASE_ENCODERS: dict[type, Encoder] = {
    type(None): _enc_none,
    bool: _enc_bool,
    int: _enc_int,
    float: _enc_float,
    complex: _enc_complex,
    str: _enc_str,
    bytes: _enc_bytes,
    bytearray: _enc_bytearray,
    memoryview: _enc_memoryview,
    list: _enc_list,
    tuple: _enc_tuple,
    dict: _enc_dict,
    OrderedDict: _enc_ordered_dict,
    deque: _enc_deque,
    set: _enc_set,
    frozenset: _enc_frozenset,
    range: _enc_range,
    slice: _enc_slice,
    type(Ellipsis): _enc_singleton(b"."),
    type(NotImplemented): _enc_singleton(b"!"),
}
_ENCODER_MEMO.update(_BASE_ENCODERS)
#: stdlib modules whose value types join the tables above when the first type from them is seen:
#: importing them all up front cost ~3 ms of every command's start, and a value of one of their
#: types cannot exist before its module is imported
_LAZY_MODULES = {"datetime", "decimal", "fractions", "uuid"}


def _load_lazy_types() -> None:
    from engine.caching.stdlib_values import encoders

    lazy = encoders()
    _BASE_ENCODERS.update(lazy)
    for t, f in lazy.items():
        _ENCODER_MEMO.setdefault(t, f)
    _LAZY_MODULES.clear()

_UNSUPPORTED_TYPES: tuple[type, ...] = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.LambdaType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    types.ModuleType,
    types.FrameType,
    types.TracebackType,
    types.CodeType,
)

_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set for classes defined in Python


def _resolve(t: type) -> Encoder:
    """Pick the encoder for a type not in the exact-type table, and memoise it."""
    if _LAZY_MODULES and any(b.__module__ in _LAZY_MODULES for b in t.__mro__):
        _load_lazy_types()
        f = _ENCODER_MEMO.get(t)
        if f is not None:
            return f
    f = _resolve_uncached(t)
    _ENCODER_MEMO[t] = f
    return f


def _resolve_uncached(t: type) -> Encoder:
    for base in t.__mro__:
        ext = _EXTENSIONS.get(base)
        if ext is not None:
            return _custom_encoder(ext, _qualname_of(t))
    custom = getattr(t, "__ripple_fingerprint__", None)
    if custom is not None:
        return _custom_encoder(lambda o: o.__ripple_fingerprint__(), _qualname_of(t))
    if issubclass(t, enum.Enum):
        return _enc_enum
    rnd = sys.modules.get("random")  # no Random exists before random is imported
    if rnd is not None and issubclass(t, rnd.Random):
        return _enc_random
    if t is re.Pattern:
        return _enc_pattern
    if issubclass(t, struct.Struct):
        return _enc_struct
    if issubclass(t, types.SimpleNamespace):
        return _enc_namespace
    # numpy / pandas / pyarrow: imported only now that one of their values is actually seen.
    for base in t.__mro__:
        root = base.__module__.split(".", 1)[0]
        lib = _LIBRARY_RESOLVERS.get(root)
        if lib is not None:
            f = lib(t)
            if f is not None:
                return f
            break
    if issubclass(t, PurePath):
        return _enc_path
    if t.__module__ == "engine.files" and t.__name__ == "File":
        return _enc_file
    if issubclass(t, type):
        return _enc_type
    if t is types.MappingProxyType:
        return _enc_mappingproxy
    if issubclass(t, tuple) and hasattr(t, "_fields"):
        return _enc_namedtuple
    if dataclasses.is_dataclass(t):
        return _enc_dataclass
    if issubclass(t, _UNSUPPORTED_TYPES):
        return _unsupported("functions, generators, modules and code are not data")
    for base in t.__mro__[1:]:
        f = _BASE_ENCODERS.get(base)
        if f is not None and base is not object:
            return _subclass_encoder(f, t)
    if "datetime" in sys.modules and issubclass(t, sys.modules["datetime"].tzinfo):
        from engine.caching.stdlib_values import enc_tzinfo

        return enc_tzinfo
    # A class implemented in C (or inheriting from one) keeps state we cannot see: hashing only its
    # ``__dict__`` is how pd.Timestamp collided in Hamilton (#1242). Refuse instead.
    for base in t.__mro__:
        if base is not object and not _defined_in_python(base):
            return _unsupported("its state lives in a C extension type")
    return _enc_object


def _defined_in_python(t: type) -> bool:
    """True for classes made by a ``class`` statement in a ``.py`` file (or ``__main__``): such a class
    has a ``__dict__`` slot or ``__slots__``, which C heap types (3.11+: ``_thread.lock``, and
    ``operator.itemgetter``, named after ``operator.py``) lack; compiled extensions live in ``.so`` files."""
    if not t.__flags__ & _HEAPTYPE or not (t.__dictoffset__ or "__slots__" in t.__dict__):
        return False
    mod = sys.modules.get(t.__module__)
    if mod is None:
        return False
    if t.__module__ == "__main__":
        return True
    file = getattr(mod, "__file__", None)
    return bool(file) and file.endswith((".py", ".pyc", ".pyw"))


def _custom_encoder(fn: Callable[[Any], Any], qual: str) -> Encoder:
    def enc(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
        r = fn(obj)
        if r is None:
            raise _fail(obj, "its fingerprint hook returned None")
        if isinstance(r, str):
            r = r.encode("utf-8", "surrogatepass")
        elif not isinstance(r, bytes | bytearray | memoryview):
            raise _fail(obj, "its fingerprint hook must return bytes or str")
        _enc_str(qual, out, ctx, depth)
        out += b"X"
        _enc_bytes(bytes(r), out, ctx, depth)

    return enc


def _enc_mappingproxy(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += b"p"
    _enc_dict(dict(obj), out, ctx, depth)


def _enc_enum(obj: enum.Enum, out: bytearray, ctx: _Ctx, depth: int) -> None:
    _enc_str(_qualname_of(type(obj)), out, ctx, depth)
    out += b"n"
    _enc(obj.value, out, ctx, depth + 1)


def _enc_namedtuple(obj: tuple, out: bytearray, ctx: _Ctx, depth: int) -> None:
    i = _enter(obj, ctx, depth)
    _enc_str(_qualname_of(type(obj)), out, ctx, depth)
    out += _TQ(b"u", len(obj))
    _enc_seq_items(obj._fields, out, ctx, depth)
    _enc_seq_items(obj, out, ctx, depth)
    ctx.active.discard(i)


def _enc_dataclass(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    i = _enter(obj, ctx, depth)
    fields = dataclasses.fields(obj)
    _enc_str(_qualname_of(type(obj)), out, ctx, depth)
    _enc_class_version(type(obj), out, ctx, depth)
    out += _TQ(b"a", len(fields))
    for f in fields:
        _enc_str(f.name, out, ctx, depth)
        _enc(getattr(obj, f.name), out, ctx, depth + 1)
    extra = getattr(obj, "__dict__", None)
    if extra:
        names = {f.name for f in fields}
        rest = {k: v for k, v in extra.items() if k not in names}
        if rest:
            out += b"+"
            _enc_dict_items(rest, out, ctx, depth)
    ctx.active.discard(i)


def _enc_class_version(t: type, out: bytearray, ctx: _Ctx, depth: int) -> None:
    cv = ctx.class_version
    if cv is not None:
        v = cv(t)
        if v:
            out += b"\x02v"
            _enc_str(v, out, ctx, depth)


def _enc_random(obj: random.Random, out: bytearray, ctx: _Ctx, depth: int) -> None:
    """A ``random.Random``: its whole generator state (a repr would say only "Random object")."""
    i = _enter(obj, ctx, depth)
    _enc_str(_qualname_of(type(obj)), out, ctx, depth)
    out += b"\x02r"
    _enc(obj.getstate(), out, ctx, depth + 1)
    extra = {k: v for k, v in vars(obj).items() if k != "gauss_next"}
    if extra:
        _enc_dict_items(extra, out, ctx, depth)
    ctx.active.discard(i)


def _enc_pattern(obj: re.Pattern, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += _Tq(b"\x02", obj.flags)
    _enc(obj.pattern, out, ctx, depth + 1)


def _enc_struct(obj: struct.Struct, out: bytearray, ctx: _Ctx, depth: int) -> None:
    out += b"\x02s"
    _enc_str(obj.format, out, ctx, depth)


def _enc_namespace(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    i = _enter(obj, ctx, depth)
    _enc_str(_qualname_of(type(obj)), out, ctx, depth)
    out += b"\x02n"
    _enc_dict_items(vars(obj), out, ctx, depth)
    ctx.active.discard(i)


def _slot_names(t: type) -> list[str]:
    names: list[str] = []
    for base in t.__mro__:
        s = base.__dict__.get("__slots__", ())
        if isinstance(s, str):
            s = (s,)
        for n in s:
            if n not in ("__dict__", "__weakref__") and n not in names:
                names.append(n)
    return names


_MISSING = object()


def _enc_object(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    """Plain Python object: (module.qualname, instance state), recursively."""
    i = _enter(obj, ctx, depth)
    t = type(obj)
    _enc_str(_qualname_of(t), out, ctx, depth)
    _enc_class_version(t, out, ctx, depth)
    out += b"O"
    state = getattr(obj, "__dict__", None)
    if state is None:
        out += b"-"
    else:
        if not isinstance(state, dict):
            raise _fail(obj, "its __dict__ is not a dict")
        _enc_dict_items(state, out, ctx, depth)
    slots = _slot_names(t)
    out += _Q(len(slots))
    for n in slots:
        v = getattr(obj, n, _MISSING)
        _enc_str(n, out, ctx, depth)
        if v is _MISSING:
            out += b"-"
        else:
            _enc(v, out, ctx, depth + 1)
    ctx.active.discard(i)


def _subclass_encoder(base_enc: Encoder, t: type) -> Encoder:
    """Subclass of a builtin (e.g. ``class Config(dict)``): its qualname, base value, extra state."""
    qual = _qualname_of(t)

    def enc(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
        _enc_str(qual, out, ctx, depth)
        _enc_class_version(t, out, ctx, depth)
        out += b"S"
        base_enc(obj, out, ctx, depth)
        state = getattr(obj, "__dict__", None)
        if state:
            i = _enter(state, ctx, depth)
            out += b"+"
            _enc_dict_items(state, out, ctx, depth)
            ctx.active.discard(i)

    return enc


# --------------------------------------------------------------------------------------------------
# numpy (imported lazily: these functions only run once a numpy value has been seen)


def _numpy_encoder_for(t: type) -> Encoder | None:
    import numpy as np

    if issubclass(t, np.ndarray):
        if issubclass(t, np.ma.MaskedArray):
            return _enc_np_masked
        if t is np.ndarray:
            return _enc_ndarray
        qual = _qualname_of(t)

        def enc(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
            _enc_str(qual, out, ctx, depth)
            out += b"S"
            _enc_ndarray(obj.view(np.ndarray), out, ctx, depth)
            if getattr(obj, "__dict__", None):
                _enc_dict(obj.__dict__, out, ctx, depth)

        return enc
    if issubclass(t, np.random.Generator | np.random.BitGenerator | np.random.RandomState):
        return _enc_np_random
    if issubclass(t, np.generic):
        return _enc_np_scalar
    if issubclass(t, np.dtype):
        return _enc_np_dtype
    return None


def _enc_np_random(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    """A numpy generator: its bit generator's full state (seeded ``default_rng(42)`` != ``(43)``)."""
    import numpy as np

    _enc_str(_qualname_of(type(obj)), out, ctx, depth)
    out += b"\x02g"
    if isinstance(obj, np.random.Generator):
        obj = obj.bit_generator
    state = obj.get_state(legacy=False) if isinstance(obj, np.random.RandomState) else obj.state
    _enc(state, out, ctx, depth + 1)


def _dtype_id(dt: Any) -> str:
    if dt.fields is not None or dt.subdtype is not None:
        return str(dt.descr)
    return dt.str if dt.kind != "T" else repr(dt)


def _enc_np_dtype(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    _enc_str(_dtype_id(obj), out, ctx, depth)
    out += b"j"


def _enc_np_scalar(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    dt = obj.dtype
    if dt.hasobject or dt.kind == "T":
        _enc_str(_dtype_id(dt), out, ctx, depth)
        out += b"G"
        _enc(obj.item(), out, ctx, depth + 1)
        return
    _enc_str(_dtype_id(dt), out, ctx, depth)
    out += b"g"
    _enc_bytes(obj.tobytes(), out, ctx, depth)


def _enc_ndarray(a: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    import numpy as np

    dt = a.dtype
    _enc_str(_dtype_id(dt), out, ctx, depth)
    out += _TQ(b"A", a.ndim)
    for n in a.shape:
        out += _Q(n)
    if dt.hasobject or dt.kind == "T":
        i = _enter(a, ctx, depth)
        out += b"o"
        _enc_object_elements(a.ravel().tolist(), out, ctx, depth)
        ctx.active.discard(i)
        return
    # Layout is part of the version (design §3: strides included), so an F-ordered array can be
    # hashed zero-copy through its transpose; only genuinely strided views are copied.
    if a.flags.c_contiguous:
        out += b"C"
        buf = a
    elif a.flags.f_contiguous:
        out += b"F"
        buf = a.T
    else:
        out += b"V"
        buf = np.ascontiguousarray(a)
    try:
        out += _digest(buf.reshape(-1).view(np.uint8))
    except (ValueError, TypeError):  # zero-itemsize dtypes and other oddities
        out += _digest(buf.tobytes())


def _enc_object_elements(items: list, out: bytearray, ctx: _Ctx, depth: int) -> None:
    """Elements of an object array/column; all-``str`` columns take a vectorised exact path."""
    if items and set(map(type, items)) == {str}:
        import numpy as np

        # Concatenated UTF-8 plus per-element code-point lengths determine the strings exactly.
        out += _TQ(b"$", len(items))
        out += _digest("".join(items).encode("utf-8", "surrogatepass"))
        out += _digest(np.fromiter(map(len, items), dtype=np.int64, count=len(items)))
        return
    out += _TQ(b"l", len(items))
    _enc_seq_items(items, out, ctx, depth)


def _enc_np_masked(obj: Any, out: bytearray, ctx: _Ctx, depth: int) -> None:
    import numpy as np

    out += b"K"
    _enc_ndarray(np.asarray(obj.data), out, ctx, depth)
    _enc_ndarray(np.ma.getmaskarray(obj), out, ctx, depth)


def _pandas_encoder_for(t: type) -> Encoder | None:
    from engine.caching import frame_values

    return frame_values.pandas_encoder_for(t)


def _arrow_encoder_for(t: type) -> Encoder | None:
    from engine.caching import frame_values

    return frame_values.arrow_encoder_for(t)


_LIBRARY_RESOLVERS: dict[str, Callable[[type], Encoder | None]] = {
    "numpy": _numpy_encoder_for,
    "pandas": _pandas_encoder_for,
    "pyarrow": _arrow_encoder_for,
}
