"""Engine overhead per node, without cache, against direct calls and Apache Hamilton in the same run.

Why: Ripple wraps every node call in planning, bookkeeping and events; for pipelines of many small
nodes that overhead is the whole cost. The target is <= 3 µs/node at N=1,000.

Shapes (trivial integer nodes, generated as module source text, written to a temp dir, imported):
  chain    n0 -> n1 -> ... -> n{N-1}
  lattice  layers of width isqrt(N); each node depends on 2 nodes of the previous layer

For each shape and size it measures
  direct       a plain loop calling the same functions in topological order (the floor)
  ours         ``Driver.execute`` steady state (plan cached) and first execute (includes planning)
  hamilton     ``hamilton.driver.Builder().with_modules(m).build().execute`` likewise (no cache);
               a RecursionError is reported, not hidden
and prints µs/node, ours/direct and hamilton/ours. Steady state is the median of ``--repeats``
executes; the garbage collector is paused while timing, as ``timeit`` does.

Run:  python bench/bench_overhead.py            (sizes 1000,10000; ~1 min incl. Hamilton)
      python bench/bench_overhead.py --sizes 1000 --repeats 15 --no-hamilton
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET_US = 3.0


# ------------------------------------------------------------------------------------ pipelines


def chain_source(n: int) -> tuple[str, list[str]]:
    lines = ["def n0() -> int:\n    return 0\n"]
    lines += [f"def n{i}(n{i - 1}: int) -> int:\n    return n{i - 1} + 1\n" for i in range(1, n)]
    return "\n".join(lines), [f"n{n - 1}"]


def lattice_source(n: int) -> tuple[str, list[str]]:
    width = max(2, math.isqrt(n))
    layers = max(1, n // width)
    lines = [f"def l0_{j}() -> int:\n    return {j}\n" for j in range(width)]
    for k in range(1, layers):
        for j in range(width):
            a, b = f"l{k - 1}_{j}", f"l{k - 1}_{(j + 1) % width}"
            lines.append(f"def l{k}_{j}({a}: int, {b}: int) -> int:\n    return ({a} + {b}) % 1000\n")
    return "\n".join(lines), [f"l{layers - 1}_{j}" for j in range(width)]


SHAPES: dict[str, Callable[[int], tuple[str, list[str]]]] = {"chain": chain_source, "lattice": lattice_source}


def import_source(folder: Path, source: str) -> Any:
    name = f"bench_pipe_{uuid.uuid4().hex[:10]}"
    (folder / f"{name}.py").write_text(source)
    importlib.invalidate_caches()
    return importlib.import_module(name)


# ------------------------------------------------------------------------------------ timing


def _timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    finally:
        if was:
            gc.enable()


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm up
    return statistics.median(_timed(fn) for _ in range(repeats))


def direct_runner(module: Any, final: list[str]) -> Callable[[], dict[str, Any]]:
    """The floor: the same functions called in a precomputed topological order from a plain loop."""
    import inspect

    from engine.core.building import build_graph

    order = build_graph([module], {}).order
    steps = [(name, getattr(module, name), tuple(inspect.signature(getattr(module, name)).parameters))
             for name in order]

    def run() -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, fn, params in steps:
            values[name] = fn(*[values[p] for p in params])
        return {f: values[f] for f in final}

    return run


def bench_case(folder: Path, shape: str, n: int, repeats: int, hamilton: bool) -> dict[str, Any]:
    from engine import Driver

    source, final = SHAPES[shape](n)
    module = import_source(folder, source)
    n_nodes = sum(1 for line in source.splitlines() if line.startswith("def "))
    row: dict[str, Any] = {"shape": shape, "n": n_nodes}

    direct = direct_runner(module, final)
    expected = direct()
    row["direct_us"] = median_time(direct, repeats) / n_nodes * 1e6

    t = time.perf_counter()
    dr = Driver({}, module)
    row["ours_build_s"] = time.perf_counter() - t
    row["ours_first_us"] = _timed(lambda: dr.execute(final)) / n_nodes * 1e6
    assert dr.execute(final) == expected, "ripple computed a different result"
    row["ours_us"] = median_time(lambda: dr.execute(final), repeats) / n_nodes * 1e6

    row["hamilton_us"] = row["hamilton_first_us"] = row["hamilton_build_s"] = None
    row["hamilton_error"] = ""
    if hamilton:
        try:
            from hamilton import driver as h_driver

            t = time.perf_counter()
            h = h_driver.Builder().with_modules(module).build()
            row["hamilton_build_s"] = time.perf_counter() - t
            row["hamilton_first_us"] = _timed(lambda: h.execute(final)) / n_nodes * 1e6
            assert h.execute(final) == expected, "hamilton computed a different result"
            row["hamilton_us"] = median_time(lambda: h.execute(final), max(3, repeats // 2)) / n_nodes * 1e6
        except RecursionError:
            row["hamilton_error"] = f"RecursionError (limit {sys.getrecursionlimit()})"
        except ImportError as exc:
            row["hamilton_error"] = f"not installed ({exc.name})"
    sys.modules.pop(module.__name__, None)
    return row


# ------------------------------------------------------------------------------------ report


def _f(v: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def print_table(rows: list[dict[str, Any]]) -> None:
    """A plain-text table (fits an issue note or a narrow terminal without wrapping)."""
    header = ["shape", "N", "direct", "ours", "ours 1st", "ours-direct", "hamilton", "ham 1st", "ours/direct",
              "ham/ours", "build ours", "build ham"]
    lines = []
    for r in rows:
        ham = r["hamilton_us"]
        lines.append([
            r["shape"], f"{r['n']:,}", _f(r["direct_us"]), _f(r["ours_us"]), _f(r["ours_first_us"]),
            _f(r["ours_us"] - r["direct_us"]),
            _f(ham) if ham is not None else (r["hamilton_error"] or "—"),
            _f(r["hamilton_first_us"]),
            _f(r["ours_us"] / r["direct_us"], "{:.1f}x"),
            _f(ham / r["ours_us"] if ham else None, "{:.1f}x"),
            _f(r["ours_build_s"], "{:.2f}s"), _f(r["hamilton_build_s"], "{:.2f}s"),
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    print("µs/node without cache; steady = median of repeats, 1st = first execute of a fresh driver (planning)")
    for i, line in enumerate([header, *lines]):
        print("  ".join(str(x).ljust(w) if j == 0 else str(x).rjust(w) for j, (x, w) in enumerate(zip(line, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for r in rows:
        if r["n"] <= 1100:
            verdict = "meets" if r["ours_us"] <= TARGET_US else "MISSES"
            print(f"{r['shape']} N={r['n']:,}: {r['ours_us']:.2f} µs/node {verdict} the <= {TARGET_US} µs/node target")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated node counts")
    parser.add_argument("--shapes", default="chain,lattice")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-hamilton", action="store_true")
    parser.add_argument("--json", action="store_true", help="print rows as JSON instead of a table")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("hamilton").setLevel(logging.CRITICAL)  # its RecursionError banner is reported in the table
    rows = []
    with tempfile.TemporaryDirectory(prefix="ripple-bench-") as tmp:
        sys.path.insert(0, tmp)
        try:
            for shape in args.shapes.split(","):
                for n in (int(s) for s in args.sizes.split(",")):
                    rows.append(bench_case(Path(tmp), shape, n, args.repeats, not args.no_hamilton))
        finally:
            sys.path.remove(tmp)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
