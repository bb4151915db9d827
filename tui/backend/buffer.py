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
    is in flight, so a flood of failures cannot flood the UI queue either. A consumer with nothing to
    do calls ``sleep`` and stops polling (an idle dashboard then costs no CPU): the next push wakes it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []
        self._waker: Waker | None = None
        self._wake_pending = False
        self._asleep = False
        self.pushed = 0

    def set_waker(self, waker: Waker | None) -> None:
        with self._lock:
            self._waker = waker
            self._wake_pending = False
            self._asleep = False

    def sleep(self) -> bool:
        """The consumer will stop polling: True if nothing is buffered and a waker is set, and then the
        next push calls the waker. Checked under the lock, so an item pushed between the consumer's
        last ``drain`` and this call cannot be left waiting for a poll that will not come."""
        with self._lock:
            if self._items or self._waker is None:
                return False
            self._asleep = True
            return True

    @property
    def asleep(self) -> bool:
        with self._lock:
            return self._asleep

    def push(self, item: Any) -> None:
        urgent = isinstance(item, ev.NodeFailed | RunEnded | GraphProblem) or (
            isinstance(item, ev.RunFinished) and item.status != "ok"
        )
        wake = None
        with self._lock:
            self._items.append(item)
            self.pushed += 1
            if (urgent or self._asleep) and self._waker is not None and not self._wake_pending:
                self._wake_pending = True
                self._asleep = False
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
