"""For ``bench/bench_ab.py --printed``: one function of a 1,000-node pipeline in 10 files
(``bench_watch.generate``) edited, then run in a new process with a listener, so predictions are made
first as in the watch child or ``ripple run`` without ``-q``. Prints the ms to the edited node's
start (``to_first``) and of the whole ``execute``.

    python bench/bench_ab.py bench/ab/edit_gen1000.py /tmp/base . --rounds 21 --printed

Each run writes a new constant into the edited line (its value and its dependents' hold: one node
runs); each checkout keeps its own store."""

import os
import re
import sys
import tempfile
import time

HERE = os.path.join(tempfile.gettempdir(), "ripple-ab-gen1000")
if not os.path.exists(os.path.join(HERE, "gen1000", "m5.py")):  # once
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from pathlib import Path

    from bench_watch import generate

    os.makedirs(HERE, exist_ok=True)
    generate(Path(HERE))
path = os.path.join(HERE, "gen1000", "m5.py")
with open(path) as f:
    text = f.read()
with open(path, "w") as f:
    f.write(re.sub(r"    x = 50( \+ \d+ \* 0)?\n", f"    x = 50 + {time.time_ns() % 10**9} * 0\n", text))
sys.path.insert(0, HERE)

import engine  # noqa: E402
from engine import events as ev  # noqa: E402

store = os.path.join(HERE, ".store" + os.path.dirname(engine.__file__).replace(os.sep, "_"))
dr = engine.Driver({}, "gen1000").with_cache(store)
first: list[float] = []
dr.add_listener(lambda e: first.append(time.perf_counter()) if isinstance(e, ev.NodeStarted) and e.node == "n5_50"
                else None)
t0 = time.perf_counter()
dr.execute(["n9_99"])
t1 = time.perf_counter()
print(f"to_first {1e3 * (first[0] - t0):.1f} exec {1e3 * (t1 - t0):.1f}", file=sys.stderr)
