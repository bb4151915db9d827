"""The engine's logger, bound on first use: importing ``logging`` costs ~3 ms of every start, and a
warm run with nothing to report never needs it."""

from __future__ import annotations

import sys
from typing import Any


class EngineLog:
    """``logging.getLogger("engine")``, looked up when a message is actually logged."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        import logging

        return getattr(logging.getLogger("engine"), name)

    def debug_enabled(self) -> bool:
        """Whether debug messages are wanted; when nothing has imported ``logging`` yet, nothing can
        have set a level or a handler, so the answer is no without importing it."""
        logging = sys.modules.get("logging")
        return logging is not None and logging.getLogger("engine").isEnabledFor(logging.DEBUG)


log = EngineLog()
