"""Makefile as a pipeline: what the translation and the cache cost next to GNU make itself.

    python bench/bench_make.py [PROJECT]     # PROJECT: a folder of tests/make/projects (default patterns)

Reports, best of 3: reading the Makefile through make (the translation `ripple run Makefile` does
every time), a cold build by make and by the pipeline, and the no-op rebuild of each (make's mtime
check vs the pipeline's all-hit run). Not a test: the machine's load decides the numbers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _best(fn, n: int = 3) -> float:  # noqa: ANN001
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    from engine import Driver
    from engine.make import prepare

    name = sys.argv[1] if len(sys.argv) > 1 else "patterns"
    src = ROOT / "tests" / "make" / "projects" / name
    with tempfile.TemporaryDirectory() as tmp:
        def fresh(sub: str) -> Path:
            dest = Path(tmp, sub)
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest)
            return dest

        def make_cold() -> None:
            subprocess.run(["make", "-s"], cwd=fresh("make"), check=True, stdout=subprocess.DEVNULL)

        def ripple_run(folder: Path) -> int:
            module, t = prepare(folder / "Makefile")
            sys.modules.pop(module.stem, None)
            dr = Driver({}, str(module)).with_cache(folder / ".ripple")
            dr.plan_events = False
            dr.execute([t.default_goal])
            return len(t.nodes)

        def ripple_cold() -> None:
            ripple_run(fresh("ripple"))

        translate = _best(lambda: prepare(fresh("translate") / "Makefile"))
        cold_make = _best(make_cold)
        noop_make = _best(lambda: subprocess.run(["make", "-s"], cwd=Path(tmp, "make"), check=True))
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            cold_ripple = _best(ripple_cold)
            nodes = ripple_run(Path(tmp, "ripple"))
            warm_ripple = _best(lambda: ripple_run(Path(tmp, "ripple")))
    print(f"{name}: {nodes} targets")
    print(f"  read the Makefile through make (translation) {translate * 1000:8.1f} ms")
    print(f"  cold build   make {cold_make * 1000:8.1f} ms   pipeline {cold_ripple * 1000:8.1f} ms")
    print(f"  no-op        make {noop_make * 1000:8.1f} ms   pipeline {warm_ripple * 1000:8.1f} ms (translation included)")


if __name__ == "__main__":
    main()
