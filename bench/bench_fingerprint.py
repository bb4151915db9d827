"""Fingerprint throughput: Ripple vs Hamilton's ``hash_value`` vs raw xxh3 of the buffer.

Run: ``python bench/bench_fingerprint.py [--repeat N]``. Prints best-of-N seconds, GB/s over the
payload's in-memory size, and each contender's time relative to Ripple. Also times code
versioning of 1,000 functions in one file (cold parse, warm per function).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xxhash  # noqa: E402

from engine.caching.data_version import fingerprint  # noqa: E402

try:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from hamilton.caching.fingerprinting import hash_value as hamilton_hash
except Exception:  # pragma: no cover - optional peer
    hamilton_hash = None


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def raw_xxh3(value: Any) -> Callable[[], Any] | None:
    if isinstance(value, np.ndarray):
        return lambda: xxhash.xxh3_128_digest(value)
    if isinstance(value, pd.DataFrame):
        return lambda: [xxhash.xxh3_128_digest(value[c].to_numpy()) for c in value.columns]
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    arr = rng.random(100 * 1024 * 1024 // 8)
    df = pd.DataFrame(rng.random((1_000_000, 10)), columns=[f"c{i}" for i in range(10)])
    dicts = [{"id": i, "name": f"n{i}", "score": i * 0.5} for i in range(100_000)]
    cases = [
        ("ndarray float64 100 MB", arr, arr.nbytes),
        ("DataFrame 1e6 x 10 float64", df, int(df.memory_usage(index=True).sum())),
        ("100k small dicts", dicts, None),
    ]
    print(f"python {sys.version.split()[0]}  numpy {np.__version__}  pandas {pd.__version__}  "
          f"xxhash {xxhash.VERSION}  hamilton {'yes' if hamilton_hash else 'not installed'}")
    header = f"{'payload':<28} {'contender':<22} {'seconds':>9} {'GB/s':>8} {'x ripple':>9}"
    print(header)
    print("-" * len(header))
    for label, value, nbytes in cases:
        ours = best_of(lambda v=value: fingerprint(v), args.repeat)
        rows = [("ripple.fingerprint", ours)]
        raw = raw_xxh3(value)
        if raw is not None:
            rows.append(("raw xxh3_128 buffer", best_of(raw, args.repeat)))
        if hamilton_hash is not None:
            rows.append(("hamilton.hash_value", best_of(lambda v=value: hamilton_hash(v), max(1, args.repeat // 2))))
        for name, secs in rows:
            gbps = f"{nbytes / secs / 1e9:8.2f}" if nbytes else f"{'-':>8}"
            print(f"{label:<28} {name:<22} {secs:9.4f} {gbps} {secs / ours:9.2f}")
    bench_versioning()


def bench_versioning() -> None:
    """1,000 small functions in one module: first version (parse) and warm per-function cost."""
    from engine.caching.code_version import CodeVersioner

    body = ["import math\n\nK = 3\n\n\ndef _helper(x):\n    return x * K\n"]
    for i in range(1000):
        body.append(f"\n\ndef f{i}(a, b={i}):\n    t = a + b\n    return _helper(t) + math.sqrt({i})\n")
    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / "bench_versioning_pkg"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        (pkg / "mod.py").write_text(textwrap.dedent("".join(body)))
        old = time.time_ns() - 10_000_000_000  # outside the racy window, as for any file not just saved
        for f in pkg.iterdir():
            os.utime(f, ns=(old, old))
        sys.path.insert(0, tmp)
        import importlib

        mod = importlib.import_module("bench_versioning_pkg.mod")
        fns = [getattr(mod, f"f{i}") for i in range(1000)]
        memo: dict[str, str] = {}
        v = CodeVersioner(memo=memo)
        t = time.perf_counter()
        v.version(fns[0])
        cold = time.perf_counter() - t
        t = time.perf_counter()
        for fn in fns:
            v.version(fn)
        warm = (time.perf_counter() - t) / len(fns)
        v2 = CodeVersioner(memo=memo)
        t = time.perf_counter()
        v2.version(fns[0])
        memo_cold = time.perf_counter() - t
        print()
        print("code versioning, 1,000 functions in one file:")
        print(f"  first call (parse + analyse file)      {cold * 1e3:8.1f} ms")
        print(f"  first call, new versioner, warm memo   {memo_cold * 1e3:8.1f} ms")
        print(f"  per function afterwards                {warm * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
