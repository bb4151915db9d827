"""Running a plan on a pool: the dependency-counting scheduler for thread and process pools, and the
per-item fan-out machinery it shares with the Dask executor (``engine.core.dask``).

A fan-out on a pool is cached per item exactly as in the sequential loop. The cache session is a
sequential object (one item at a time, in item order), while a pool computes items in any order, so
an item's journey has three phases:

1. **predict** (driving process): a dry copy of the session looks every item up, in item order;
   the nodes predicted to hit never run, the others are what each item must compute;
2. **compute** (workers): items are sent in batches (a few per worker, not one task per item, so
   10,000 trivial items cost a few dozen task round trips, not 10,000);
3. **replay** (driving process): the real session sees the same calls as in the sequential loop —
   enter each item, look up each node, save what ran — so keys, counts, item versions and the run
   history are identical. A node predicted to run can still hit here (its in-block input re-ran to
   the same value: early cutoff); its computed value is then dropped for the cached one.
"""

from __future__ import annotations

import math
import time
from collections import ChainMap
from collections.abc import Callable, Iterable
from concurrent import futures as cf
from dataclasses import dataclass, field
from typing import Any

from engine import events as ev
from engine.core.execute import (
    _call,
    _call_tracked,
    _checked,
    _Expand,
    _finish_fanout,
    _recorded,
    _RunState,
)
from engine.core.items import settle_item
from engine.core.plan import FanOut, Step
from engine.core.redact import error_info, user_traceback
from engine.core.run_records import Lazy, NodeRecord

#: batches per worker for one fan-out: enough to keep every worker busy to the end, few enough that
#: the per-task cost is spread over many items
BATCHES_PER_WORKER = 4


# ----------------------------------------------------------------------------------- the unit graph


def unit_graph(steps: list[Step | FanOut]) -> tuple[list[int], list[list[int]]]:
    """``(remaining dependency counts, dependents)`` per plan step (a fan-out is one unit)."""
    unit_of: dict[str, int] = {}
    for i, s in enumerate(steps):
        for name in (s.nodes if isinstance(s, FanOut) else [s.name]):
            unit_of[name] = i
    dependents: list[list[int]] = [[] for _ in steps]
    remaining = []
    for i, s in enumerate(steps):
        members = set(s.nodes) if isinstance(s, FanOut) else {s.name}
        d: set[int] = set()
        for st in ([s.expander, *s.block] if isinstance(s, FanOut) else [s]):
            for _, src in st.args:
                key = src[0] if isinstance(src, tuple) else src
                u = unit_of.get(key)
                if u is not None and u != i and key not in members:
                    d.add(u)
        for u in d:
            dependents[u].append(i)
        remaining.append(len(d))
    return remaining, dependents


# ----------------------------------------------------------------------------------- per-item phases


@dataclass(slots=True)
class ItemWork:
    """What one item must compute: block positions in block order, and the hits they read."""

    index: int
    todo: list[int]
    hits: dict[str, Lazy] = field(default_factory=dict)


def predict_items(state: _RunState, fan: FanOut, n: int, item_at: Callable[[int], Any],
                  version_at: Callable[[int], str | None] | None = None) -> list[ItemWork]:
    """Phase 1: which block nodes each item must compute (all of them without a cache)."""
    everything = list(range(len(fan.block)))
    cache = state.cache
    if cache is None or not hasattr(cache, "remote"):
        return [ItemWork(k, everything) for k in range(n)]
    dry = cache.remote().dry_copy()
    out = []
    for k in range(n):
        _enter(dry, fan.name, item_at(k), k, version_at)
        work = ItemWork(k, [])
        for pos, step in enumerate(fan.block):
            if step.name in state.bad or state.blocked_by(step) is not None:
                continue
            lazy, _why = dry.lookup(step, {})
            if lazy is not None:
                work.hits[step.name] = lazy
            else:
                work.todo.append(pos)
        out.append(work)
    dry.leave_items()
    return out


def _enter(cache: Any, expander: str, item: Any, k: int,
           version_at: Callable[[int], str | None] | None) -> None:
    if version_at is None:
        cache.enter_item(expander, item, k)
    else:
        cache.enter_item(expander, item, k, version=version_at(k))


