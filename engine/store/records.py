"""The cache entry, the one record every run reads (the others, in ``reports``, load when asked for)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine._json import loads as json_loads
from engine._records import Record

# --------------------------------------------------------------------------------------------------
# records


class _JSONField:
    """A dict field that keeps the JSON text until first read.

    A warm run prefetches every entry of thousands of nodes but looks at the ``deps`` of only the
    few that missed; decoding 3 JSON documents per row eagerly would dominate ``entries_for``.
    """

    __slots__ = ("attr",)

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return None  # the dataclass default
        value = obj.__dict__[self.attr]
        if value == "{}":
            value = {}
            obj.__dict__[self.attr] = value
        elif value.__class__ is str:
            try:
                value = json_loads(value) if value else {}
            except ValueError:
                value = {}
            obj.__dict__[self.attr] = value
        elif value is None:
            value = {}
            obj.__dict__[self.attr] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.attr] = value


@dataclass(eq=False, repr=False)
class Entry(Record):
    """One cache entry: the result of ``node`` under cache ``key``.

    ``size`` is the serialised size in bytes; ``inline`` holds the serialised bytes only when they
    were fetched (``put`` results, or lazily inside :meth:`Store.load`); ``is_inline`` says where the
    value lives without fetching it.
    """

    key: str
    node: str
    data_version: str
    code_version: str
    size: int
    compute_seconds: float
    created: float
    last_used: float
    deps: dict[str, str] = _JSONField()  # type: ignore[assignment]
    code_parts: dict[str, Any] = _JSONField()  # type: ignore[assignment]
    files: dict[str, str] = _JSONField()  # type: ignore[assignment]
    checksum: str = ""
    inline: bytes | None = field(default=None, repr=False)
    is_inline: bool = False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return (self.key, self.data_version, self.checksum) == (other.key, other.data_version, other.checksum)

    @property
    def has_files(self) -> bool:
        """Whether the entry recorded any file versions, without decoding them (the warm path asks
        this of every hit, and almost none has files)."""
        raw = self.__dict__.get("_files")
        return bool(raw) and raw != "{}"

    @property
    def value_per_byte(self) -> float:
        """Recompute seconds saved per stored byte: what pruning by size protects."""
        return self.compute_seconds / max(self.size, 1)
