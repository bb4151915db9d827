"""The run event stream: one ordered sequence of typed records per run.

Every consumer (CLI table, run history, watch output, the dashboard, lineage) reads this stream and
nothing else, so a run in a child process is indistinguishable from an in-process one: the child
writes ``to_json`` lines, the parent ``from_json``'s them back into the same records.

Times: ``t`` is wall-clock epoch seconds (for display and history); ``seconds`` are durations taken
from ``time.perf_counter`` (monotonic), never from differences of ``t``.

The record classes live in ``engine.event_types`` and load on first use (``ev.NodeStarted``, ``from
engine.events import Event``): a run with no listener builds no event, so it need not make their
ten classes (~2.5 ms of every start).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.event_types import (
        EVENT_TYPES,
        Event,
        Message,
        NodeCached,
        NodeFailed,
        NodeFinished,
        NodePlanned,
        NodeSkipped,
        NodeStarted,
        RunFinished,
        RunStarted,
        from_dict,
        from_json,
        read_jsonl,
    )

__all__ = ["EVENT_TYPES", "Event", "EventBus", "Listener", "Message", "NodeCached", "NodeFailed", "NodeFinished",
           "NodePlanned", "NodeSkipped", "NodeStarted", "RunFinished", "RunStarted", "from_dict", "from_json",
           "read_jsonl"]

#: Node states as shown everywhere (CLI, JSON, dashboard).
RAN = "ran"
CACHED = "cached"
FAILED = "failed"
SKIPPED = "skipped"
PENDING = "pending"
RUNNING = "running"
STALE = "stale"

_RECORDS = frozenset(("EVENT_TYPES", "Event", "Message", "NodeCached", "NodeFailed", "NodeFinished", "NodePlanned",
                      "NodeSkipped", "NodeStarted", "RunFinished", "RunStarted", "from_dict", "from_json", "read_jsonl"))


def __getattr__(name: str) -> Any:
    if name not in _RECORDS:
        raise AttributeError(f"module 'engine.events' has no attribute {name!r}")
    from engine import event_types

    value = getattr(event_types, name)
    globals()[name] = value
    return value


Listener = Callable[["Event"], None]


class EventBus:
    """Fan-out of events to listeners; a failing listener is dropped and never fails the run."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def add(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def emit(self, event: Event) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a broken view must not break the run
                self.remove(listener)
