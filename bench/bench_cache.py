"""Cold and warm per-node cache cost: Ripple vs Apache Hamilton's ``with_cache``, same run.

cold = first execution into an empty store on a real disk (run + fingerprint + store every node);
warm = a *new process* over the existing store (build the graph, version code, look up every node,
load only the requested output). Each measurement runs in a fresh interpreter so import caches and
in-memory state cannot flatter either side; the time measured is driver construction + execute,
not interpreter start-up or imports.

    python bench/bench_cache.py                 # N = 1000 and 5000, chain and lattice
    python bench/bench_cache.py --n 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import sys, time, json, importlib
engine_name, module_dir, module_name, store, final = sys.argv[1:6]
sys.path.insert(0, module_dir)
if engine_name == "ripple":
    import engine
    import engine.caching.session  # imports are a fixed cost, excluded on both sides
else:
    from hamilton import driver as hdriver
    import logging
    logging.disable(logging.WARNING)
mod = importlib.import_module(module_name)
t0 = time.perf_counter()
if engine_name == "ripple":
    dr = engine.Driver({}, mod).with_cache(store)
    t1 = time.perf_counter()
    out = dr.execute([final])
    dr.cache.close()
else:
    dr = hdriver.Builder().with_modules(mod).with_cache(path=store).build()
    t1 = time.perf_counter()
    out = dr.execute([final])
t2 = time.perf_counter()
print(json.dumps({"total": t2 - t0, "execute": t2 - t1}))
'''


def chain_source(n: int) -> tuple[str, str]:
    lines = ["def n0() -> int:\n    return 1\n"]
    for i in range(1, n):
        lines.append(f"def n{i}(n{i - 1}: int) -> int:\n    return n{i - 1} + 1\n")
    return "\n".join(lines), f"n{n - 1}"


def lattice_source(n: int) -> tuple[str, str]:
    width = max(2, int(math.sqrt(n)))
    layers = math.ceil(n / width)
    lines = []
    names: list[list[str]] = []
    count = 0
    for layer in range(layers):
        row = []
        for j in range(width):
            if count >= n - 1:
                break
            name = f"l{layer}_{j}"
            if layer == 0:
                lines.append(f"def {name}() -> int:\n    return {j}\n")
            else:
                prev = names[-1]
                a, b = prev[j % len(prev)], prev[(j + 1) % len(prev)]
                lines.append(f"def {name}({a}: int, {b}: int) -> int:\n    return {a} + {b}\n")
            row.append(name)
            count += 1
        if row:
            names.append(row)
    last = names[-1]
    lines.append(f"def final({', '.join(f'{x}: int' for x in last)}) -> int:\n    return {' + '.join(last)}\n")
    return "\n".join(lines), "final"


def measure(engine_name: str, shape: str, n: int, repeat: int, work: Path) -> dict[str, float]:
    source, final = (chain_source if shape == "chain" else lattice_source)(n)
    mod_dir = work / f"{engine_name}_{shape}_{n}"
    mod_dir.mkdir(parents=True, exist_ok=True)
    module = f"bench_{shape}_{n}"
    (mod_dir / f"{module}.py").write_text(source)
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for _ in range(repeat):
        store = mod_dir / "store"
        shutil.rmtree(store, ignore_errors=True)
        runs["cold"].append(_child(engine_name, mod_dir, module, store, final))
        runs["warm"].append(_child(engine_name, mod_dir, module, store, final))
    return {f"{phase}/{part}": statistics.median(r[part] for r in rs) / n * 1e6
            for phase, rs in runs.items() for part in ("execute", "total")}


def _child(engine_name: str, mod_dir: Path, module: str, store: Path, final: str) -> dict[str, float]:
    limit = "import sys; sys.setrecursionlimit(100000)\n" if engine_name == "hamilton" else ""
    proc = subprocess.run([sys.executable, "-c", limit + CHILD, engine_name, str(mod_dir), module, str(store), final],
                          capture_output=True, text=True, env={"PYTHONDONTWRITEBYTECODE": "1", "HAMILTON_TELEMETRY_ENABLED": "false",
                                                               "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        raise RuntimeError(f"{engine_name} failed: {proc.stderr[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, action="append")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-hamilton", action="store_true")
    args = ap.parse_args()
    sizes = args.n or [1000, 5000]
    try:
        import hamilton  # noqa: F401

        engines = ["ripple"] if args.no_hamilton else ["ripple", "hamilton"]
    except ImportError:
        engines = ["ripple"]
    work = Path(tempfile.mkdtemp(prefix="ripple-bench-", dir=Path.cwd()))
    try:
        print("µs per node; execute = dr.execute() only, total = driver construction (graph build) + execute")
        print(f"{'shape':8} {'N':>6} {'phase':14} {'ripple':>9} {'hamilton':>9} {'hamilton/ripple':>16}")
        for shape in ("chain", "lattice"):
            for n in sizes:
                res = {e: measure(e, shape, n, args.repeat, work) for e in engines}
                for phase in ("cold/execute", "cold/total", "warm/execute", "warm/total"):
                    r = res["ripple"][phase]
                    h = res.get("hamilton", {}).get(phase)
                    ratio = f"{h / r:15.1f}x" if h else f"{'n/a':>16}"
                    hs = f"{h:9.1f}" if h else f"{'n/a':>9}"
                    print(f"{shape:8} {n:>6} {phase:14} {r:9.1f} {hs} {ratio}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
