"""The Dask executor: nodes and fan-out batches run as tasks on a ``dask.distributed`` cluster.

What stays in the driving process: the plan, every cache decision (a hit never becomes a task), the
events, the records and the run history. What stays on the cluster: the values. A task's inputs are
the futures of its upstream tasks, so results move worker to worker; a hit some task needs is loaded
by that task from the store; a computed value is versioned and written to the store by the task that
computed it (a ``Storer`` the cache session hands out, see ``engine.caching.remote``) — so the store
directory must be a path every worker can reach. Only the values the caller asked for are gathered.

Each node costs two tasks: the node itself (its result stays on the worker) and a tiny one reading
its metadata (status, seconds, data version, bytes stored, error) on the same worker, which is all
the driving process waits for. ``dask`` is imported only when a run starts.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import events as ev
from engine.core.dask_tasks import (
    INPUTS,
    Sealed,
    _error,
    _prepare_worker,
    batch_task,
    gather_task,
    meta_of,
    node_task,
    pack,
    run_packed,
    store_task,
)
from engine.core.execute import (
    _checked,
    _Expand,
    _RunState,
)
from engine.core.plan import FanOut, Step
from engine.core.run_records import Lazy, NodeRecord
from engine.core.scheduler import (
    Replay,
    UnitRun,
    batches,
    block_spec,
    predict_items,
    replay_items,
)
from engine.errors import UsageError
from engine.files import in_library


class DaskExecutor:
    """Runs on the Dask scheduler at ``address``, or on a ``LocalCluster`` it starts (and keeps for
    the next runs of the same driver; ``shutdown()`` stops it, so does interpreter exit)."""

    name = "dask"

    def __init__(self, address: str | None = None, *, workers: int | None = None, client: Any = None,
                 timeout: float = 10.0) -> None:
        self.address = address
        self.workers = workers
        self.timeout = timeout
        self._client = client
        self._cluster: Any = None
        self.dashboard_link = ""
        #: tasks submitted by the last run (a fully cached run submits none)
        self.submitted = 0

    def pool(self) -> None:
        return None

    def client(self) -> Any:
        if self._client is None:
            try:
                from distributed import Client, LocalCluster
            except ImportError:
                raise UsageError("the dask executor needs dask.distributed; install it with "
                                 "pip install 'ripple[dask]'.") from None
            if self.address:
                try:
                    self._client = Client(self.address, set_as_default=False, timeout=self.timeout)
                except Exception as exc:  # noqa: BLE001 - refused, timed out (several kinds), not an address
                    raise UsageError(f"cannot reach the Dask scheduler at {self.address} ({exc}); start one "
                                     "(`dask scheduler`) or use --executor dask for a local cluster.") from None
            else:
                self._cluster = LocalCluster(n_workers=self.workers or 2, threads_per_worker=1, processes=True,
                                             dashboard_address=":0")
                self._client = Client(self._cluster, set_as_default=False)
        if not self.dashboard_link:
            self.dashboard_link = getattr(self._client, "dashboard_link", "") or ""
        return self._client

    def run_plan(self, state: _RunState) -> None:
        client = self.client()
        if self.dashboard_link:
            state.emit(ev.Message(state.run_id, time.time(), level="info",
                                  text=f"Dask dashboard: {self.dashboard_link}"))
        _prepare_workers(client, state)
        run = _DaskRun(state, client)
        try:
            run.loop()
        finally:
            self.submitted = run.submitted

    def close(self) -> None:
        """End of one run: the cluster stays up for the next one."""

    def shutdown(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _prepare_workers(client: Any, state: _RunState) -> None:
    paths: set[str] = set()
    packages: set[str] = set()
    for s in state.plan.steps:
        for step in ([s.expander, *s.block] if isinstance(s, FanOut) else [s]):
            module = getattr(step.node.origin, "__module__", None) or ""
            file = getattr(sys.modules.get(module), "__file__", None)
            if not file or in_library(file) or module.startswith("engine."):
                continue
            root = Path(file).resolve().parent
            for _ in range(module.count(".") + (Path(file).name == "__init__.py")):
                root = root.parent
            paths.add(str(root))
            packages.add(module.split(".")[0])
    if packages:
        client.run(_prepare_worker, sorted(paths), sorted(packages))


# ----------------------------------------------------------------------------------- driver side


class Ref:
    """Where a value lives on the cluster: an argument for the next task, never fetched on its own."""

    __slots__ = ("arg",)

    def __init__(self, *arg: Any) -> None:
        self.arg = arg


class RemoteList(list):
    """A fan-out node's per-item values, some on workers, some in the store."""


