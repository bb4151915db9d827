"""Watch-mode latency: time from a file write to the first affected node starting in the child.

Measured end to end with the real pieces — watchdog observer, the watcher's settle (a single save)
or debounce (a burst), the parent's ast change analysis, a fork of the warm worker, a fresh import
of the pipeline, graph build, cache lookups of everything upstream — as ``node_started.t - time of
the write``, for both kinds of save: ``inplace`` (open, truncate, write, close: what most editors
and ``Path.write_text`` do) and ``atomic`` (write a temp file, rename it over the original). Each
line also splits the p50 into where the time went: ``analysed`` (the watcher reported the change),
``child`` (the run's first event, the graph description, after the fork and the import of the
pipeline and the graph build), ``run`` (the run started: cache opened) and ``node`` (the first
affected node started, after the cache lookups of everything upstream).

Scenarios:
* ``demo``: a copy of ``demo_pipeline/`` (pandas) in a temp folder; each save edits a node's code
  (``products`` in ``clean.py``) so it and its dependents are affected.
* ``gen1000``: a generated pipeline of 10 modules x 100 small functions (1,000 nodes); each save
  edits one function in the middle of ``m5.py``.
* ``startup``: spawn-from-scratch vs warm-worker fork, time from ``IsolatedRun.start()`` to the
  first event, for a pipeline that imports pandas.

Run: ``python bench/bench_watch.py [--saves 30] [--only demo,gen1000,startup] [--saves-as inplace,atomic]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Measure what a user gets: Python caches bytecode, so an unchanged module is not recompiled per run.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.path.insert(0, str(ROOT))

from engine import events as ev  # noqa: E402
from engine.live.isolated import IsolatedRun  # noqa: E402
from engine.live.loop import WatchLoop  # noqa: E402
from engine.live.protocol import RunRequest  # noqa: E402
from engine.live.watcher import DEFAULT_DEBOUNCE, SETTLE_SECONDS, ChangeSet  # noqa: E402
from engine.live.worker import WarmWorker  # noqa: E402


class Probe:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.started: list[ev.NodeStarted] = []
        self.changes: list[ChangeSet] = []
        self.changed_at: list[float] = []
        self.events: list[ev.Event] = []
        self.finished = 0

    def on_event(self, e: ev.Event) -> None:
        with self.cond:
            if e.run_id != "watch":
                self.events.append(e)
            if isinstance(e, ev.NodeStarted):
                self.started.append(e)
            elif isinstance(e, ev.RunFinished):
                self.finished += 1
            self.cond.notify_all()

    def on_change(self, cs: ChangeSet) -> None:
        with self.cond:
            self.changed_at.append(time.time())
            self.changes.append(cs)
            self.cond.notify_all()

    def wait(self, pred, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("bench step timed out")
                self.cond.wait(left)


def save(target: Path, text: str, mode: str) -> None:
    if mode == "atomic":
        tmp = target.with_name(f".{target.name}.tmp")  # an ignored name, as editors use
        tmp.write_text(text)
        os.replace(tmp, target)
    else:
        target.write_text(text)


def measure(folder: Path, pipeline: str, target: Path, edits: list[tuple[str, str]], saves: int,
            debounce: float, mode: str, offset: int = 0) -> list[dict[str, float]]:
    """Per save: seconds from the write to each phase (see the module docstring). Edits are numbered
    from ``offset``, so that no save brings back code an earlier measurement cached."""
    probe = Probe()
    loop = WatchLoop(RunRequest(pipeline, cwd=str(folder), cache_dir=str(folder / ".ripple")), probe.on_event,
                     on_change=probe.on_change, debounce=debounce)
    loop.start()
    probe.wait(lambda: probe.finished >= 1, 300)
    loop.wait_idle(300)
    text = target.read_text()
    rows: list[dict[str, float]] = []
    try:
        for i in range(saves + 1):  # the first save warms the cache for the edited version scheme
            old, new = edits[i % len(edits)]
            n_changes, n_started, n_events = len(probe.changes), len(probe.started), len(probe.events)
            t_write = time.time()
            save(target, text.replace(old, new.format(i=offset + i)), mode)
            probe.wait(lambda n=n_changes: len(probe.changes) > n)
            cs = probe.changes[-1]
            affected = set(cs.affected_nodes or ())
            probe.wait(lambda n=n_started, a=affected: any(s.node in a for s in probe.started[n:]))
            first = next(s for s in probe.started[n_started:] if s.node in affected)
            run = [e for e in probe.events[n_events:] if e.run_id == first.run_id]
            started = next(e for e in run if isinstance(e, ev.RunStarted))
            if i:
                rows.append({"analysed": probe.changed_at[-1] - t_write, "child": run[0].t - t_write,
                             "run": started.t - t_write, "node": first.t - t_write})
            loop.wait_idle(60)
            time.sleep(0.1)  # quiet: the next save is a single save, not part of a burst
    finally:
        target.write_text(text)
        loop.stop()
    return rows


def report(name: str, rows: list[dict[str, float]]) -> None:
    lat_ms = sorted(r["node"] * 1000 for r in rows)
    p50 = statistics.median(lat_ms)
    p95 = lat_ms[min(len(lat_ms) - 1, int(round(0.95 * (len(lat_ms) - 1))))]
    phases = "  ".join(f"{k} {statistics.median(r[k] for r in rows) * 1000:5.1f}" for k in ("analysed", "child", "run"))
    print(f"{name:18s} n={len(lat_ms):3d}  p50={p50:6.1f} ms  p95={p95:6.1f} ms  "
          f"min={lat_ms[0]:6.1f}  max={lat_ms[-1]:6.1f}   (p50 ms after the write: {phases})", flush=True)


def bench_demo(saves: int, debounce: float, modes: list[str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ripple-bench-watch-"))
    try:
        shutil.copytree(ROOT / "demo_pipeline", tmp / "demo_pipeline",
                        ignore=shutil.ignore_patterns("__pycache__", ".ripple"))
        target = tmp / "demo_pipeline" / "clean.py"
        old = "return frame.reset_index(drop=True)"
        assert old in target.read_text()
        edits = [(old, "return frame.reset_index(drop=True) if {i} >= 0 else frame")]
        for k, mode in enumerate(modes):
            report(f"demo {mode}", measure(tmp, "demo_pipeline", target, edits, saves, debounce, mode, k * 1000))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def generate(folder: Path, modules: int = 10, per: int = 100) -> None:
    pkg = folder / "gen1000"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""Generated: 1,000 small nodes in 10 modules."""\n')
    (pkg / "helpers.py").write_text("SCALE = 3\n\n\ndef _mix(a: int, b: int) -> int:\n    return (a * SCALE + b) % 1_000_003\n")
    for m in range(modules):
        lines = ['"""Generated module."""\n', "from .helpers import _mix\n"]
        for j in range(per):
            name = f"n{m}_{j}"
            if j == 0:
                params = f"n{m - 1}_{per - 1}: int" if m else ""
                body = f"return _mix({f'n{m - 1}_{per - 1}' if m else 1}, {j})"
            else:
                prev = f"n{m}_{j - 1}"
                extra = f"n{m - 1}_{j}" if m and j % 10 == 0 else None
                params = f"{prev}: int" + (f", {extra}: int" if extra else "")
                body = f"return _mix({prev}, {extra or j})"
            lines.append(f"\n\ndef {name}({params}) -> int:\n    \"\"\"Node {name}.\"\"\"\n    x = {j}\n    {body} + x * 0\n")
        (pkg / f"m{m}.py").write_text("".join(lines))


