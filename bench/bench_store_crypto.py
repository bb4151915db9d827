"""What authenticating (always on) and encrypting (``encrypt = true``) the store costs.

Three measurements, each the median of ``--repeat`` runs on a real disk:

* ``mac``: the value MAC (HMAC-SHA256), keyed BLAKE2b (rows, memo, journal) and xxh3 (the plain
  checksum the value MAC replaced), in GB/s over one large buffer;
* ``small``: put + load of ``--n`` small values (the inline path: one row MAC and one value MAC
  each), authenticated only vs. encrypted;
* ``large``: put + load of one ``--mb`` MB numpy array (the object-file path), authenticated only
  vs. encrypted (AES-256-GCM; encryption also costs one copy of the value).

    python bench/bench_store_crypto.py
    python bench/bench_store_crypto.py --n 5000 --mb 200 --repeat 5
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import xxhash

from engine.store import Store
from engine.store.keys import StoreKey


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        times.append(fn())
    return statistics.median(times)


def mac_throughput(mb: int, repeat: int) -> tuple[float, float, float]:
    buf = bytes(mb << 20)
    key = StoreKey(b"k" * 32, "bench")

    def timed(purpose: str) -> float:
        t = time.perf_counter()
        h = key.hasher(purpose)
        h.update(buf)
        h.hexdigest()
        return time.perf_counter() - t

    def xxh() -> float:
        t = time.perf_counter()
        xxhash.xxh3_128_hexdigest(buf)
        return time.perf_counter() - t

    gb = len(buf) / 1e9
    return gb / _median(lambda: timed("value"), repeat), gb / _median(lambda: timed("row"), repeat), \
        gb / _median(xxh, repeat)


def store_roundtrip(values: list, encrypt: bool, repeat: int) -> tuple[float, float]:
    """(put seconds, load seconds) for all ``values``."""
    puts, loads = [], []
    key = StoreKey(hashlib.blake2b(b"bench").digest(), "bench")
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="ripple-crypto-", dir=Path.cwd()))
        try:
            with Store(root / "s", key=key, encrypt=encrypt) as st:
                t = time.perf_counter()
                with st.batch():
                    entries = [st.put(f"k{i}", "n", f"dv{i}", "cv", v) for i, v in enumerate(values)]
                puts.append(time.perf_counter() - t)
            with Store(root / "s", key=key, encrypt=encrypt) as st:
                fresh = [st.get(e.key) for e in entries]
                t = time.perf_counter()
                for e in fresh:
                    st.load(e)
                loads.append(time.perf_counter() - t)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return statistics.median(puts), statistics.median(loads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="small values (default 2000)")
    ap.add_argument("--mb", type=int, default=100, help="size of the large array in MB (default 100)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import numpy as np

    value, row, xxh = mac_throughput(args.mb, args.repeat)
    print(f"mac    HMAC-SHA256 {value:5.2f} GB/s   keyed BLAKE2b {row:5.2f} GB/s   xxh3 {xxh:6.2f} GB/s   "
          f"({args.mb} MB buffer)")
    small = [{"i": i, "name": f"value {i}"} for i in range(args.n)]
    large = [np.arange(args.mb * (1 << 20) // 8, dtype=np.int64)]
    for label, values, unit, per in (("small", small, "us/value", args.n), ("large", large, "ms", 1)):
        scale = 1e6 / per if unit.startswith("us") else 1e3
        plain = store_roundtrip(values, False, args.repeat)
        enc = store_roundtrip(values, True, args.repeat)
        print(f"{label:6} put {plain[0] * scale:8.1f} -> {enc[0] * scale:8.1f} {unit} encrypted   "
              f"load {plain[1] * scale:8.1f} -> {enc[1] * scale:8.1f} {unit} encrypted")


if __name__ == "__main__":
    main()
