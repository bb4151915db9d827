"""Ripple: a function-level incremental pipeline engine.

The public surface is small and typed; heavy modules (cache, store, pandas, numpy, rich) load
lazily so ``import engine`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine._gc import paused

with paused(promote=True):  # the engine's modules live on: no collection rescans them while they load
    from engine._version import __version__
    from engine.core.markers import Collect, Parallelizable
    from engine.driver import Builder, Driver
    from engine.errors import GraphError, LoadError, NodeFailed, RippleError, UsageError
    from engine.events import EventBus

if TYPE_CHECKING:
    from engine.core.decorators import (
        cache,
        check_output,
        config,
        extract_columns,
        extract_fields,
        parameterize,
        parameterize_sources,
        parameterize_values,
        parametrized_input,
        source,
        tag,
        tag_outputs,
        value,
    )
    from engine.core.materialize import dataloader, datasaver, from_, load_from, save_to, to
    from engine.core.modifiers import apply_to, hamilton_exclude, mutate, pipe, pipe_input, pipe_output, step
    from engine.core.rewrites import (
        DataValidator,
        ResolveAt,
        ValidationResult,
        check_output_custom,
        does,
        group,
        inject,
        resolve,
        schema,
        unpack_fields,
    )
    from engine.core.subdag import parameterized_subdag, subdag, with_columns
    from engine.core.variables import Variable
    from engine.events import Event
    from engine.files import File

#: names whose modules load on first use: a pipeline that uses none of them does not pay for them
_LAZY = {
    **dict.fromkeys(("cache", "check_output", "config", "extract_columns", "extract_fields", "parameterize",
                     "parameterize_sources", "parameterize_values", "parametrized_input", "source", "tag",
                     "tag_outputs", "value"), "engine.core.decorators"),
    **dict.fromkeys(("apply_to", "hamilton_exclude", "mutate", "pipe", "pipe_input", "pipe_output", "step"),
                    "engine.core.modifiers"),
    **dict.fromkeys(("dataloader", "datasaver", "from_", "load_from", "save_to", "to"), "engine.core.materialize"),
    **dict.fromkeys(("DataValidator", "ResolveAt", "ValidationResult", "check_output_custom", "does", "group",
                     "inject", "resolve", "schema", "unpack_fields"), "engine.core.rewrites"),
    **dict.fromkeys(("parameterized_subdag", "subdag", "with_columns"), "engine.core.subdag"),
    "File": "engine.files",
    "Variable": "engine.core.variables",
    "Event": "engine.events",
}

__all__ = [
    "Builder",
    "Collect",
    "DataValidator",
    "Driver",
    "Event",
    "EventBus",
    "File",
    "GraphError",
    "LoadError",
    "NodeFailed",
    "Parallelizable",
    "ResolveAt",
    "RippleError",
    "UsageError",
    "ValidationResult",
    "Variable",
    "apply_to",
    "cache",
    "check_output",
    "check_output_custom",
    "config",
    "dataloader",
    "datasaver",
    "does",
    "extract_columns",
    "extract_fields",
    "from_",
    "group",
    "hamilton_exclude",
    "inject",
    "load_from",
    "mutate",
    "parameterize",
    "parameterize_sources",
    "parameterize_values",
    "parameterized_subdag",
    "parametrized_input",
    "pipe",
    "pipe_input",
    "pipe_output",
    "resolve",
    "save_to",
    "schema",
    "source",
    "step",
    "subdag",
    "tag",
    "tag_outputs",
    "to",
    "unpack_fields",
    "value",
    "with_columns",
    "__version__",
]



def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
