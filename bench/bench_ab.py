"""Whole-process A/B of two checkouts: one script run alternately against each, paired.

Why paired: this machine's whole-process times drift by several ms within minutes, more than most
single changes move them; running A and B back to back, swapping which goes first each round, and
taking the median of the differences cancels the drift that separate medians would report.

    git worktree add /tmp/base HEAD~3 && python -m compileall -q /tmp/base/engine
    python bench/bench_ab.py SCRIPT /tmp/base . --rounds 41

SCRIPT is run as ``python SCRIPT`` with ``PYTHONPATH`` set to each checkout (so ``import engine``
imports that tree's) and bytecode caches on, after two warm-up runs per side. It should do one
thing a user waits for, e.g. a warm ``Driver(...).with_cache(store).execute([...])``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("script")
    ap.add_argument("a", help="checkout A (the baseline)")
    ap.add_argument("b", help="checkout B")
    ap.add_argument("--rounds", type=int, default=21)
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def run(tree: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, args.script], env={**env, "PYTHONPATH": os.path.abspath(tree)}, check=True,
                       capture_output=True)
        return time.perf_counter() - t

    for tree in (args.a, args.b):
        run(tree)
        run(tree)
    times: dict[str, list[float]] = {args.a: [], args.b: []}
    for i in range(args.rounds):
        for tree in (args.a, args.b) if i % 2 == 0 else (args.b, args.a):
            times[tree].append(run(tree))
    diffs = [b - a for a, b in zip(times[args.a], times[args.b])]
    print(f"A {statistics.median(times[args.a]) * 1e3:.1f} ms  B {statistics.median(times[args.b]) * 1e3:.1f} ms  "
          f"B-A median of {args.rounds} pairs {statistics.median(diffs) * 1e3:+.2f} ms")


if __name__ == "__main__":
    main()
