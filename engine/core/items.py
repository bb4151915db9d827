"""A fan-out item's step before any work: shared by the sequential loop and the pool/Dask replay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.core.execute import _RunState
    from engine.core.plan import Step


def settle_item(state: _RunState, step: Step, local: Any, per_item: dict[str, list[Any]],
                hits: dict[str, int]) -> bool:
    """One item's step needs no work: behind a failure (skipped) or cached (its value served). The
    sequential loop and the pool/Dask replay both ask this, in item order, so their sessions agree."""
    if step.name in state.bad:
        return True
    culprit = state.blocked_by(step)
    if culprit is not None:
        state.skipped(step.name, culprit)
        return True
    if state.cache is not None:
        lazy, _why = state.cache.lookup(step, local)
        if lazy is not None:
            local[step.name] = lazy
            per_item[step.name].append(lazy)
            hits[step.name] += 1
            return True
    return False
