"""What one file's source analysis costs (``engine.caching.source_analysis.analyze_source``), against
``ast.parse`` alone, its floor (not run as tests).

Why: a cold run analyses every pipeline file once, and for a generated 1,000-function module that
was most of the run. Timed in-process, median of ``--repeats``, on a ``bench_process`` lattice and
on large real files (the standard library's ``typing.py`` and ``argparse.py`` by default).

    python bench/bench_analysis_source.py
    python bench/bench_analysis_source.py --n 1000 --n 10000 --file path/to/module.py
"""

from __future__ import annotations

import argparse
import ast
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_hamilton import median_ms as _median_ms  # noqa: E402
from bench_process import lattice  # noqa: E402

from engine.caching.source_analysis import analyze_source  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, action="append", help="lattice size (default 1000)")
    ap.add_argument("--file", action="append", help="a Python file (default: stdlib typing.py, argparse.py)")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = {f"lattice({n})": lattice(n)[0].encode() for n in args.n or [1000]}
    for f in args.file or [stdlib / "typing.py", stdlib / "argparse.py"]:
        sources[Path(f).name] = Path(f).read_bytes()
    print(f"{'source':>16} {'lines':>7} {'ast.parse':>10} {'analyze_source':>15}   (ms, median)")
    for name, src in sources.items():
        parse = _median_ms(lambda src=src: ast.parse(src), args.repeats)
        full = _median_ms(lambda src=src: analyze_source(src), args.repeats)
        print(f"{name:>16} {len(src.splitlines()):>7} {parse:>10.1f} {full:>15.1f}")


if __name__ == "__main__":
    main()
