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
from collections.abc import Callable, Iterable
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
    """Fan-out of events to listeners; a failing listener is dropped and never fails the run.

    A listener may take only some kinds of event (``kinds``: ``Event.kind`` names): emitters ask
    ``wants`` before building the rest, so a run whose only listener wants nodes that start and end
    (``ripple run``'s ``os._exit`` watch) builds no event at all when everything is cached."""

    def __init__(self) -> None:
        self._listeners: list[tuple[Listener, frozenset[str] | None]] = []
        self._lock = threading.Lock()

    def add(self, listener: Listener, kinds: Iterable[str] | None = None) -> None:
        with self._lock:
            self._listeners.append((listener, None if kinds is None else frozenset(kinds)))

    def remove(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = [(f, k) for f, k in self._listeners if f != listener]

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def wants(self, kind: str) -> bool:
        """Whether a listener takes events of ``kind``."""
        return any(kinds is None or kind in kinds for _, kinds in self._listeners)

    def emit(self, event: Event) -> None:
        kind = event.kind
        for listener, kinds in tuple(self._listeners):
            if kinds is not None and kind not in kinds:
                continue
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a broken view must not break the run
                self.remove(listener)
