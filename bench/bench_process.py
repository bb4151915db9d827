"""What a user waits for: whole processes, side by side in one run — Ripple, Apache Hamilton with its
cache, and the floor (a Python process that only imports the pipeline, with its bytecode cached).

Ripple is timed twice: as a library (``Driver(...).with_cache().execute()``) and as the command a
user types (``ripple run PIPELINE --outputs X -q``, which also parses arguments, predicts and
prints). For a 1,000- and a 10,000-node lattice and for ``demo_pipeline``: a cold run (empty
store), a warm run (nothing changed, new process) and, for the lattices, a one-node-edited run (the
body of the final node's parent changed: it and the final node run again, every other node of the
file is a hit), each timed as the wall time of a whole ``python -c ...`` process, median
of ``--repeat`` runs; reported with Ripple's share (the median difference between each of its runs
and a floor run just before it) and the Hamilton/Ripple ratio.

    python bench/bench_process.py                   # lattices 1000 and 10000, and the demo
    python bench/bench_process.py --n 1000 --repeat 3 --no-demo
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLOOR = ("import sys, pkgutil, importlib; sys.path.insert(0, {dir!r}); import {mod} as m\n"
         "for i in pkgutil.walk_packages(getattr(m, '__path__', []), m.__name__ + '.'):\n"
         "    importlib.import_module(i.name)")
RIPPLE = ("import sys; sys.path.insert(0, {dir!r}); import {mod}; from engine import Driver; "
          "Driver({{}}, {mod}).with_cache({store!r}).execute([{final!r}])")
RIPPLE_CLI = ("import sys; sys.path.insert(0, {dir!r}); from engine.cli import console; "
              "sys.argv = ['ripple', 'run', {mod!r}, '--outputs', {final!r}, '-q', '--cache-dir', {store!r}]; sys.exit(console())")
HAMILTON = ("import sys, logging; logging.disable(logging.WARNING); sys.path.insert(0, {dir!r}); import {mod}; "
            "from hamilton import driver; "
            "driver.Builder().with_modules({mod}).with_cache(path={store!r}).build().execute([{final!r}])")


def lattice(n: int) -> tuple[str, str, str]:
    """(source, final node, name of the node whose body the edit changes: the final node's parent,
    so that the edit is in the run's plan)."""
    width = max(2, int(math.sqrt(n)))
    lines = []
    for i in range(n):
        r, c = divmod(i, width)
        deps = [f"n{(r - 1) * width + k}" for k in (c - 1, c, c + 1) if r > 0 and 0 <= k < width]
        body = " + ".join(deps) if deps else "1"
        lines.append(f"def n{i}({', '.join(d + ': int' for d in deps)}) -> int:\n    return {body}\n")
    return "\n".join(lines), f"n{n - 1}", f"n{n - 1 - width}"


def _age(path: Path, seconds: float = 60) -> None:
    """Date a source file a minute back, as a file not edited this instant is: bytecode compiled
    in the same second as its source counts as racy and is recompiled (``engine.core.loading``)."""
    old = time.time() - seconds
    os.utime(path, (old, old))


def run_python(code: str, cwd: Path) -> str:
    """Run ``code`` in a new interpreter, with bytecode caches as a user has them (written on the
    first import, read after); its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"failed: {code[:120]}...\n{proc.stderr[-2000:]}")
    return proc.stdout


def timed(code: str, cwd: Path) -> float:
    t0 = time.perf_counter()
    run_python(code, cwd)
    return time.perf_counter() - t0


def measure(label: str, folder: Path, mod: str, final: str, edit: tuple[Path, str, str] | None,
            repeat: int, with_hamilton: bool) -> list[tuple[str, str, str, float, float, float, float | None]]:
    """Rows of (pipeline, phase, tool, floor, total, share, hamilton total). Each of Ripple's runs is
    paired with a floor run just before it (of the unedited pipeline) and its share is the median of
    those differences: the machine drifts by more than a warm run's share between the rounds."""
    rows = []
    tools = {"ripple": RIPPLE, "ripple run": RIPPLE_CLI, **({"hamilton": HAMILTON} if with_hamilton else {})}
    results: dict[tuple[str, str], list[float]] = {}
    shares: dict[tuple[str, str], list[float]] = {}
    floors: list[float] = []
    floor_code = FLOOR.format(dir=str(folder), mod=mod)
    timed(floor_code, folder)  # writes the bytecode caches the timed runs use, as a user's would be

    def run(tool: str, phase: str, code: str, original: str | None = None) -> None:
        if tool != "hamilton":
            floor = timed(floor_code, folder)
            floors.append(floor)
        if original is not None and edit is not None:
            edit[0].write_text(original.replace(edit[1], edit[2], 1))
        try:
            took = timed(code, folder)
        finally:
            if original is not None and edit is not None:
                edit[0].write_text(original)
                _age(edit[0])
        results.setdefault((tool, phase), []).append(took)
        if tool != "hamilton":
            shares.setdefault((tool, phase), []).append(took - floor)

    for _ in range(repeat):
        for tool, template in tools.items():
            store = folder / f".store-{tool.replace(' ', '-')}"
            shutil.rmtree(store, ignore_errors=True)
            code = template.format(dir=str(folder), mod=mod, store=str(store), final=final)
            run(tool, "cold", code)
            run(tool, "warm", code)
            if edit is not None:
                run(tool, "edit", code, edit[0].read_text())
    floor = statistics.median(floors)
    for phase in ("cold", "warm", "edit"):
        ham = statistics.median(results["hamilton", phase]) if ("hamilton", phase) in results else None
        for tool in ("ripple", "ripple run"):
            if (tool, phase) in results:
                rows.append((label, phase, tool, floor, statistics.median(results[tool, phase]),
                             statistics.median(shares[tool, phase]), ham))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--no-hamilton", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ripple-bench-process-") as tmp:
        for n in args.n:
            folder = Path(tmp) / f"lat{n}"
            folder.mkdir()
            source, final, edited = lattice(n)
            path = folder / f"lattice_{n}.py"
            path.write_text(source)
            _age(path)
            old = f"def {edited}("
            body_at = source.index(old)
            line_end = source.index("\n    return ", body_at)
            ret = source[line_end:source.index("\n", line_end + 1)]
            rows += measure(f"lattice {n:,}", folder, path.stem, final, (path, ret, ret + " + 0 * 1"), args.repeat,
                            not args.no_hamilton)
        if not args.no_demo:
            folder = Path(tmp) / "demo"
            shutil.copytree(ROOT / "demo_pipeline", folder / "demo_pipeline")
            rows += measure("demo_pipeline", folder, "demo_pipeline", "report", None, args.repeat, False)
    print(f"whole-process wall time, median of {args.repeat}; share = median of (run - a floor run just before it),")
    print("the floor being python + importing the pipeline;")
    print("ripple: Driver(...).with_cache().execute(); ripple run: the command (`ripple run PIPELINE --outputs X -q`)")
    print(f"{'pipeline':<16}{'run':<6}{'tool':<12}{'floor s':>9}{'total s':>9}{'share ms':>10}{'hamilton s':>12}"
          f"{'ham/ripple':>12}")
    for label, phase, tool, floor, ours, share, ham in rows:
        ratio = f"{ham / ours:.1f}x" if ham else "—"
        hs = f"{ham:.3f}" if ham else "—"
        print(f"{label:<16}{phase:<6}{tool:<12}{floor:>9.3f}{ours:>9.3f}{share * 1000:>10.0f}{hs:>12}{ratio:>12}")


if __name__ == "__main__":
    main()