def batches(work: list[ItemWork], workers: int) -> list[list[ItemWork]]:
    """Items with something to compute, cut into a few batches per worker."""
    todo = [w for w in work if w.todo]
    if not todo:
        return []
    size = max(1, math.ceil(len(todo) / (max(1, workers) * BATCHES_PER_WORKER)))
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def block_spec(fan: FanOut, cache: Any) -> list[tuple[str, Callable[..., Any], tuple[tuple[str, Any], ...], Any]]:
    """Each block node's name, function, wiring and what a recorder of its reads leaves out."""
    return [(b.name, _checked(b.node), b.args, cache.read_ignore(b) if cache is not None else None)
            for b in fan.block]


def run_batch(block: list[tuple[str, Callable[..., Any], tuple[tuple[str, Any], ...], Any]], item_name: str,
              outer: dict[Any, Any], jobs: list[tuple[int, Any, list[int], dict[str, Any]]],
              fingerprint: Callable[[Any], str | None] | None = None) -> dict[int, dict[int, tuple]]:
    """Phase 2, in a worker: for each ``(index, item, positions, hit values)`` run those block nodes
    in order; ``{index: {position: (ok, value | (info, exc), seconds, data version, reads)}}``, the
    reads recorded as a plain node's in a worker are (they go into the item's entry). A node whose
    in-item input failed is left out (the replay skips it)."""
    out: dict[int, dict[int, tuple]] = {}
    for k, item, todo, hits in jobs:
        local = dict(outer)
        local.update(hits)
        local[item_name] = item
        done: dict[int, tuple] = {}
        broken: set[str] = set()
        for pos in todo:
            name, fn, args, ignore = block[pos]
            if any(s in broken or s not in local for _, s in args if not isinstance(s, tuple)):
                broken.add(name)
                continue
            ok, value, seconds, reads = _call_tracked(fn, {p: local[s] for p, s in args}, ignore)
            if not ok:
                broken.add(name)
                done[pos] = (False, value, seconds, None, reads)
                continue
            local[name] = value
            done[pos] = (True, value, seconds, fingerprint(value) if fingerprint is not None else None, reads)
        out[k] = done
    return out


@dataclass(slots=True)
class Replay:
    """Phase 3's two executor-specific moves: what a computed result becomes in the driver's value
    table, and how it is saved."""

    value: Callable[[int, int, tuple], Any]
    save: Callable[[Step, int, int, tuple], None]
    item: Callable[[int], Any]
    version_at: Callable[[int], str | None] | None = None


def replay_items(state: _RunState, fan: FanOut, n: int, results: dict[int, dict[int, tuple]],
                 how: Replay, wrap: Callable[[list[Any]], Any] | None = None) -> None:
    """Phase 3: the sequential loop's session calls, in item order, over results computed anywhere."""
    values, cache, exp = state.values, state.cache, fan.name
    per_item: dict[str, list[Any]] = {s.name: [] for s in fan.block}
    seconds: dict[str, float] = dict.fromkeys(per_item, 0.0)
    hits: dict[str, int] = dict.fromkeys(per_item, 0)
    items = [how.item(k) for k in range(n)]
    for k in range(n):
        local: Any = ChainMap({exp: items[k]}, values)
        if cache is not None:
            _enter(cache, exp, items[k], k, how.version_at)
        got = results.get(k, {})
        for pos, step in enumerate(fan.block):
            if settle_item(state, step, local, per_item, hits):
                continue
            r = got.get(pos)
            if r is None:  # predicted to hit, but the entry went away meanwhile: run it here
                r = _call_here(state, step, local)
            ok, value, secs = r[0], r[1], r[2]
            if not ok:
                info, exc = value
                etype, msg, tb = info
                state.failed(step.name, (etype, f"item {k}: {msg}", tb), exc, secs, f"{exp}[{k}]")
                continue
            seconds[step.name] += secs
            local[step.name] = v = how.value(k, pos, r)
            per_item[step.name].append(v)
            if cache is not None:
                how.save(step, k, pos, r)
    if cache is not None:
        cache.leave_items()
    _finish_fanout(state, fan, items, per_item, seconds, hits, wrap)


