"""Graph build cost per node: ``Driver({}, module)`` for a 1,000- and a 10,000-node lattice.

Why a fresh process per sample: startup is what a user waits for on every ``ripple`` command, and
only a fresh interpreter pays the first-use costs (lazy imports, caches) that a warm loop hides. The
pipeline module is imported before the timer (that is the floor, not Ripple's cost); the timed part
is ``from engine import Driver; Driver({}, module)``, and, separately, ``Driver({}, module)`` alone
with ``engine`` already imported. Target (issue 12): <= 5 µs/node.

    python bench/bench_build.py                   # n = 1000, 10000; median of 7 processes each
    python bench/bench_build.py --n 1000 --repeat 11
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_process import lattice  # noqa: E402

CHILD = """
import sys, time
sys.path.insert(0, {dir!r})
import {mod} as m
t0 = time.perf_counter()
from engine import Driver
t1 = time.perf_counter()
d = Driver({{}}, m)
t2 = time.perf_counter()
assert len(d.graph.nodes) == {n}
print(t2 - t0, t2 - t1)
"""


#: bytecode as a user has it: written once, then read (PYTHONDONTWRITEBYTECODE would time compiling)
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(ROOT)}


def sample(folder: Path, n: int) -> tuple[float, float]:
    code = CHILD.format(dir=str(folder), mod=f"lattice_{n}", n=n)
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True)
    total, build = map(float, out.stdout.split())
    return total, build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in args.n:
            (folder / f"lattice_{n}.py").write_text(lattice(n)[0])
            sample(folder, n)  # writes the bytecode of the module (and of the engine), outside the samples
        print(f"{'nodes':>7}  {'import+build µs/node':>21}  {'build µs/node':>14}")
        for n in args.n:
            samples = [sample(folder, n) for _ in range(args.repeat)]
            total = statistics.median(s[0] for s in samples) / n * 1e6
            build = statistics.median(s[1] for s in samples) / n * 1e6
            print(f"{n:>7}  {total:>21.2f}  {build:>14.2f}")


if __name__ == "__main__":
    main()
