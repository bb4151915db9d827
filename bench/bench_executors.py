"""Executors side by side: sequential vs process pool vs a Dask LocalCluster (2 workers).

Two questions:

1. **Speed-up on CPU-bound work**: 8 independent heavy nodes (pure-Python arithmetic, ~0.5 s each),
   first run (all misses, every value stored) on each executor; the ratio to sequential is the
   figure that matters (the machine has ``os.cpu_count()`` cores; 2 on CI).
2. **Per-item overhead of a fan-out**: 10,000 trivial items (``x + 1``) gathered by a ``Collect``
   node, cold (every item runs and is stored) and warm (every item hits), per item, on each
   executor. Items are sent in batches, so this is µs per item, not a task round trip per item.

Run: ``python bench/bench_executors.py`` (``--quick`` for fewer repetitions).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HEAVY = textwrap.dedent('''
    from engine import parameterize, value

    @parameterize(**{f"heavy_{i}": {"seed": value(i)} for i in range(8)})
    def heavy(seed: int, n: int = 6_000_000) -> int:
        """CPU-bound: a few hundred ms of pure-Python arithmetic, no I/O, no GIL release."""
        acc = seed
        for i in range(n):
            acc = (acc * 1_103_515_245 + i) % 2_147_483_648
        return acc
''')

FANOUT = textwrap.dedent('''
    from engine import Collect, Parallelizable

    def item(n_items: int) -> Parallelizable[int]:
        yield from range(n_items)

    def plus_one(item: int) -> int:
        return item + 1

    def total(plus_one: Collect[int]) -> int:
        return sum(plus_one)
''')

EXECUTORS = ("sequential", "processes:2", "dask")


def _module(folder: Path, name: str, source: str) -> object:
    import importlib

    (folder / f"{name}.py").write_text(source)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    return importlib.import_module(name)


def _driver(mod: object, spec: str, address: str, cache: Path) -> object:
    from engine import Driver

    dr = Driver({}, mod)
    dr.plan_events = False
    if spec == "dask":
        dr.with_executor("dask", address=address)
    else:
        dr.with_executor(spec)
    return dr.with_cache(cache)


def bench_heavy(mod: object, address: str, work: Path, reps: int) -> dict[str, float]:
    outputs = [f"heavy_{i}" for i in range(8)]
    best: dict[str, float] = {}
    expected = None
    for spec in EXECUTORS:
        times = []
        for r in range(reps):
            cache = work / f"heavy-{spec.replace(':', '')}-{r}"
            dr = _driver(mod, spec, address, cache)
            t = time.perf_counter()
            out = dr.execute(outputs)
            times.append(time.perf_counter() - t)
            expected = expected or out
            assert out == expected, f"{spec} computed different results"
            dr.executor.close()
            shutdown = getattr(dr.executor, "shutdown", None)
            if shutdown:
                shutdown()
            dr.cache.close()
            shutil.rmtree(cache)
        best[spec] = min(times)
    return best


def bench_items(mod: object, address: str, work: Path, n: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for spec in EXECUTORS:
        cache = work / f"items-{spec.replace(':', '')}"
        dr = _driver(mod, spec, address, cache)
        t = time.perf_counter()
        total = dr.execute(["total"], inputs={"n_items": n})["total"]
        cold = time.perf_counter() - t
        assert total == n * (n + 1) // 2
        warm_runs = []
        for _ in range(3):
            t = time.perf_counter()
            result = dr.run(["total"], inputs={"n_items": n})
            warm_runs.append(time.perf_counter() - t)
            assert result.records["plus_one"].status == "cached", result.records["plus_one"]
        shutdown = getattr(dr.executor, "shutdown", None)
        if shutdown:
            shutdown()
        dr.cache.close()
        out[spec] = (cold / n * 1e6, statistics.median(warm_runs) / n * 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--items", type=int, default=10_000)
    args = ap.parse_args()
    from distributed import LocalCluster

    work = Path(tempfile.mkdtemp(prefix="ripple-bench-exec-"))
    try:
        heavy = _module(work, "bench_exec_heavy", HEAVY)
        fan = _module(work, "bench_exec_fanout", FANOUT)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
            address = cluster.scheduler_address
            best = bench_heavy(heavy, address, work, 1 if args.quick else 3)
            items = bench_items(fan, address, work, args.items)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"cores: {os.cpu_count()}")
    print("8 independent CPU-heavy nodes, first run (best of reps):")
    for spec, t in best.items():
        print(f"  {spec:<12} {t:6.2f} s   speed-up x{best['sequential'] / t:4.2f}")
    print(f"{args.items:,} trivial fan-out items, per item (cold: all run and stored; warm: all hit):")
    for spec, (cold, warm) in items.items():
        print(f"  {spec:<12} cold {cold:7.1f} µs/item   warm {warm:6.1f} µs/item")


if __name__ == "__main__":
    main()