def bench_gen(saves: int, debounce: float, modes: list[str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ripple-bench-watch-"))
    try:
        generate(tmp)
        target = tmp / "gen1000" / "m5.py"
        edits = [("    x = 50\n", "    x = 50 + {i} * 0\n")]
        for k, mode in enumerate(modes):
            report(f"gen1000 {mode}", measure(tmp, "gen1000", target, edits, saves, debounce, mode, k * 1000))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_startup(rounds: int = 8) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ripple-bench-watch-"))
    try:
        (tmp / "pd_pipe.py").write_text("import pandas as pd\n\n\ndef frame() -> pd.DataFrame:\n"
                                        "    return pd.DataFrame({'a': [1, 2, 3]})\n")
        req = RunRequest("pd_pipe.py", cwd=str(tmp), no_cache=True)
        worker = WarmWorker("pd_pipe.py", cwd=str(tmp))
        worker.wait_ready(60)
        try:
            for label, w in (("spawn", None), ("warm fork", worker)):
                times = []
                for _ in range(rounds):
                    first = threading.Event()
                    run = IsolatedRun(req, lambda e, f=first: f.set(), worker=w)
                    t0 = time.perf_counter()
                    run.start()
                    first.wait(60)
                    times.append((time.perf_counter() - t0) * 1000)
                    run.wait(60)
                print(f"{'startup ' + label:18s} first event after p50={statistics.median(times):6.1f} ms "
                      f"(min {min(times):.1f}, max {max(times):.1f}) [pipeline imports pandas; "
                      f"preloaded: {', '.join(worker.preload)}]", flush=True)
        finally:
            worker.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--saves", type=int, default=30)
    ap.add_argument("--debounce", type=float, default=DEFAULT_DEBOUNCE)
    ap.add_argument("--only", default="startup,demo,gen1000")
    ap.add_argument("--saves-as", default="inplace,atomic", help="inplace (write in place), atomic (rename), or both")
    args = ap.parse_args()
    only = set(args.only.split(","))
    modes = [m for m in args.saves_as.split(",") if m]
    assert set(modes) <= {"inplace", "atomic"}, modes
    print(f"python {sys.version.split()[0]}, debounce {args.debounce * 1000:.0f} ms (bursts only), "
          f"settle {SETTLE_SECONDS * 1000:.0f} ms, {args.saves} saves per scenario and kind of save")
    if "startup" in only:
        bench_startup()
    if "demo" in only:
        bench_demo(args.saves, args.debounce, modes)
    if "gen1000" in only:
        bench_gen(args.saves, args.debounce, modes)


if __name__ == "__main__":
    main()
