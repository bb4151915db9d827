"""Cost of Ripple's Hamilton front-end: graph building and execution of a decorated module, against
Apache Hamilton itself, in the same run.

Why: a Hamilton module under Ripple is resolved by Hamilton, then converted node by node and given
decorator digests (so decorator arguments are versioned); Ripple's own decorators do the same work
without Hamilton. This shows what each costs per build and per run.

The module (generated text, imported from a temp dir): a chain of N plain nodes, each followed by a
``@pipe_input(step(_inc, k=value(i)))`` node, so 3N nodes in all.

For each import style it prints
  build       ``Driver(config, module)`` (graph building), median of ``--repeats``
  execute     ``Driver.execute`` of every node without cache, steady state
  warm        a fully cached ``execute`` (a second Driver over the same cache folder)
and Hamilton's ``Builder().with_modules(m).build()`` and ``execute`` for the same module.

Run:  python bench/bench_hamilton.py                 (N=100; ~15 s)
      python bench/bench_hamilton.py --size 300 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def module_source(n: int, style: str) -> str:
    head = ("from hamilton.function_modifiers import pipe_input, step, value" if style == "hamilton"
            else "from engine import pipe_input, step, value")
    lines = [head, "", "", "def _inc(x: int, k: int) -> int:", "    return x + k", ""]
    for i in range(n):
        prev = f"n{i - 1}" if i else "seed"
        lines += ["", f"def n{i}({prev}: int) -> int:", f"    return {prev} + 1", ""]
        lines += ["", f"@pipe_input(step(_inc, k=value({i})))", f"def p{i}(n{i}: int) -> int:", f"    return n{i} * 2", ""]
    return "\n".join(lines) + "\n"


def load(text: str, folder: Path, name: str) -> Any:
    """Write ``text`` as ``folder/name.py`` and import it as Ripple imports a pipeline file."""
    from engine.core.loading import load_pipeline

    path = folder / f"{name}.py"
    path.write_text(text)
    return load_pipeline(path).modules[0]


def median_ms(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    from engine import Driver

    folder = Path(tempfile.mkdtemp(prefix="ripple-bench-hamilton-"))
    inputs = {"seed": 1}
    for style in ("hamilton", "engine"):
        mod = load(module_source(args.size, style), folder, f"bench_h_{style}")
        outputs = [n for n in Driver({}, mod).graph.order]
        build = median_ms(lambda mod=mod: Driver({}, mod), args.repeats)
        dr = Driver({}, mod)
        dr.execute(outputs, inputs=inputs)
        run = median_ms(lambda dr=dr, outputs=outputs: dr.execute(outputs, inputs=inputs), args.repeats)
        cache = folder / f"cache-{style}"
        Driver({}, mod).with_cache(cache).execute(outputs, inputs=inputs)
        warm_dr = Driver({}, mod).with_cache(cache)
        warm = median_ms(lambda d=warm_dr, outputs=outputs: d.execute(outputs, inputs=inputs), args.repeats)
        print(f"ripple, {style:8} imports: {len(outputs)} nodes  build {build:7.1f} ms  execute {run:7.1f} ms  "
              f"warm cached {warm:7.1f} ms")
    try:
        from hamilton import base, driver
    except ImportError:
        print("hamilton: not installed (pip install 'ripple[hamilton]')")
        return
    mod = load(module_source(args.size, "hamilton"), folder, "bench_h_native")
    build = median_ms(lambda: driver.Builder().with_modules(mod).with_adapters(base.DictResult()).build(), args.repeats)
    hd = driver.Builder().with_modules(mod).with_adapters(base.DictResult()).build()
    names = [v.name for v in hd.list_available_variables() if not v.is_external_input]
    run = median_ms(lambda: hd.execute(names, inputs=inputs), args.repeats)
    print(f"hamilton itself:         {len(names)} nodes  build {build:7.1f} ms  execute {run:7.1f} ms")


if __name__ == "__main__":
    main()
