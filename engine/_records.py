"""The ``repr`` and ``==`` of the engine's record dataclasses, written once instead of per class.

Why: on Python 3.11 ``@dataclass`` compiles every method it adds with an ``exec`` of its own, and
the records a command loads (nodes, plans, run records, events, store settings and keys, code
versions) are made at import time by every command: their generated ``__repr__`` and ``__eq__``
cost a warm ``ripple run`` ~3 ms of its startup. The records stay dataclasses (fields, ``replace``,
``asdict``, ``__init__``): they declare ``repr=False`` (and ``eq=False``) and inherit these, which
behave as the generated ones do (``tests/test_records.py`` holds them to it). They are slower per
call (``dataclasses.fields`` each time), which a run does not pay: it compares no records.
"""

from __future__ import annotations

import dataclasses
import reprlib

__all__ = ["Record", "ValueRecord"]


class Record:
    """A dataclass's ``repr`` (``Name(field=value, ...)``, fields declared ``repr=False`` left out,
    recursion shown as ``...``), for ``@dataclass(repr=False)`` subclasses."""

    __slots__ = ()

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr)  # type: ignore[arg-type]
        return f"{self.__class__.__qualname__}({shown})"


class ValueRecord(Record):
    """Also a dataclass's ``==`` (same class, equal compared fields) and its unhashability, for
    ``@dataclass(repr=False, eq=False)`` subclasses that are not frozen."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        names = [f.name for f in dataclasses.fields(self) if f.compare]  # type: ignore[arg-type]
        return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)
