"""What recording a node's executed code and reads costs, per node and on a call-heavy node.

Runs in this interpreter, so compare mechanisms by running it under each Python:

    python bench/bench_tracing.py                       # 3.11: sys.setprofile fallback
    PYENV_VERSION=3.12.1 python bench/bench_tracing.py  # 3.12+: sys.monitoring

Rows: ``bare`` (the function alone), ``code trace`` (``CodeTrace`` only), ``recorder`` (the read
recorder with every probe, as a node runs in the engine). ``per node`` is the fixed cost of one
recorded node that does nothing (enter, exit and building its observations); ``call-heavy`` is a
pure-Python node making 200,000 calls to a project helper, and ``pandas apply`` a Series.apply
over 50,000 rows calling a project function. ``warm check`` is what a cache hit now pays on top of
the key lookup to re-check an entry's records (traced code, environment variables, files), per
record, memoised as in a run.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.caching import tracing  # noqa: E402  (registers the code probe)
from engine.core.reads import ReadRecorder  # noqa: E402


def _helper(x: int) -> int:
    return x + 1


def call_heavy() -> int:
    total = 0
    for i in range(200_000):
        total += _helper(i)
    return total


def nothing() -> int:
    return 0


def _best(fn: Callable[[], object], wrap: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        if wrap == "bare":
            fn()
        elif wrap == "code trace":
            with tracing.CodeTrace():
                fn()
        else:
            rec = ReadRecorder()
            with rec:
                fn()
            rec.paths  # noqa: B018 - building the observations is part of the cost
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    import pandas as pd

    series = pd.Series(range(50_000))

    def apply() -> object:
        return series.apply(_helper)

    print(f"Python {sys.version.split()[0]}, mechanism: {tracing.mechanism()}")
    print(f"{'workload':<14}{'bare':>12}{'code trace':>14}{'recorder':>12}{'overhead':>10}")
    for label, fn, repeat, unit, scale in (("per node", nothing, 2000, "µs", 1e6), ("call-heavy", call_heavy, 7, "ms", 1e3),
                                           ("pandas apply", apply, 7, "ms", 1e3)):
        bare, code, rec = (_best(fn, w, repeat) for w in ("bare", "code trace", "recorder"))
        over = f"x{rec / bare:.2f}" if label != "per node" else f"+{(rec - bare) * 1e6:.0f}µs"
        print(f"{label:<14}{bare * scale:>10.1f}{unit}{code * scale:>12.1f}{unit}{rec * scale:>10.1f}{unit}{over:>10}")
    warm_check()


def warm_check() -> None:
    import os
    import tempfile

    from engine.caching import observed
    from engine.caching.code_version import CodeVersioner
    from engine.files import FileVersions

    here = os.path.abspath(__file__)
    root = os.path.dirname(os.path.dirname(here))
    versioner, files = CodeVersioner(Path(root)), FileVersions()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "d.csv")
        Path(data).write_text("x" * 1000)
        seen = {"code": [[here, "_helper"], [here, "call_heavy"]], "env": {"HOME": "?"}, "dirs": [tmp]}
        records = observed.records_for(seen, [data], root=root, versioner=versioner, files=files, static_parts={})
        observed.first_change(records, root, versioner, files)
        n = 20_000
        t0 = time.perf_counter()
        for _ in range(n):
            observed.first_change(records, root, versioner, files)
        per = (time.perf_counter() - t0) / n * 1e6
    kinds = ", ".join(sorted({k.split(":")[0] if k[0] == "@" else "file" for k in records}))
    print(f"warm check    {per:8.1f}µs per hit with {len(records)} records ({kinds}); "
          f"{per / len(records):.1f}µs per record")


if __name__ == "__main__":
    main()
