from __future__ import annotations

import time
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from engine import events as ev
from engine._log import log
from engine.core.graph import Node
from engine.core.plan import FanOut, Plan, Step
from engine.core.run_records import Lazy, NodeRecord, RunResult

if TYPE_CHECKING:
    from engine.core.pool import Executor


class CacheSession(Protocol):
    """What the run loop asks of the cache, once per node."""

    def lookup(self, step: Step, values: Mapping[Any, Any]) -> tuple[Lazy | None, str]:
        """``(lazy value, why)`` on a hit, ``(None, why it must run)`` on a miss."""
        ...

    def save(self, step: Step, value: Any, seconds: float, reads: Iterable[str]) -> int:
        """Record a computed value; returns bytes stored."""
        ...

    def failed(self, step: Step) -> None: ...

    def tracking(self, step: Step) -> Any:
        """A context manager that records files the node opens, or ``None``."""
        ...

    def read_ignore(self, step: Step) -> tuple[str, ...] | None:
        """What a recorder of the node's reads in a worker leaves out (``None``: not recorded)."""
        ...

    def reload(self, name: str) -> Step | None:
        """A cached value failed to load: forget it and return the step to recompute."""
        ...

    def observe(self, name: str, value: Any) -> None:
        """Version a value the loop computed without ``lookup``/``store`` (fan-out items)."""
        ...

    def enter_item(self, expander: str, item: Any, index: int) -> None:
        """Following lookups are for one item of a fan-out (keys include the item's version).
        Executors that keep items elsewhere pass ``version=`` (the item's data version) instead."""
        ...

    def leave_items(self) -> None: ...

    def versions(self, name: str) -> tuple[str, str]:
        """``(code version, data version)`` of a node computed in this run, for events."""
        ...

    def remote(self) -> Any:
        """Optional: a dry copy for look-ahead and the picklable pieces for workers
        (``engine.caching.remote.RemoteSide``); without it a pool computes every fan-out item and
        Dask caches nothing it computes."""
        ...


# --------------------------------------------------------------------------------------------- running


_ABSENT = object()
T = TypeVar("T")


def _error_info(exc: BaseException) -> tuple[str, str, str]:
    """``redact.error_info``, imported by the first failure: a run in which nothing fails never loads it."""
    from engine.core.redact import error_info

    return error_info(exc)


