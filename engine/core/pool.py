from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol

from engine.errors import UsageError

if TYPE_CHECKING:
    from concurrent import futures as cf  # imported by the pools that use it: sequential runs never do


class Executor(Protocol):
    """Runs node calls somewhere: ``run_plan(state)`` schedules the plan (the pools and Dask have
    one); without it the plan runs inline in this thread (``pool()`` is then ``None``)."""

    name: str

    def pool(self) -> cf.Executor | None: ...

    def close(self) -> None: ...


class SequentialExecutor:
    name = "sequential"

    def pool(self) -> None:
        return None

    def close(self) -> None:
        pass


class _PoolExecutor:
    """A ``concurrent.futures`` pool run by the dependency-counting scheduler (``engine.core.scheduler``)."""

    name = ""
    workers = 1

    def pool(self) -> cf.Executor:
        raise NotImplementedError

    def run_plan(self, state: Any) -> None:
        from engine.core.scheduler import run_pool

        run_pool(state, self.pool(), self.name == "processes", self.workers)


class ThreadExecutor(_PoolExecutor):
    name = "threads"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool: cf.ThreadPoolExecutor | None = None

    def pool(self) -> cf.Executor:
        if self._pool is None:
            from concurrent import futures as cf

            self._pool = cf.ThreadPoolExecutor(self.workers, thread_name_prefix="ripple")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class ProcessExecutor(_PoolExecutor):
    """Nodes run in worker processes; values and node functions must pickle (module-level functions do)."""

    name = "processes"

    def __init__(self, workers: int | None = None, *, start_method: str | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        #: ``fork`` where the platform has it, else ``spawn`` (macOS, Windows); tests force ``spawn``
        self.start_method = start_method
        self._pool: cf.ProcessPoolExecutor | None = None

    def pool(self) -> cf.Executor:
        if self._pool is None:
            import multiprocessing as mp
            from concurrent import futures as cf

            from engine.core.reads import probe_modules

            method = self.start_method or ("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context(method),
                                                initializer=_init_worker, initargs=(probe_modules(),))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _init_worker(probe_modules: list[str]) -> None:
    """Workers leave Ctrl-C to the parent, which cancels the run (no traceback per worker), and
    register the parent's read probes (code tracing): a spawned worker starts with none, and
    without them what a node ran there would go unrecorded."""
    import importlib
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in probe_modules:
        importlib.import_module(name)


def make_executor(spec: str | Executor | None, **options: Any) -> Executor:
    """``sequential``, ``threads[:N]``, ``processes[:N]``, ``dask[:N]`` (a local cluster of N workers)
    or ``dask=ADDRESS``; ``options``: ``address=`` / ``client=`` for Dask."""
    if spec is None or spec in ("sequential", "local", "inline"):
        return SequentialExecutor()
    if not isinstance(spec, str):
        return spec
    name, _, n = spec.partition(":")
    workers = int(n) if n.isdigit() else None
    if name in ("threads", "thread"):
        return ThreadExecutor(workers)
    if name in ("processes", "process"):
        return ProcessExecutor(workers)
    if name == "dask" or spec.startswith("dask="):
        from engine.core.dask import DaskExecutor

        _, _, address = spec.partition("=")
        return DaskExecutor(options.get("address") or address or None, workers=workers, client=options.get("client"))
    raise UsageError(f"unknown executor {spec!r}; use sequential, threads[:N], processes[:N] or dask[=ADDRESS].")
