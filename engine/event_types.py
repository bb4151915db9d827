"""The run events themselves (see ``engine.events``, which names them and loads this module when
one is first used): typed records, their JSON form, and reading them back."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from engine._json import compact_encoder, loads
from engine._records import ValueRecord


@dataclass(slots=True, eq=False, repr=False)
class Event(ValueRecord):
    """One thing that happened in a run, as every listener (CLI, dashboard, lineage) sees it."""

    kind: ClassVar[str] = "event"
    run_id: str
    t: float

    def to_dict(self) -> dict[str, Any]:
        # Field values are plain JSON types (lists of names at most), so no deep copy is needed;
        # this is on the hot path of every child-process run (an event per node).
        d = {name: getattr(self, name) for name in _field_names(type(self))}
        d["type"] = self.kind
        return d

    def to_json(self) -> str:
        return _dumps(self.to_dict())


@dataclass(slots=True, eq=False, repr=False)
class RunStarted(Event):
    """A run began: what it will compute and how."""

    kind: ClassVar[str] = "run_started"
    pipeline: str = ""
    outputs: list[str] = field(default_factory=list)
    #: planned node names in execution (topological) order
    nodes: list[str] = field(default_factory=list)
    executor: str = "sequential"
    cache: bool = False


@dataclass(slots=True, eq=False, repr=False)
class NodePlanned(Event):
    """The cache's prediction for one node before anything runs (``will`` is ``run``, ``may run`` or ``hit``)."""

    kind: ClassVar[str] = "node_planned"
    node: str = ""
    will: str = "run"
    why: str = ""


@dataclass(slots=True, eq=False, repr=False)
class NodeStarted(Event):
    """A node's function was called (``task``: the fan-out item or worker it runs as)."""

    kind: ClassVar[str] = "node_started"
    node: str = ""
    task: str | None = None


@dataclass(slots=True, eq=False, repr=False)
class NodeCached(Event):
    """A node's result came from the cache instead of running it."""

    kind: ClassVar[str] = "node_cached"
    node: str = ""
    seconds: float = 0.0
    #: what the hit saved: the compute time recorded with the entry
    saved_seconds: float = 0.0
    bytes: int = 0
    why: str = ""
    task: str | None = None
    code_version: str = ""
    data_version: str = ""


@dataclass(slots=True, eq=False, repr=False)
class NodeFinished(Event):
    """A node ran to completion; its result is stored (``bytes``) unless caching is off for it."""

    kind: ClassVar[str] = "node_finished"
    node: str = ""
    seconds: float = 0.0
    bytes: int = 0
    why: str = ""
    task: str | None = None
    code_version: str = ""
    data_version: str = ""


@dataclass(slots=True, eq=False, repr=False)
class NodeFailed(Event):
    """A node raised; ``file``/``line`` point at the user's frame that raised it."""

    kind: ClassVar[str] = "node_failed"
    node: str = ""
    seconds: float = 0.0
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    file: str = ""
    line: int = 0
    task: str | None = None


@dataclass(slots=True, eq=False, repr=False)
class NodeSkipped(Event):
    """A node did not run because something it depends on failed."""

    kind: ClassVar[str] = "node_skipped"
    node: str = ""
    reason: str = ""


@dataclass(slots=True, eq=False, repr=False)
class RunFinished(Event):
    """A run ended (``status``: ok, failed or cancelled) with its counts."""

    kind: ClassVar[str] = "run_finished"
    status: str = "ok"  # ok | failed | cancelled
    seconds: float = 0.0
    ran: int = 0
    cached: int = 0
    failed: int = 0
    skipped: int = 0
    error: str = ""


@dataclass(slots=True, eq=False, repr=False)
class Message(Event):
    """Free-form notice from the engine or the watcher (warnings, change summaries, load errors)."""

    kind: ClassVar[str] = "message"
    level: str = "info"
    text: str = ""
    file: str = ""
    line: int = 0


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        NodePlanned,
        NodeStarted,
        NodeCached,
        NodeFinished,
        NodeFailed,
        NodeSkipped,
        RunFinished,
        Message,
    )
}


def from_dict(d: dict[str, Any]) -> Event:
    """Rebuild an event; unknown keys are dropped so newer writers stay readable."""
    cls = EVENT_TYPES[d["type"]]
    names = _field_set(cls)
    return cls(**{k: v for k, v in d.items() if k in names})


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@functools.cache
def _field_set(cls: type) -> frozenset[str]:
    return frozenset(_field_names(cls))


_dumps = compact_encoder(ascii_only=False)  # a line per event: one prebuilt encoder (engine._json)


def from_json(line: str) -> Event:
    return from_dict(loads(line))


def batch_lines(events: list[Event]) -> str:
    """``events`` as JSON lines (each ending in a newline), each run of one class and run as one
    ``batch_json`` line."""
    runs: list[list[Event]] = []
    for e in events:
        if runs and runs[-1][0].__class__ is e.__class__ and runs[-1][0].run_id == e.run_id:
            runs[-1].append(e)
        else:
            runs.append([e])
    return "".join(batch_json(r) + "\n" for r in runs)


def batch_json(events: list[Event]) -> str:
    """Events of one class and run as one JSON line, ``read_line`` giving them back. Why: a child
    sends ~1,500 predictions and hits before the first node of a 1,000-node pipeline runs after an
    edit, and a line each cost ~2.5 µs to write and more to read (a dict each way)."""
    first = events[0]
    names = _batch_fields(type(first))
    row = operator.attrgetter(*names)
    return _dumps({"type": "batch", "of": first.kind, "run_id": first.run_id, "fields": names,
                   "rows": [row(e) for e in events]})


def read_line(line: str) -> list[Event]:
    """The events of a line ``to_json`` or ``batch_json`` wrote."""
    d = loads(line)
    if d.get("type") != "batch":
        return [from_dict(d)]
    cls = EVENT_TYPES[d["of"]]
    run_id, names, known = d["run_id"], d["fields"], _field_set(cls)
    keep = [(i, n) for i, n in enumerate(names) if n in known]  # a newer writer's fields: dropped, as from_dict
    return [cls(run_id, **{n: r[i] for i, n in keep}) for r in d["rows"]]


@functools.cache
def _batch_fields(cls: type) -> tuple[str, ...]:
    return tuple(n for n in _field_names(cls) if n != "run_id")


def read_jsonl(lines: Iterable[str]) -> Iterator[Event]:
    for line in lines:
        line = line.strip()
        if line:
            yield from read_line(line)
