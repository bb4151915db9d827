"""The engine's logger, bound on first use: importing ``logging`` costs ~3 ms of every start, and a
warm run with nothing to report never needs it. Every message of the engine goes through ``log``,
so a front end can set logging up only when the first message comes (``when_bound``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class EngineLog:
    """``logging.getLogger("engine")``, looked up when a message is actually logged."""

    __slots__ = ("_hooks",)

    def __init__(self) -> None:
        self._hooks: list[Callable[[Any], None]] = []

    def __getattr__(self, name: str) -> Any:
        import logging

        logger = logging.getLogger("engine")
        while self._hooks:
            self._hooks.pop(0)(logger)
        return getattr(logger, name)

    def when_bound(self, hook: Callable[[Any], None]) -> None:
        """Call ``hook(logger)`` before the first message is logged (now, if ``logging`` is loaded:
        something may already log through it)."""
        if "logging" in sys.modules:
            import logging

            hook(logging.getLogger("engine"))
        else:
            self._hooks.append(hook)

    def forget(self, hook: Callable[[Any], None]) -> None:
        """Drop a hook that has not run yet (the front end is done)."""
        if hook in self._hooks:
            self._hooks.remove(hook)

    def debug_enabled(self) -> bool:
        """Whether debug messages are wanted; when nothing has imported ``logging`` yet, nothing can
        have set a level or a handler, so the answer is no without importing it."""
        logging = sys.modules.get("logging")
        return logging is not None and logging.getLogger("engine").isEnabledFor(logging.DEBUG)


log = EngineLog()
