from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from engine import events as ev
from tui.state.notices import (
    GraphProblem,
    RunEnded,
)

Waker = Callable[[], None]


class EventBuffer:
    """Lock-protected hand-off from engine threads to the UI.

    ``drain`` swaps the list out in O(1), so producers never wait on the UI. Failures (and a run's
    end) call the waker once, so the app drains at once instead of at its next tick; at most one wake
    is in flight, so a flood of failures cannot flood the UI queue either.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []
        self._waker: Waker | None = None
        self._wake_pending = False
        self.pushed = 0

    def set_waker(self, waker: Waker | None) -> None:
        with self._lock:
            self._waker = waker
            self._wake_pending = False

    def push(self, item: Any) -> None:
        urgent = isinstance(item, ev.NodeFailed | RunEnded | GraphProblem) or (
            isinstance(item, ev.RunFinished) and item.status != "ok"
        )
        wake = None
        with self._lock:
            self._items.append(item)
            self.pushed += 1
            if urgent and self._waker is not None and not self._wake_pending:
                self._wake_pending = True
                wake = self._waker
        if wake is not None:
            wake()

    def extend(self, items: Sequence[Any]) -> None:
        for item in items:
            self.push(item)

    def drain(self) -> list[Any]:
        with self._lock:
            items, self._items = self._items, []
            self._wake_pending = False
        return items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
