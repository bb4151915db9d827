"""What the honest plan and the run-to-run explanations cost (not run as tests).

Why: ``ripple run`` now asks for the predictions before every run (to compare plan and outcome),
and the first miss of a run reads the node's previous run from the history. Both sit on paths the
warm-cache benchmarks guard, so they are measured per node here, on a real store in a temp dir.

    python bench/bench_analysis.py                  # N = 1000 and 5000, a chain of small nodes
    python bench/bench_analysis.py --n 1000 --history 50
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _module(root: Path, n: int) -> str:
    name = f"bench_analysis_{n}"
    lines = ["def n0(x: int) -> int:\n    return x\n"]
    lines += [f"def n{i}(n{i - 1}: int) -> int:\n    return n{i - 1} + 1\n" for i in range(1, n)]
    (root / f"{name}.py").write_text("\n".join(lines))
    return name


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(n: int, history: int, repeats: int) -> dict[str, float]:
    from engine import Driver
    from engine.caching import explain

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sys.path.insert(0, tmp)
        mod = importlib.import_module(_module(root, n))
        dr = Driver({}, mod).with_cache(root / "store")
        final = [f"n{n - 1}"]
        dr.execute(final, inputs={"x": 1})
        for _ in range(history - 1):
            dr.execute(final, inputs={"x": 1})
        plan = _best(lambda: dr.plan(final, inputs={"x": 1}), repeats)
        dr.plan_events = False
        quiet = _best(lambda: dr.run(final, inputs={"x": 1}), repeats)
        dr.add_listener(lambda e: None)  # `ripple run` listens, so every event is built and delivered
        listened = _best(lambda: dr.run(final, inputs={"x": 1}), repeats)
        dr.plan_events = True  # ... and now asks for the predictions too
        planned = _best(lambda: dr.run(final, inputs={"x": 1}), repeats)
        nodes = list(dr.graph.order)
        prev = _best(lambda: explain.previous_records(dr.cache.store, nodes, pipeline=dr.pipeline_name), repeats)
        dr.cache.close()
        sys.path.remove(tmp)
    us = 1e6 / n
    return {"plan": plan * us, "run_quiet": quiet * us, "run_listened": listened * us, "run_planned": planned * us,
            "previous": prev * us}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, action="append")
    ap.add_argument("--history", type=int, default=20, help="runs recorded before measuring (default 20)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print("µs per node; warm store; chain of N nodes; history of --history runs")
    print(f"{'N':>6} {'plan()':>9} {'run':>9} {'+listener':>10} {'+predictions':>13} {'prev-run read':>14}")
    for n in args.n or [1000, 5000]:
        r = measure(n, args.history, args.repeats)
        print(f"{n:>6} {r['plan']:>9.1f} {r['run_quiet']:>9.1f} {r['run_listened']:>10.1f} {r['run_planned']:>13.1f} "
              f"{r['previous']:>14.1f}")


if __name__ == "__main__":
    main()