def _call_here(state: _RunState, step: Step, local: Any) -> tuple:
    """A batch's result tuple for a block node run in this process (its reads recorded here)."""
    try:
        kwargs = {p: state.materialize(s, local) for p, s in step.args}
    except Exception as exc:  # noqa: BLE001
        return False, (error_info(exc), exc), 0.0, None, ()
    return (*_recorded(state.cache, step, _call, _checked(step.node), kwargs), None, ())


# ----------------------------------------------------------------------------------- the pool loop


class UnitRun:
    """What the pool and the Dask runs share: a unit (a step, or a fan-out with its block) is submitted
    once its dependencies are done; a unit blocked by a failure is skipped, a cached one (or a cached
    fan-out's item list) needs no work at all. Subclasses submit the rest and react to completions."""

    def __init__(self, state: _RunState) -> None:
        self.state = state
        self.steps = state.plan.steps
        self.remaining, self.dependents = unit_graph(self.steps)
        self.ready = [i for i, c in enumerate(self.remaining) if c == 0]
        #: future -> (unit, what, context)
        self.running: dict[Any, tuple[int, str, Any]] = {}
        self.fans: dict[int, dict[str, Any]] = {}

    def complete(self, i: int) -> None:
        for j in self.dependents[i]:
            self.remaining[j] -= 1
            if self.remaining[j] == 0:
                self.ready.append(j)

    def settle(self, i: int) -> tuple[Step, str] | None:
        """Skip a blocked unit or serve a cached one; otherwise the step to run and why it runs."""
        state, s = self.state, self.steps[i]
        fan = isinstance(s, FanOut)
        step = s.expander if fan else s
        culprit = state.blocked_by(step)
        if culprit is not None:
            for name in (s.nodes if fan else [s.name]):
                state.skipped(name, culprit)
            self.complete(i)
            return None
        why = ""
        if state.cache is not None:
            lazy, why = state.cache.lookup(step, state.values)
            if lazy is not None:
                if not fan:
                    state.values[step.name] = lazy
                    state.cached(step, why, lazy=lazy)
                    self.complete(i)
                    return None
                try:
                    items = list(lazy.load())
                except Exception:  # noqa: BLE001 - damaged entry: run the expander instead
                    items = None
                if items is not None:
                    state.cached(step, why, lazy=lazy)
                    self.start_cached_items(i, items)
                    return None
        return step, why

    def start_cached_items(self, i: int, items: list[Any]) -> None:
        raise NotImplementedError


