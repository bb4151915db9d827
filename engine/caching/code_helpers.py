"""Small helpers of the code versioner: unwrapping, classifying callables, bytecode digests and
lossless digests of values (split from ``code_version`` to keep that module readable)."""

from __future__ import annotations

import builtins
import functools
import inspect
import os
import sys
import types
from collections.abc import Callable
from typing import Any

import xxhash

from engine._pickling import dumps as pickle_dumps
from engine.caching.data_version import fingerprint

_SKIP = object()


def _path_name_only(path: Any) -> str:
    return "path"


def _unwrap(fn: Any) -> Any:
    if not hasattr(fn, "__wrapped__"):
        return fn
    try:
        return inspect.unwrap(fn)
    except ValueError:
        return fn


def _layers(fn: Any) -> list[Any]:
    """``fn`` and every object below it in its ``__wrapped__`` chain, outermost first."""
    out = [fn]
    seen = {id(fn)}
    while True:
        try:
            nxt = getattr(out[-1], "__wrapped__", _SKIP)
        except Exception:  # noqa: BLE001 - exotic proxies: stop unwrapping
            break
        if nxt is _SKIP or id(nxt) in seen or len(out) > 100:
            break
        seen.add(id(nxt))
        out.append(nxt)
    return out


_BUILTIN_CALLABLES = (types.BuiltinFunctionType, types.BuiltinMethodType, types.MethodWrapperType,
                      types.WrapperDescriptorType, types.MethodDescriptorType, types.ClassMethodDescriptorType)


def _is_library_callable(obj: Any) -> bool:
    """A named C-level callable (builtin, ufunc...); a callable *instance* of a library class (an
    interpolator, a fitted model) is data and is fingerprinted instead."""
    if isinstance(obj, _BUILTIN_CALLABLES):
        return True
    return callable(obj) and not isinstance(obj, type) and isinstance(getattr(obj, "__name__", None), str) \
        and isinstance(getattr(obj, "__module__", None), str)


def _is_code(obj: Any) -> bool:
    """Objects a constant may hold that are code, not data (versioned by ``_include_value``)."""
    return isinstance(obj, type | types.ModuleType | types.FunctionType | types.MethodType | functools.partial) \
        or _is_library_callable(obj) or (callable(obj) and isinstance(_unwrap(obj), types.FunctionType))


def diff_parts(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Names of components that changed, appeared or disappeared between two ``parts`` dicts."""
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def globals_refs(code: types.CodeType, g: dict[str, Any]) -> list[list[str]]:
    """A function that calls ``globals()`` (or code nested in it does) may read any module-level
    value by a name no reference shows (``globals()["X"]``): each data value of its module then
    counts as referenced. Code it reaches that way is seen by tracing what runs."""
    if g.get("globals", builtins.globals) is not builtins.globals or "globals" not in _code_names(code):
        return []
    return [["g", name] for name, val in sorted(g.items()) if not name.startswith("__") and not _is_code(val)]


#: what Python itself keeps on a class that is not the class's data (``abc``'s registry cache)
_CLASS_INTERNALS = frozenset({"_abc_impl"})


def class_data(cls: type, part: Callable[[Any], str]) -> str:
    """A class's data attributes as they are now, each by ``part`` (its data version), and those of
    the classes defined in it: what module code may have put there after the class statement (a
    registry filled at import, ``Reg.items["k"] = 1``), which the class's source does not say.
    Methods and descriptors are code (the source has them); dunders and ``_abc_impl`` are Python's.
    "" for none."""
    got = []
    for name, member in sorted(vars(cls).items()):
        if name.startswith("__") or name in _CLASS_INTERNALS:
            continue
        if isinstance(member, type):
            if member.__qualname__ == f"{cls.__qualname__}.{name}" and (inner := class_data(member, part)):
                got.append(f"{name}:{inner}")
        elif not callable(member) and not hasattr(type(member), "__get__"):
            got.append(f"{name}:{part(member)}")
    return xxhash.xxh3_128_hexdigest("\0".join(got).encode()) if got else ""


def _qual_of(obj: Any) -> str:
    mod = getattr(obj, "__module__", None) or "?"
    return f"{mod}.{getattr(obj, '__qualname__', getattr(obj, '__name__', type(obj).__qualname__))}"


def _file_of(fn: Any) -> str | None:
    code = getattr(fn, "__code__", None)
    if code is not None and not code.co_filename.startswith("<"):
        return code.co_filename
    mod = sys.modules.get(getattr(fn, "__module__", "") or "")
    return getattr(mod, "__file__", None)


def _is_under(file: str, root: str) -> bool:
    f = os.path.abspath(file)
    if not f.startswith(root.rstrip(os.sep) + os.sep):
        return False
    parts = f[len(root):].split(os.sep)
    return "site-packages" not in parts and "dist-packages" not in parts


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


def value_digest(value: Any) -> str:
    """A lossless version of a value: its fingerprint, else its pickle bytes, else ``unversionable:``
    (never a ``repr``, which can hide a change: a seeded generator, a long regex, a big array)."""
    fp = fingerprint(value)
    if fp is not None:
        return fp
    try:
        return "pickle:" + xxhash.xxh3_128_hexdigest(pickle_dumps(value, protocol=4))
    except Exception:  # noqa: BLE001 - whatever pickling raises, the value cannot be versioned
        return "unversionable:" + os.urandom(16).hex()  # a fresh version each time: never a false hit


def _code_digest(code: types.CodeType, fn: Any = None) -> str:
    """Fallback when there is no source (REPL, exec, notebooks): bytecode + constants + names."""
    h = xxhash.xxh3_128()

    def feed(c: types.CodeType) -> None:
        h.update(c.co_code)
        h.update(repr((c.co_names, c.co_varnames, c.co_freevars, c.co_argcount, c.co_kwonlyargcount,
                       c.co_posonlyargcount, c.co_flags)).encode())
        for k in c.co_consts:
            if isinstance(k, types.CodeType):
                h.update(b"<code>")
                feed(k)
            else:
                h.update(value_digest(k).encode())

    feed(code)
    if fn is not None:
        h.update(value_digest((getattr(fn, "__defaults__", None), getattr(fn, "__kwdefaults__", None))).encode())
    return "bytecode:" + h.hexdigest()