def _call(fn: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[bool, Any, float]:
    """Run one node call (possibly in a worker); exceptions come back as data, with a trimmed traceback."""
    t0 = time.perf_counter()
    try:
        value = fn(**kwargs)
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything, SystemExit included
        seconds = time.perf_counter() - t0
        info = _error_info(exc)
        try:
            import pickle

            pickle.dumps(exc)
            carried: BaseException | None = exc
        except Exception:  # noqa: BLE001
            carried = None
        return False, (info, carried), seconds
    return True, value, time.perf_counter() - t0


def _call_tracked(fn: Callable[..., Any], kwargs: dict[str, Any],
                  ignore: tuple[str, ...] | None) -> tuple[bool, Any, float, list[str]]:
    """``_call`` in a pool worker, recording the files the node reads in that worker's thread."""
    if ignore is None:
        return (*_call(fn, kwargs), [])
    from engine.core.reads import ReadRecorder

    rec = ReadRecorder(ignore)
    with rec:
        result = _call(fn, kwargs)
    return (*result, rec.paths)


def _recorded(cache: CacheSession | None, step: Step, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` (a node's call, here in the driving process) inside the recorder of what
    it reads and runs, whose records the node's entry then holds (``cache.save`` takes them)."""
    tracker = cache.tracking(step) if cache is not None else None
    if tracker is None:
        return fn(*args, **kwargs)
    with tracker:
        return fn(*args, **kwargs)


class _Expand:
    """Runs a ``Parallelizable`` node to a list, so the items can cross a process boundary."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, **kwargs: Any) -> list[Any]:
        return list(self.fn(**kwargs))


def _checked(node: Node) -> Callable[..., Any]:
    if not node.checks:
        return node.fn
    from engine.core.checks import Checked

    return Checked(node.fn, node)


class _RunState:
    """Mutable state of one run, shared by the sequential loop and the pool scheduler."""

    def __init__(self, run_id: str, plan: Plan, values: dict[Any, Any], bus: ev.EventBus,
                 cache: CacheSession | None, checks: Callable[[Node, Any], None]) -> None:
        self.run_id = run_id
        self.plan = plan
        self.values = values
        self.bus = bus
        self.cache = cache
        self.checks = checks
        self.records: dict[str, NodeRecord] = {}
        #: wall-clock start of each node, for the timeline of the run history
        self.starts: dict[str, float] = {}
        self.bad: set[str] = set()
        self.first_error: BaseException | None = None
        self.failed_node: str | None = None
        self.cancelled = False
        self.fail_fast = False
        #: a hit is most nodes of a warm run: its event is built only when a listener takes it
        self.emits_cached = bool(bus) and bus.wants("node_cached")

    # -- events and records
    def emit(self, event: ev.Event) -> None:
        if self.bus:
            self.bus.emit(event)

    def started(self, name: str, task: str | None = None) -> None:
        self.starts.setdefault(name, time.time())
        if self.bus:
            self.bus.emit(ev.NodeStarted(self.run_id, time.time(), node=name, task=task))

    def finished(self, step: Step, value: Any, seconds: float, why: str, task: str | None = None,
                 reads: Iterable[str] = ()) -> None:
        nbytes = 0
        if self.cache is not None:
            nbytes = self.cache.save(step, value, seconds, reads)
        rec = self.records.get(step.name)
        if rec is not None and task is not None:
            rec.seconds += seconds
        else:
            self.records[step.name] = NodeRecord(step.name, ev.RAN, seconds, why, nbytes)
        if self.bus:
            versions = self.cache.versions(step.name) if self.cache is not None else ("", "")
            self.bus.emit(ev.NodeFinished(self.run_id, time.time(), node=step.name, seconds=seconds,
                                          bytes=nbytes, why=why, task=task, code_version=versions[0],
                                          data_version=versions[1]))

    def cached(self, step: Step, why: str, seconds: float = 0.0, lazy: Lazy | None = None) -> None:
        self.records[step.name] = NodeRecord(step.name, ev.CACHED, seconds, why)
        self.starts.setdefault(step.name, time.time() - seconds)
        if self.emits_cached:
            extra = {}
            if lazy is not None:
                extra = {"saved_seconds": lazy.saved_seconds, "bytes": lazy.bytes,
                         "code_version": lazy.code_version, "data_version": lazy.data_version}
            self.bus.emit(ev.NodeCached(self.run_id, time.time(), node=step.name, seconds=seconds, why=why,
                                        **extra))

    def failed(self, name: str, info: tuple[str, str, str], exc: BaseException | None, seconds: float,
               task: str | None = None) -> None:
        etype, msg, tb = info
        node = self.plan_node(name)
        msg, tb = self.redacted(node, etype, msg, tb, exc)
        self.records[name] = NodeRecord(name, ev.FAILED, seconds, error=msg, error_type=etype, traceback=tb)
        self.bad.add(name)
        if self.first_error is None:
            self.first_error = exc or RuntimeError(f"{etype}: {msg}")
            self.failed_node = name
        if self.cache is not None and node is not None:
            self.cache.failed(Step(node, ()))
        log.debug("node %s failed: %s: %s", name, etype, msg)
        if self.bus:
            self.bus.emit(ev.NodeFailed(self.run_id, time.time(), node=name, seconds=seconds, error=msg,
                                        error_type=etype, traceback=tb, file=node.file if node else "",
                                        line=node.line if node else 0, task=task))

    def redacted(self, node: Node | None, etype: str, msg: str, tb: str,
                 exc: BaseException | None) -> tuple[str, str]:
        """What of a failure may be kept (see :mod:`engine.core.redact`): type and location only for
        a sensitive node or one fed by a sensitive node, and no sensitive value's text anywhere."""
        from engine.core.redact import location_only, scrub, secret_texts

        sensitive = [n for n in {*(node.deps.values() if node is not None else ())}
                     if (dep := self.plan_node(n)) is not None and dep.sensitive]
        if node is not None and (node.sensitive or sensitive):
            return f"{etype} (message withheld: sensitive data)", location_only(exc, etype)
        known = [s.name for s in self.plan.steps if isinstance(s, Step) and s.node.sensitive]
        values = [v for n in known if (v := self.values.get(n, _ABSENT)) is not _ABSENT and type(v) is not Lazy]
        if values:
            secrets = secret_texts(values)
            msg, tb = scrub(msg, secrets), scrub(tb, secrets)
        return msg, tb

    def skipped(self, name: str, because: str) -> None:
        self.records[name] = NodeRecord(name, ev.SKIPPED, why=f"upstream {because} failed")
        self.bad.add(name)
        if self.bus:
            self.bus.emit(ev.NodeSkipped(self.run_id, time.time(), node=name, reason=f"upstream {because} failed"))

    def expander_failed(self, fan: FanOut, info: tuple[str, str, str], exc: BaseException | None,
                        seconds: float) -> None:
        """A fan-out whose expander failed: the nodes of its block never get items, so are skipped."""
        self.failed(fan.name, info, exc, seconds)
        for step in fan.block:
            self.skipped(step.name, fan.name)

    def stamped(self) -> dict[str, NodeRecord]:
        """The records with each node's start time filled in (records are made in several loops)."""
        for name, rec in self.records.items():
            if not rec.started:
                rec.started = self.starts.get(name, 0.0)
        return self.records

    def plan_node(self, name: str) -> Node | None:
        for s in self.plan.steps:
            if s.name == name:
                return s.expander.node if isinstance(s, FanOut) else s.node
            if isinstance(s, FanOut):
                for b in s.block:
                    if b.name == name:
                        return b.node
        return None

    def blocked_by(self, step: Step) -> str | None:
        if not self.bad:
            return None
        if self.fail_fast and self.failed_node is not None:
            return self.failed_node
        for _, src in step.args:
            key = src[0] if isinstance(src, tuple) else src
            if key in self.bad:
                return key
        return None

    # -- values
    def materialize(self, key: Any, table: dict[Any, Any] | None = None) -> Any:
        table = self.values if table is None else table
        v = table[key]
        if type(v) is Lazy:
            try:
                v = v.load()
            except Exception:  # noqa: BLE001 - damaged entry: recompute it, never fail the run for it
                step = self.cache.reload(key) if self.cache is not None else None
                if step is None:
                    raise
                kwargs = self.kwargs(step, table)
                ok, v, seconds = _recorded(self.cache, step, _call, step.node.fn, kwargs)
                if not ok:
                    (info, exc) = v
                    raise exc or RuntimeError(info[1]) from None
                self.finished(step, v, seconds, "cached value was damaged")
            table[key] = v
        return v

    def kwargs(self, step: Step, table: dict[Any, Any] | None = None) -> dict[str, Any]:
        return {p: self.materialize(s, table) for p, s in step.args}


def execute_plan(plan: Plan, values: dict[Any, Any], *, run_id: str, bus: ev.EventBus,
                 executor: Executor, cache: CacheSession | None = None,
                 checks: Callable[[Node, Any], None] | None = None, fail_fast: bool = False) -> RunResult:
    """Run ``plan`` with ``values`` holding the externals; returns outputs and per-node records.
    ``fail_fast``: after the first failure every node not started yet is skipped."""
    t0 = time.perf_counter()
    started = time.time()
    state = _RunState(run_id, plan, values, bus, cache, checks or _no_checks)
    state.fail_fast = fail_fast
    run_plan = getattr(executor, "run_plan", None)  # pools and Dask schedule the plan themselves
    if run_plan is None and executor.pool() is not None:
        from engine.errors import UsageError

        raise UsageError(f"executor {executor.name!r} has a pool but no run_plan(state); subclass "
                         "engine.core.pool.ThreadExecutor or ProcessExecutor.")
    try:
        if run_plan is not None:
            run_plan(state)
        else:
            _run_sequential(state)
    except KeyboardInterrupt as exc:
        state.cancelled = True
        # what finished before the interrupt, so the history records it (the cache already has it)
        exc.ripple_partial = RunResult(run_id, "cancelled", {}, state.stamped(),  # type: ignore[attr-defined]
                                       time.perf_counter() - t0, None, None, started)
        raise
    outputs: dict[str, Any] = {}
    if state.first_error is None:
        for name in plan.outputs:
            outputs[name] = state.materialize(name)
    status = "failed" if state.first_error is not None else "ok"
    return RunResult(run_id, status, outputs, state.stamped(), time.perf_counter() - t0, state.first_error,
                     state.failed_node, started)


def _no_checks(node: Node, value: Any) -> None:
    return None


def _run_sequential(state: _RunState) -> None:
    values = state.values
    cache = state.cache
    bus = state.bus
    records = state.records
    perf = time.perf_counter
    for step in state.plan.steps:
        if type(step) is FanOut:
            _run_fanout_inline(state, step)
            continue
        if state.bad:
            culprit = state.blocked_by(step)
            if culprit is not None:
                state.skipped(step.name, culprit)
                continue
        node = step.node
        why = ""
        if cache is not None:
            lazy, why = cache.lookup(step, values)
            if lazy is not None:
                values[step.name] = lazy
                state.cached(step, why, lazy=lazy)
                continue
        if bus:
            state.started(step.name)
        try:
            kwargs = {p: values[s] for p, s in step.args} if cache is None else state.kwargs(step)
        except Exception as exc:  # noqa: BLE001 - an upstream cached value could not be rebuilt
            state.failed(step.name, _error_info(exc), exc, 0.0)
            continue
        t = perf()
        try:
            value = _recorded(cache, step, node.fn, **kwargs)
            if node.checks:
                state.checks(node, value)
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything
            from engine.core.redact import real_interrupt

            if isinstance(exc, KeyboardInterrupt) and real_interrupt(exc):
                raise
            state.failed(step.name, _error_info(exc), exc,
                         perf() - t)
            continue
        seconds = perf() - t
        values[step.name] = value
        if cache is None and not bus:
            records[step.name] = NodeRecord(step.name, ev.RAN, seconds)
        else:
            state.finished(step, value, seconds, why)


def _run_fanout_inline(state: _RunState, fan: FanOut) -> None:
    values = state.values
    exp = fan.expander
    culprit = state.blocked_by(exp)
    if culprit is not None:
        for name in fan.nodes:
            state.skipped(name, culprit)
        return
    items: list[Any] | None = None
    if state.cache is not None:
        lazy, why = state.cache.lookup(exp, values)
        if lazy is not None:
            try:
                items = list(lazy.load())
                state.cached(exp, why, lazy=lazy)
            except Exception:  # noqa: BLE001 - damaged entry: run the expander instead
                items = None
    if items is None:
        state.started(exp.name)
        t = time.perf_counter()
        try:
            kwargs = state.kwargs(exp)  # the folder it lists, the file it splits: in its entry
            items = _recorded(state.cache, exp, _Expand(exp.node.fn), **kwargs)
        except Exception as exc:  # noqa: BLE001
            state.expander_failed(fan, _error_info(exc), exc, time.perf_counter() - t)
            return
        elapsed = time.perf_counter() - t
        why = f"{len(items)} items"
        if state.cache is not None:
            state.finished(exp, items, elapsed, why)
        else:
            state.records[exp.name] = NodeRecord(exp.name, ev.RAN, elapsed, why)
            if state.bus:
                state.emit(ev.NodeFinished(state.run_id, time.time(), node=exp.name, seconds=elapsed, why=why))
    per_item: dict[str, list[Any]] = {s.name: [] for s in fan.block}
    seconds: dict[str, float] = dict.fromkeys(per_item, 0.0)
    hits: dict[str, int] = dict.fromkeys(per_item, 0)
    cache = state.cache
    from engine.core.items import settle_item  # lazy: a run without fan-outs never loads it

    for i, item in enumerate(items):
        local: Any = ChainMap({exp.name: item}, values)
        if cache is not None:
            cache.enter_item(exp.name, item, i)
        for step in fan.block:
            if settle_item(state, step, local, per_item, hits):
                continue
            task = f"{exp.name}[{i}]"
            state.started(step.name, task)
            t = time.perf_counter()
            try:
                kwargs = {p: state.materialize(s, local) for p, s in step.args}
                value = _recorded(cache, step, step.node.fn, **kwargs)  # each item's own records
                if step.node.checks:  # @check_output applies per item inside a fan-out too
                    state.checks(step.node, value)
            except Exception as exc:  # noqa: BLE001
                from engine.core.redact import user_traceback

                state.failed(step.name, (type(exc).__name__, f"item {i}: {exc}", user_traceback(exc)), exc,
                             time.perf_counter() - t, task)
                continue
            elapsed = time.perf_counter() - t
            seconds[step.name] += elapsed
            local[step.name] = value
            per_item[step.name].append(value)
            if cache is not None:
                cache.save(step, value, elapsed, ())
    if cache is not None:
        cache.leave_items()
    _finish_fanout(state, fan, items, per_item, seconds, hits)


def _finish_fanout(state: _RunState, fan: FanOut, items: list[Any], per_item: dict[str, list[Any]],
                   seconds: dict[str, float], hits: dict[str, int] | None = None,
                   wrap: Callable[[list[Any]], Any] | None = None) -> None:
    """``wrap``: how an executor that keeps values elsewhere holds a node's per-item values."""
    values = state.values
    values[(fan.name,)] = items
    for step in fan.block:
        if step.name in state.bad:
            continue
        got = per_item[step.name]
        if wrap is not None:
            got = wrap(got)
        elif any(type(v) is Lazy for v in got):
            got = Lazy(_load_all, arg=got)  # type: ignore[assignment]
        values[step.name] = values[(step.name,)] = got
        n_hit = (hits or {}).get(step.name, 0)
        if state.cache is not None:
            state.cache.observe(step.name, per_item[step.name])
        if items and n_hit == len(items):
            state.cached(step, f"all {len(items)} items cached")
            continue
        why = f"{len(items) - n_hit} of {len(items)} items ran" if n_hit else f"{len(items)} items"
        state.records[step.name] = NodeRecord(step.name, ev.RAN, seconds[step.name], why)
        if state.bus:
            state.emit(ev.NodeFinished(state.run_id, time.time(), node=step.name, seconds=seconds[step.name],
                                       why=why))


def _load_all(items: list[Any]) -> list[Any]:
    return [v.load() if type(v) is Lazy else v for v in items]