class _DaskRun(UnitRun):
    def __init__(self, state: _RunState, client: Any) -> None:
        from distributed import Future, as_completed

        super().__init__(state)
        self.client = client
        self.done = as_completed(loop=client.loop)
        self.is_future = lambda o: isinstance(o, Future)
        self.submitted = 0
        #: nodes run again after their cached inputs were rebuilt here
        self.retries: set[int] = set()
        #: futures whose values later tasks still read (cancelled with the rest on Ctrl-C)
        self.held: list[Any] = []
        info = client.scheduler_info()
        self.slots = max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
        cache = state.cache
        #: the session's side for remote work (``None`` without a cache, or a session without one)
        self.remote = cache.remote() if cache is not None and hasattr(cache, "remote") else None
        self.fingerprint = self.remote.fingerprinter() if self.remote is not None else None

    # -- submitting
    def task(self, fn: Callable[..., Any], *args: Any, name: str) -> Any:
        self.submitted += 1
        packed, refs = pack(fn, args, self.is_future)
        return self.client.submit(run_packed, packed, *refs, key=f"{name}-{uuid.uuid4().hex[:12]}", pure=False)

    def watch(self, fut: Any, i: int, what: str, ctx: Any = None) -> None:
        self.running[fut] = (i, what, ctx)
        self.done.add(fut)

    def arg(self, value: Any) -> tuple:
        if isinstance(value, Ref):
            return value.arg
        if type(value) is Lazy:
            load = self.remote.loader(value) if self.remote is not None else None
            return ("l", load) if load is not None else ("v", value.load())
        if isinstance(value, RemoteList) or (isinstance(value, list) and value and isinstance(value[0], Ref)):
            return ("g", self.segments(value))
        return ("v", value)

    def segments(self, values: list[Any]) -> list[tuple]:
        """A list argument with one future per run of values from the same task, not one per item."""
        segs: list[tuple] = []
        for v in values:
            kind = v.arg[0] if isinstance(v, Ref) else ""
            if kind in ("c", "i"):
                seg_kind, where = kind + "s", (v.arg[2], v.arg[3]) if kind == "c" else v.arg[2]
                if segs and segs[-1][0] == seg_kind and segs[-1][1] is v.arg[1]:
                    segs[-1][2].value.append(where)
                else:
                    segs.append((seg_kind, v.arg[1], Sealed([where])))
            elif segs and segs[-1][0] == "as":
                segs[-1][1].value.append(self.arg(v))
            else:
                segs.append(("as", Sealed([self.arg(v)])))
        return segs

    def loop(self) -> None:
        try:
            while self.ready or self.running:
                while self.ready:
                    self.submit(self.ready.pop(0))
                if not self.running:
                    continue
                fut = next(self.done)
                i, what, ctx = self.running.pop(fut)
                getattr(self, f"{what}_done")(i, fut, ctx)
            self.gather_outputs()
        except KeyboardInterrupt:
            outs = [ctx[0] if isinstance(ctx, tuple) else ctx for _i, _what, ctx in self.running.values()]
            self.client.cancel([f for f in (*self.running, *outs, *self.held) if self.is_future(f)], force=True)
            raise

    def start_cached_items(self, i: int, items: list[Any]) -> None:
        self.start_items(i, len(items), items, None, None)

    def submit(self, i: int) -> None:
        todo = self.settle(i)
        if todo is None:
            return None
        step, why = todo
        self.state.started(step.name)
        self.launch(i, step, isinstance(self.steps[i], FanOut), why)
        return None

    def launch(self, i: int, step: Step, fan: bool, why: str) -> None:
        state, cache = self.state, self.state.cache
        args = {p: self.arg(state.values[src]) for p, src in step.args}
        storer = self.remote.storer(step) if self.remote is not None else None
        ignore = cache.read_ignore(step) if cache is not None else None  # an expander's reads too
        fn = _Expand(step.node.fn) if fan else _checked(step.node)
        out = self.task(node_task, fn, args, storer, ignore, fan,
                        self.fingerprint if fan else None, name=step.name)
        self.watch(self.task(meta_of, out, name=f"{step.name}-meta"), i, "expand" if fan else "node", (out, why))

    def retried(self, i: int, step: Step, fan: bool, why: str, extra: Any) -> bool:
        """A cached input could not be loaded on the worker (damaged): rebuild it here, as the
        sequential loop would (the session forgets the entry and recomputes), and run the node again."""
        if extra != INPUTS or i in self.retries:
            return False
        self.retries.add(i)
        state = self.state
        try:
            for _p, src in step.args:
                if type(state.values.get(src)) is Lazy:
                    state.values[src] = state.materialize(src)
        except Exception:  # noqa: BLE001 - could not be rebuilt either: the node fails with the worker's error
            return False
        self.launch(i, step, fan, why)
        return True

    # -- completions
    def _meta(self, fut: Any) -> tuple:
        try:
            return fut.result()
        except Exception as exc:  # noqa: BLE001 - the task could not run at all (pickling, a lost worker)
            return (False, 0.0, [], None, _error(exc), None)

    def node_done(self, i: int, fut: Any, ctx: tuple) -> None:
        out, why = ctx
        state, step = self.state, self.steps[i]
        ok, seconds, reads, receipt, err, extra = self._meta(fut)
        if not ok and self.retried(i, step, False, why, extra):
            return
        if not ok:
            info, exc = err
            state.failed(step.name, info, exc, seconds)
            out.release()
        else:
            self.held.append(out)
            state.values[step.name] = Ref("f", out)
            finished_remote(state, self.remote, step, receipt, seconds, why)
        self.complete(i)

    def expand_done(self, i: int, fut: Any, ctx: tuple) -> None:
        out, why = ctx
        state, fan = self.state, self.steps[i]
        ok, seconds, reads, receipt, err, fps = self._meta(fut)
        if not ok and self.retried(i, fan.expander, True, why, fps):
            return
        if not ok:
            state.expander_failed(fan, *err, seconds)
            return self.complete(i)
        self.held.append(out)
        n = len(fps) if isinstance(fps, list) else int(fps or 0)
        finished_remote(state, self.remote, fan.expander, receipt, seconds, f"{n} items")
        versions = fps.__getitem__ if isinstance(fps, list) and state.cache is not None else None
        state.values[fan.name] = Ref("f", out)
        return self.start_items(i, n, None, out, versions)

    def start_items(self, i: int, n: int, items: list[Any] | None, out: Any,
                    version_at: Callable[[int], str | None] | None) -> None:
        """``items`` are here (a cached expander) or in the expander task's result ``out``."""
        state, fan = self.state, self.steps[i]
        item_at = items.__getitem__ if items is not None else (lambda k: None)
        work = predict_items(state, fan, n, item_at, version_at)
        outer = {src: self.arg(state.values[src]) for b in fan.block for _, src in b.args
                 if not isinstance(src, tuple) and src in state.values}
        cut = batches(work, self.slots)
        self.fans[i] = {"n": n, "items": items, "out": out, "version_at": version_at,
                        "results": {}, "left": len(cut), "stores": 0}
        if cut:
            for b in fan.block:
                state.started(b.name, f"{fan.name}[*]")
        spec = block_spec(fan, state.cache)
        for chunk in cut:
            jobs = Sealed([(w.index, item_at(w.index), w.todo, {m: self.arg(v) for m, v in w.hits.items()})
                           for w in chunk])
            bout = self.task(batch_task, spec, fan.name, outer, ("f", out) if items is None else ("v", None), jobs,
                             self.fingerprint, name=f"{fan.name}-batch")
            self.held.append(bout)
            self.watch(self.task(meta_of, bout, name=f"{fan.name}-batch-meta"), i, "batch", bout)
        if not cut:
            self.finish_items(i)

    def batch_done(self, i: int, fut: Any, out: Any) -> None:
        fs = self.fans[i]
        try:
            meta = fut.result()
        except Exception as exc:  # noqa: BLE001 - the batch could not run (pickling, a lost worker)
            meta = {}
            self.state.failed(self.steps[i].block[0].name, _error(exc)[0], None, 0.0)
        for k, per in meta.items():
            fs["results"][k] = {pos: (ok, err if not ok else Ref("c", out, k, pos), secs, dv, reads)
                                for pos, (ok, err, secs, dv, reads) in per.items()}
        fs["left"] -= 1
        if fs["left"] == 0:
            self.finish_items(i)

    def finish_items(self, i: int) -> None:
        fs = self.fans[i]
        state = self.state
        jobs: dict[Any, list[tuple]] = {}

        def save(step: Step, k: int, pos: int, r: tuple) -> None:
            _ok, ref, secs, dv, reads = r
            storer = self.remote.storer(step)
            self.remote.saved(step, None, secs, data_version=dv)
            if dv is not None and storer.writes:
                jobs.setdefault(ref.arg[1], []).append((k, pos, storer, secs, dv, reads))

        replay_items(state, self.steps[i], fs["n"], fs["results"],
                     Replay(value=lambda k, pos, r: r[1], save=save, item=_item_ref(fs), version_at=fs["version_at"]),
                     wrap=RemoteList)
        for out, batch in jobs.items():
            fs["stores"] += 1
            self.watch(self.task(store_task, out, Sealed(batch), name=f"{self.steps[i].name}-store"), i, "stored")
        if not fs["stores"]:
            self.fans.pop(i)
            self.complete(i)

    def stored_done(self, i: int, fut: Any, _ctx: Any) -> None:
        fs = self.fans[i]
        try:
            receipts = fut.result()
        except Exception as exc:  # noqa: BLE001 - the values stay valid for this run; only caching failed
            receipts = []
            self.state.emit(ev.Message(self.state.run_id, time.time(), level="warning",
                                       text=f"fan-out results of {self.steps[i].name} were not cached: {exc}"))
        for receipt in receipts:
            self.remote.stored(receipt)
        fs["stores"] -= 1
        if not fs["stores"]:
            self.fans.pop(i)
            self.complete(i)

    def gather_outputs(self) -> None:
        """Only the requested outputs come to the driving process."""
        state = self.state
        if state.first_error is not None:
            return
        wanted = [n for n in state.plan.outputs if isinstance(state.values.get(n), Ref | RemoteList)]
        futs = [self.task(gather_task, self.arg(state.values[n]), name=f"{n}-gather") for n in wanted]
        for name, value in zip(wanted, self.client.gather(futs)):
            state.values[name] = value


def _item_ref(fs: dict[str, Any]) -> Callable[[int], Any]:
    items, out = fs["items"], fs["out"]
    return items.__getitem__ if items is not None else (lambda k: Ref("i", out, k))


def finished_remote(state: _RunState, remote: Any, step: Step, receipt: Any, seconds: float, why: str) -> None:
    """``_RunState.finished`` for a value that stayed on a worker: the session records the receipt."""
    cache = state.cache
    nbytes = remote.saved(step, receipt, seconds) if remote is not None and receipt is not None else 0
    state.records[step.name] = NodeRecord(step.name, ev.RAN, seconds, why, nbytes)
    if state.bus:
        versions = cache.versions(step.name) if cache is not None else ("", "")
        state.bus.emit(ev.NodeFinished(state.run_id, time.time(), node=step.name, seconds=seconds, bytes=nbytes,
                                       why=why, code_version=versions[0], data_version=versions[1]))


__all__ = ["DaskExecutor"]
