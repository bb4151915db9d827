"""``c``: the fingerprint core (``engine.caching.data_version``) as seen by the encoders it loads
lazily (``frame_values``, ``stdlib_values``), looked up at call time: importing the core from them
would be an import cycle, since the core imports them when a value of theirs is first seen."""

from __future__ import annotations

import sys
from typing import Any


class _Core:
    """Attribute access to the fingerprint core, which is always loaded when these run."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.modules["engine.caching.data_version"], name)


c = _Core()
