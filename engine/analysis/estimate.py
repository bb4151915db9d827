"""Expected costs from the history, and the ETA of a run in progress.

One definition for ``ripple run``'s progress line, ``ripple plan``'s estimates and the
dashboard header. A node's expected cost is the median of its executed runs in the recent
history; a node predicted to hit costs nothing; a node never executed before has no estimate,
and then the ETA is a lower bound (it says so with ``complete=False``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.store import Store

#: executed runs per node the estimate looks at
RECENT = 10
#: predictions (``node_planned.will``) that cost nothing
FREE = frozenset({"hit"})


def expected_seconds(store: Store, nodes: Iterable[str], *, recent: int = RECENT) -> dict[str, float]:
    """Median executed seconds per node; nodes without an executed run are left out."""
    names = list(dict.fromkeys(nodes))
    if not names:
        return {}
    from .history import median_seconds  # its statistics module is ~2 ms of `ripple run`'s start

    out: dict[str, float] = {}
    for name, history in store.node_histories(names, limit=recent * 3).items():
        m = median_seconds(history[: recent * 3])
        if m is not None:
            out[name] = m
    return out


@dataclass(frozen=True, slots=True)
class Eta:
    """``seconds`` left, at least; ``complete`` is false when a node still to run has no history."""

    seconds: float
    complete: bool


def eta(pending: Iterable[str], running: Mapping[str, float], expected: Mapping[str, float],
        planned: Mapping[str, str] | None = None) -> Eta | None:
    """Time left: each pending node's expected cost, plus what running nodes have left of theirs.

    ``running`` maps a node to the seconds it has been running; a node running past its median
    is given nothing more (it may finish any moment — it is not extrapolated). ``planned`` holds
    predictions; nodes planned to hit cost nothing. ``None`` when no node left has an estimate.
    """
    planned = planned or {}
    total = 0.0
    known = True
    any_known = False
    for name in pending:
        if planned.get(name) in FREE:
            continue
        cost = expected.get(name)
        if cost is None:
            known = False
            continue
        any_known = True
        total += cost
    for name, elapsed in running.items():
        cost = expected.get(name)
        if cost is None:
            known = False
            continue
        any_known = True
        total += max(cost - elapsed, 0.0)
    if not any_known:
        return None  # nothing to estimate from (or nothing left that costs anything)
    return Eta(total, known)


def fmt_eta(e: Eta | None) -> str:
    """``ETA 12s`` / ``ETA ≥12s`` (some node has no history) / ``ETA ?`` / empty when unknown."""
    if e is None:
        return ""
    s = e.seconds
    if not e.complete and s < 0.1:
        return "ETA ?"
    text = f"{s:.0f}s" if s >= 10 else f"{s:.1f}s" if s >= 0.1 else "<0.1s"
    if s >= 120:
        m, sec = divmod(int(s), 60)
        text = f"{m}m{sec:02d}s"
    return "ETA " + ("" if e.complete else "≥") + text


def fmt_cost(s: float) -> str:
    """A duration for estimates: ``12ms``, ``1.8s``, ``2m05s``."""
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 120:
        return f"{s:.1f}s"
    m, sec = divmod(int(s), 60)
    return f"{m}m{sec:02d}s"
