"""``ripple run``: a node that calls ``os._exit`` ends the ripple process with it (nothing can stop
that in-process); this says which node did, on stderr, before the process goes."""

from __future__ import annotations

import os
import sys
from typing import Any

from engine import events as ev


class ExitWatch:
    """While active, ``os._exit`` called in this process names the running node(s) first."""

    #: the events ``on_event`` needs (``EventBus`` kinds): a node is running from its start to its
    #: end. A cached node never started, so a fully cached run makes no event for this watch.
    KINDS = ("node_started", "node_finished", "node_failed", "node_skipped")

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.running: dict[str, None] = {}
        self.real: Any = None

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.NodeStarted):
            self.running[event.node] = None
        elif isinstance(event, ev.NodeFinished | ev.NodeFailed | ev.NodeSkipped):
            self.running.pop(event.node, None)

    def _exit(self, code: int = 0) -> None:
        if os.getpid() == self.pid:  # not in a forked worker, which ends with os._exit normally
            names = ", ".join(self.running) or "a node"
            try:
                sys.stderr.write(f"ripple: error: node {names} called os._exit({code}), which ends the ripple process "
                                 "at once (nodes that finished are cached); remove the call, or run with --isolate "
                                 "to have it reported as that node's failure.\n")
                sys.stderr.flush()
            except Exception:  # noqa: BLE001 - the process is going anyway
                pass
        self.real(code)

    def __enter__(self) -> ExitWatch:
        self.real = os._exit
        os._exit = self._exit  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: Any) -> None:
        os._exit = self.real  # type: ignore[assignment]
