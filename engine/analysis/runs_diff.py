"""What changed between two stored runs, node by node: decision, time, versions, and why.

Decisions taken here: a node's time "changed" when one run took at least ``REGRESSION_RATIO``
times the other and at least ``REGRESSION_MIN_SECONDS`` more (the trend thresholds), so
jitter is not reported; a cache hit's time is a load and is only compared with another hit's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .history import REGRESSION_MIN_SECONDS, REGRESSION_RATIO


@dataclass(slots=True)
class NodeChange:
    node: str
    status_a: str | None
    status_b: str | None
    seconds_a: float | None
    seconds_b: float | None
    #: what differs: "decision", "time", "code", "inputs", "output", "added", "removed"
    changes: list[str] = field(default_factory=list)
    why: str = ""


@dataclass(slots=True)
class RunDiff:
    run_a: str
    run_b: str
    changed: list[NodeChange]
    unchanged: int

    def to_dict(self) -> dict[str, Any]:
        return {"run_a": self.run_a, "run_b": self.run_b, "unchanged": self.unchanged,
                "changed": [asdict(c) for c in self.changed]}


def _slower(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return False
    lo, hi = sorted((a, b))
    return hi - lo >= REGRESSION_MIN_SECONDS and hi >= lo * REGRESSION_RATIO


def diff_runs(run_a: str, records_a: Iterable[Any], run_b: str, records_b: Iterable[Any]) -> RunDiff:
    """Compare the node records of run A (older, usually) with run B; order follows run B."""
    a = {r.node: r for r in records_a}
    b = {r.node: r for r in records_b}
    names = list(b) + [n for n in a if n not in b]
    changed: list[NodeChange] = []
    same = 0
    for name in names:
        ra, rb = a.get(name), b.get(name)
        c = NodeChange(name, ra.status if ra else None, rb.status if rb else None,
                       ra.seconds if ra else None, rb.seconds if rb else None)
        if ra is None or rb is None:
            c.changes.append("added" if ra is None else "removed")
            c.why = (rb.why or "") if rb is not None else ""
        else:
            if ra.status != rb.status:
                c.changes.append("decision")
            if ra.status == rb.status and _slower(ra.seconds, rb.seconds):
                c.changes.append("time")
            if ra.code_version and rb.code_version and ra.code_version != rb.code_version:
                c.changes.append("code")
            inputs = _changed_inputs(ra, rb)
            if inputs:
                c.changes.append("inputs")
            if ra.data_version and rb.data_version and ra.data_version != rb.data_version:
                c.changes.append("output")
            c.why = rb.why or ""
            if inputs and not c.why:
                c.why = "inputs changed: " + ", ".join(inputs)
        if c.changes:
            changed.append(c)
        else:
            same += 1
    return RunDiff(run_a, run_b, changed, same)


def _changed_inputs(ra: Any, rb: Any) -> list[str]:
    da, db = getattr(ra, "deps", None), getattr(rb, "deps", None)
    if da is None or db is None:
        return []
    return sorted(p for p in set(da) | set(db) if da.get(p) != db.get(p))