class _PoolRun(UnitRun):
    """One run on a ``concurrent.futures`` pool: submit every ready step, react to completions."""

    def __init__(self, state: _RunState, pool: cf.Executor, remote: bool, workers: int) -> None:
        super().__init__(state)
        self.pool, self.remote, self.workers = pool, remote, workers

    def loop(self) -> None:
        while self.ready or self.running:
            while self.ready:
                self.submit(self.ready.pop(0))
            if not self.running:
                continue
            done, _ = cf.wait(list(self.running), return_when=cf.FIRST_COMPLETED)
            for fut in done:
                i, what, ctx = self.running.pop(fut)
                if what == "node":
                    self.node_done(i, fut, ctx)
                elif what == "expand":
                    self.expand_done(i, fut)
                else:
                    self.batch_done(i, fut)

    def start_cached_items(self, i: int, items: list[Any]) -> None:
        self.start_items(i, items)

    def submit(self, i: int) -> None:
        todo = self.settle(i)
        if todo is None:
            return None
        state, s = self.state, self.steps[i]
        step, why = todo
        try:
            kwargs = state.kwargs(step)
        except Exception as exc:  # noqa: BLE001 - an upstream cached value could not be rebuilt
            state.failed(step.name, error_info(exc), exc, 0.0)
            if isinstance(s, FanOut):
                for b in s.block:
                    state.skipped(b.name, step.name)
            return self.complete(i)
        state.started(step.name)
        ignore = state.cache.read_ignore(step) if state.cache is not None else None
        if isinstance(s, FanOut):
            self.running[self.pool.submit(_call_tracked, _Expand(step.node.fn), kwargs, ignore)] = (i, "expand", None)
            return None
        self.running[self.pool.submit(_call_tracked, step.node.fn, kwargs, ignore)] = (i, "node", why)
        return None

    def _result(self, fut: cf.Future[Any]) -> tuple:
        try:
            return fut.result()
        except Exception as exc:  # noqa: BLE001 - e.g. a value or function that cannot cross to a process
            hint = " (values and node functions must be picklable on the processes executor)" if self.remote else ""
            return False, ((type(exc).__name__, f"{exc}{hint}", user_traceback(exc)), None), 0.0, []

    def node_done(self, i: int, fut: cf.Future[Any], why: str) -> None:
        state, step = self.state, self.steps[i]
        ok, value, seconds, reads = self._result(fut)
        if ok:
            state.values[step.name] = value
            try:
                if step.node.checks:
                    state.checks(step.node, value)
            except Exception as exc:  # noqa: BLE001
                ok, value = False, (error_info(exc), exc)
        if ok:
            state.finished(step, value, seconds, why, reads=reads)
        else:
            info, exc = value
            state.failed(step.name, info, exc, seconds)
        self.complete(i)

    def expand_done(self, i: int, fut: cf.Future[Any]) -> None:
        state, fan = self.state, self.steps[i]
        ok, value, seconds, reads = self._result(fut)
        if not ok:
            state.expander_failed(fan, *value, seconds)
            return self.complete(i)
        items = list(value)
        finish_expander(state, fan.expander, items, seconds, reads)
        return self.start_items(i, items)

    def start_items(self, i: int, items: list[Any]) -> None:
        state, fan = self.state, self.steps[i]
        work = predict_items(state, fan, len(items), items.__getitem__)
        needed_outer = {src for b in fan.block for _, src in b.args
                        if not isinstance(src, tuple) and src in state.values}
        outer = {k: state.materialize(k) for k in needed_outer}
        cut = batches(work, self.workers)
        self.fans[i] = {"items": items, "results": {}, "left": len(cut)}
        for b in fan.block:
            if any(w.todo for w in work):
                state.started(b.name, f"{fan.name}[*]")
        spec = block_spec(fan, state.cache)
        for chunk in cut:
            jobs = [(w.index, items[w.index], w.todo, {n: v.load() for n, v in w.hits.items()}) for w in chunk]
            self.running[self.pool.submit(run_batch, spec, fan.name, outer, jobs)] = (i, "batch", None)
        if not cut:
            self.finish_items(i)

    def batch_done(self, i: int, fut: cf.Future[Any]) -> None:
        fs = self.fans[i]
        try:
            fs["results"].update(fut.result())
        except Exception as exc:  # noqa: BLE001 - the batch could not cross to or from a worker
            hint = " (values and node functions must be picklable on the processes executor)" if self.remote else ""
            failure = (False, ((type(exc).__name__, f"{exc}{hint}", user_traceback(exc)), None), 0.0, None)
            fan = self.steps[i]
            self.state.failed(fan.block[0].name, failure[1][0], None, 0.0)
        fs["left"] -= 1
        if fs["left"] == 0:
            self.finish_items(i)

    def finish_items(self, i: int) -> None:
        fs = self.fans.pop(i)
        items = fs["items"]
        state = self.state

        def save(step: Step, k: int, pos: int, r: tuple) -> None:
            state.cache.save(step, r[1], r[2], r[4])

        replay_items(state, self.steps[i], len(items), fs["results"],
                     Replay(value=lambda k, pos, r: r[1], save=save, item=items.__getitem__))
        self.complete(i)


def finish_expander(state: _RunState, exp: Step, items: list[Any], seconds: float, reads: Iterable[str] = ()) -> None:
    """The expander ran: record (and cache) its item list, with what its run read, as the sequential
    loop does."""
    why = f"{len(items)} items"
    if state.cache is not None:
        state.finished(exp, items, seconds, why, reads=reads)
        return
    state.records[exp.name] = NodeRecord(exp.name, ev.RAN, seconds, why)
    if state.bus:
        state.emit(ev.NodeFinished(state.run_id, time.time(), node=exp.name, seconds=seconds, why=why))


def run_pool(state: _RunState, pool: cf.Executor, remote: bool, workers: int) -> None:
    """Run ``state``'s plan on ``pool`` (``remote``: a process pool, values must pickle)."""
    _PoolRun(state, pool, remote, workers).loop()
