"""Ripple: a function-level incremental pipeline engine.

The public surface is small and typed; heavy modules (cache, store, pandas, numpy, rich) load
lazily so ``import engine`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine._version import __version__
from engine.core.decorators import (
    Collect,
    Parallelizable,
    cache,
    check_output,
    config,
    extract_columns,
    extract_fields,
    parameterize,
    parameterize_sources,
    parameterize_values,
    source,
    tag,
    tag_outputs,
    value,
)
from engine.driver import Builder, Driver, Variable
from engine.errors import GraphError, LoadError, NodeFailed, RippleError, UsageError
from engine.events import Event, EventBus

if TYPE_CHECKING:
    from engine.files import File

__all__ = [
    "Builder",
    "Collect",
    "Driver",
    "Event",
    "EventBus",
    "File",
    "GraphError",
    "LoadError",
    "NodeFailed",
    "Parallelizable",
    "RippleError",
    "UsageError",
    "Variable",
    "cache",
    "check_output",
    "config",
    "extract_columns",
    "extract_fields",
    "parameterize",
    "parameterize_sources",
    "parameterize_values",
    "source",
    "tag",
    "tag_outputs",
    "value",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "File":
        from engine.files import File

        return File
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
