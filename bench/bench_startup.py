"""Where a warm run's share goes, phase by phase, in new processes: ``import engine``, building the
graph, ``with_cache()`` split into importing the cache modules and opening the store, ``execute``,
closing, and the interpreter's teardown (a normal exit minus ``os._exit`` after the same work; it is
the final garbage collections over every live object, so it grows with what the run keeps).

Each phase is timed with ``time.perf_counter`` inside a fresh ``python`` (bytecode caches warm,
the store warm), median of ``--repeat``; the teardown from whole-process wall times.

    python bench/bench_startup.py                 # lattice of 1,000 nodes
    python bench/bench_startup.py --n 10000 --repeat 9
    python bench/bench_startup.py --history 20    # the store first holds 20 versions of every node

``--history K``: every node's body also reads a module constant, which is set to 1 .. K with a run
after each, so the store holds K entries per node (a project's weeks of edits) when the warm runs
of version K are timed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_process import _age, lattice, run_python  # noqa: E402 - the sibling bench's helpers

PHASES = ("import engine", "build graph", "import cache", "open store", "execute", "close")

CHILD = """
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, {dir!r})
import {mod} as m
t1 = time.perf_counter()
import engine
from engine import Driver
t2 = time.perf_counter()
d = Driver({{}}, m)
t3 = time.perf_counter()
import engine.caching.cache
t4 = time.perf_counter()
d.with_cache({store!r})
t5 = time.perf_counter()
d.execute([{final!r}])
t6 = time.perf_counter()
d.cache.close()
t7 = time.perf_counter()
print(*(round((b - a) * 1e3, 3) for a, b in zip((t1, t2, t3, t4, t5, t6), (t2, t3, t4, t5, t6, t7))))
if {hard_exit!r}:
    import os
    sys.stdout.flush()
    os._exit(0)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--history", type=int, default=0, help="versions of every node stored before the timed runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ripple-bench-startup-") as tmp:
        folder = Path(tmp)
        source, final, _ = lattice(args.n)
        if args.history:
            source = "V = {v}\n\n\n" + re.sub(r"(\n    return [^\n]*)", r"\1 + 0 * V", source)
        path = folder / f"lattice_{args.n}.py"

        def code(hard_exit: bool) -> str:
            return CHILD.format(dir=str(folder), mod=path.stem, store=str(folder / "store"), final=final,
                                hard_exit=hard_exit)

        for v in range(1, args.history + 1):
            path.write_text(source.replace("{v}", str(v)))
            _age(path, seconds=600 - v)  # each version its own mtime, all older than the last
            run_python(code(False), folder)
        path.write_text(source.replace("{v}", str(args.history)))
        _age(path)
        for _ in range(2):  # cold, then one warm run that writes the bytecode caches
            run_python(code(False), folder)
        phases: list[list[float]] = []
        walls: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeat):
            for hard in (False, True):
                t = time.perf_counter()
                out = run_python(code(hard), folder)
                walls[hard].append(time.perf_counter() - t)
                if not hard:
                    phases.append([float(x) for x in out.split()])
    medians = [statistics.median(col) for col in zip(*phases)]
    teardown = (statistics.median(walls[False]) - statistics.median(walls[True])) * 1e3
    held = f", {args.history} versions of each node stored" if args.history else ""
    print(f"warm run of a {args.n:,}-node lattice{held}, new process each, median of {args.repeat} (ms)")
    for name, ms in zip(PHASES, medians):
        print(f"{name:<16}{ms:>8.2f}")
    print(f"{'teardown':<16}{teardown:>8.2f}")
    print(f"{'import+with_cache':<16}{medians[0] + medians[2] + medians[3]:>8.2f}")
    print(f"{'execute µs/node':<16}{medians[4] * 1e3 / args.n:>8.2f}")


if __name__ == "__main__":
    main()
