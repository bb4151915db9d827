"""Whole-process A/B of two checkouts: one script run alternately against each, paired.

Why paired: this machine's whole-process times drift by several ms within minutes, more than most
single changes move them; running A and B back to back, swapping which goes first each round, and
taking the median of the differences cancels the drift that separate medians would report.

    git worktree add /tmp/base HEAD~3 && python -m compileall -q /tmp/base/engine
    python bench/bench_ab.py SCRIPT /tmp/base . --rounds 41

SCRIPT is run as ``python SCRIPT`` with ``PYTHONPATH`` set to each checkout (so ``import engine``
imports that tree's) and bytecode caches on, after two warm-up runs per side. It should do one
thing a user waits for, e.g. a warm ``Driver(...).with_cache(store).execute([...])``.

``--printed``: compare what SCRIPT measures itself instead of the whole process: the ``name value``
pairs (milliseconds) on the last line it writes to stderr, e.g. ``first_node 91.7 exec 144.4``, each
paired as the wall time is. In-process timings of one phase drift far less than a whole process.
"""

from __future__ import annotations

import argparse
import os
import re
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
    ap.add_argument("--printed", action="store_true", help="pair the timings SCRIPT prints (see above)")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def run(tree: str) -> dict[str, float]:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, args.script], env={**env, "PYTHONPATH": os.path.abspath(tree)},
                             check=True, capture_output=True, text=True)
        if not args.printed:
            return {"process": (time.perf_counter() - t) * 1e3}
        last = (out.stderr.strip().splitlines() or [""])[-1]
        return {k: float(v) for k, v in re.findall(r"([A-Za-z_][\w.]*) (-?[\d.]+)", last)}

    for tree in (args.a, args.b):
        run(tree)
        run(tree)
    got: dict[str, list[dict[str, float]]] = {args.a: [], args.b: []}
    for i in range(args.rounds):
        for tree in (args.a, args.b) if i % 2 == 0 else (args.b, args.a):
            got[tree].append(run(tree))
    for name in got[args.a][0]:
        a = [r[name] for r in got[args.a]]
        b = [r[name] for r in got[args.b]]
        diffs = [y - x for x, y in zip(a, b)]
        print(f"{name}: A {statistics.median(a):.1f} ms  B {statistics.median(b):.1f} ms  "
              f"B-A median of {args.rounds} pairs {statistics.median(diffs):+.2f} ms")

if __name__ == "__main__":
    main()
