"""Honest predictions: what a run will do, node by node, before anything runs.

A node is predicted

- ``hit`` when its key can be computed now and a good entry exists for it;
- ``run`` ("will run") when it certainly runs: its key is known and misses, its behavior never
  looks up (``recompute``/``disable``/``ignore``), an input cannot be fingerprinted, or no entry
  exists for its current code whatever its inputs turn out to be;
- ``may run`` when its key depends on the output of a node that runs first: early cutoff makes
  it a hit if that node reproduces the value it had, so it is not counted as certain.

Fan-out blocks are predicted per item: a cached expander whose item versions are known (the
store remembers them per item list) is followed item by item, so a fully cached fan-out is a hit
and not "runs per item". The guarantee the tests hold us to: after ``plan``, the nodes that run
include every "will run" node and are all among "will run" plus "may run".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.caching.session import Session
    from engine.core.plan import FanOut, Step

HIT, RUN, MAY = "hit", "run", "may run"
WILLS = (HIT, RUN, MAY)


@dataclass(frozen=True, slots=True)
class Counts:
    """The one-line summary ``ripple plan``, watch mode and the dashboard print."""

    run: int
    may: int
    hit: int

    def __str__(self) -> str:
        parts = [f"{self.run} will run"]
        if self.may:
            parts.append(f"{self.may} may run")
        parts.append(f"{self.hit} cached")
        return ", ".join(parts)


def counts(rows: Iterable[tuple[str, str, str]]) -> Counts:
    c = {HIT: 0, RUN: 0, MAY: 0}
    for _n, will, _why in rows:
        c[will if will in c else RUN] += 1
    return Counts(c[RUN], c[MAY], c[HIT])


def predict(dry: Session) -> list[tuple[str, str, str]]:
    """``(node, will, why)`` in run order, from a dry session (nothing is stored or loaded)."""
    from engine.core.plan import FanOut

    unknown: dict[str, str] = {}  # node -> "run" | "may run": its output is not known before the run
    out: list[tuple[str, str, str]] = []
    for step in dry.plan.steps:
        if isinstance(step, FanOut):
            out.extend(_fanout(dry, step, unknown))
        else:
            out.append(_step(dry, step, unknown))
    return out


def _source(src: Any) -> str:
    return src[0] if src.__class__ is tuple else src


def _step(dry: Session, step: Step, unknown: dict[str, str], *, items: bool = False) -> tuple[str, str, str]:
    name = step.name
    waiting = [s for s in dict.fromkeys(_source(src) for _, src in step.args) if s in unknown]
    if waiting and not items and dry.warm is not None:
        # a replayed record's nodes all key every input (none is ``ignore``d): one not known yet is
        # a miss (~10 µs a node after an edit, the lookup left out)
        dry.dv[name] = dry.dv[(name,)] = None
        lazy, why = None, ""
    else:
        lazy, why = dry.lookup(step, {})
    if lazy is not None:
        return name, HIT, why
    if not waiting or _certain(dry, step):
        will, reason = RUN, why
        if waiting and not why.startswith(("behavior", "code changed", "no cached")):
            reason = f"no cached result for its current code; upstream {waiting[0]} runs first"
    else:
        will = MAY
        first = waiting[0]
        verb = "will run" if unknown[first] == RUN else "may run"
        reason = f"upstream {first} {verb}; a hit if its output comes out unchanged (early cutoff)"
    if not items:
        unknown[name] = will
    return name, will, reason


def _certain(dry: Session, step: Step) -> bool:
    """Whatever its inputs turn out to be, can this node hit? Not without an entry for its code."""
    node = step.node
    cache = dry.cache
    if cache.behavior(node) in ("recompute", "disable", "ignore"):
        return True
    warm = dry.warm
    if warm is not None and node.name in warm.rows:  # not read ahead: the replay's row, else the store's
        if warm.has_version(dry, node):
            return False
        digest = cache.code_version(node).digest
        return not any(e.code_version == digest for e in dry.store.entries_for([node.name], full=False)[node.name])
    return not dry.prefetched.has_version(node.name, cache.code_version(node).digest)


def _fanout(dry: Session, fan: FanOut, unknown: dict[str, str]) -> list[tuple[str, str, str]]:
    exp = fan.expander
    first = _step(dry, exp, unknown)
    out = [first]
    list_dv = dry.dv.get(exp.name) if first[1] == HIT else None
    raw = dry.store.memo.get(f"items:{list_dv}") if list_dv else None
    if raw is None:
        why = (f"runs once per item of {exp.name}, which " + ("runs first" if first[1] != HIT
                                                            else "is cached but its items were not versioned"))
        for step in fan.block:
            will = RUN if _certain(dry, step) else MAY
            unknown[step.name] = will
            dry.dv[step.name] = dry.dv[(step.name,)] = None
            out.append((step.name, will, why))
        return out
    import json

    n = len(json.loads(raw))
    per: dict[str, list[str]] = {s.name: [] for s in fan.block}
    inner: dict[str, str] = dict(unknown)
    for i in range(n):
        dry.enter_item(exp.name, None, i)
        item_unknown = dict(inner)
        for step in fan.block:
            _n, will, _why = _step(dry, step, item_unknown, items=True)
            per[step.name].append(will)
            if will != HIT:
                item_unknown[step.name] = will
    dry.leave_items()
    for step in fan.block:
        wills = per[step.name]
        missed = [w for w in wills if w != HIT]
        versions = dry._item_versions.pop(step.name, [])
        dry._item_hits.pop(step.name, None)
        if not missed and len(versions) == n and None not in versions:
            from engine.caching.data_version import combine

            dry.dv[step.name] = dry.dv[(step.name,)] = combine("items", *versions)
            out.append((step.name, HIT, f"all {n} items cached"))
            continue
        will = RUN if RUN in missed else MAY
        unknown[step.name] = will
        dry.dv[step.name] = dry.dv[(step.name,)] = None
        out.append((step.name, will, f"{len(missed)} of {n} items {'will' if will == RUN else 'may'} run"))
    return out
