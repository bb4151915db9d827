"""Dashboard benchmarks (not a test): render cost of the DAG view and key latency under an event flood.

    python bench/bench_tui.py

1. Visible-row render time for 2,000- and 5,000-node DAGs at 120x40: a full repaint of the DAG view
   with a cold strip cache (the worst case: after a resize or a state filter), and the common case of
   a tick that touches 5% of the nodes. Target <= 16 ms.
2. Keypress latency while a producer thread pushes 10,000 events/s into the buffer (a 5,000-node run
   starting and finishing nodes): time from ``pilot.press("down")`` until the cursor moved, measured
   repeatedly during the flood. Target <= 100 ms. The key is posted as the driver would post it
   (``events.Key`` into the app's queue); ``pilot.press`` would add ~100 ms of its own idle-waiting.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events  # noqa: E402

from engine import events as ev  # noqa: E402
from tui.app import create_app  # noqa: E402
from tui.backend.replay import ReplayController  # noqa: E402
from tui.state.graph import GraphInfo, NodeInfo  # noqa: E402
from tui.widgets.dag_view import DagView  # noqa: E402


def make_graph(n: int) -> GraphInfo:
    """Layered random-ish DAG: width ~sqrt(n), 1-3 parents from the previous layers, 10 modules."""
    import random

    rng = random.Random(7)
    names = [f"node_{i:05d}" for i in range(n)]
    width = max(int(n ** 0.5), 1)
    nodes = []
    for i, name in enumerate(names):
        layer = i // width
        deps: tuple[str, ...] = ()
        if layer:
            pool = names[max(0, (layer - 2) * width): layer * width]
            deps = tuple(sorted(set(rng.sample(pool, min(len(pool), rng.randint(1, 3))))))
        nodes.append(NodeInfo(name, module=f"pipe.mod{i * 10 // n}", file="", line=i, deps=deps))
    return GraphInfo(nodes, names, pipeline=f"bench{n}")


async def bench_render(n: int) -> dict[str, float]:
    graph = make_graph(n)
    start = [ev.RunStarted("r", 0.0, nodes=graph.order)]
    start += [ev.NodeFinished("r", 0.0, node=x, seconds=0.01) for x in graph.order[: n // 2]]
    controller = ReplayController([start], graph=graph)
    app = create_app(graph, controller=controller, clock=lambda: 1.0, animations=False)
    out: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(20):
            await pilot.pause()
            if not len(controller.buffer):
                break
        dag = app.query_one(DagView)
        height = dag.size.height
        cold: list[float] = []
        for _ in range(30):
            dag._cache.clear()
            t = time.perf_counter()
            for y in range(height):
                dag.render_line(y)
            cold.append((time.perf_counter() - t) * 1000)
        warm: list[float] = []
        names = graph.order
        for k in range(30):
            dirty = set(names[k::20])  # 5% of the nodes
            for name in dirty:
                st = app.model.state_of(name)
                st.state = "ran" if st.state != "ran" else "cached"
            t = time.perf_counter()
            dag.refresh_nodes(dirty)
            for y in range(height):
                dag.render_line(y)
            warm.append((time.perf_counter() - t) * 1000)
        # a whole tick: fold 670 events (10k/s at 15 Hz) and repaint what changed
        tick: list[float] = []
        for k in range(20):
            batch = [ev.NodeStarted("r", 0.0, node=names[(k * 670 + i) % n]) for i in range(670)]
            controller.buffer.extend(batch)
            t = time.perf_counter()
            app._tick()
            for y in range(height):
                dag.render_line(y)
            tick.append((time.perf_counter() - t) * 1000)
        out = {
            "visible rows": float(height),
            "cold repaint ms (median)": statistics.median(cold),
            "cold repaint ms (max)": max(cold),
            "5% dirty repaint ms (median)": statistics.median(warm),
            "tick of 670 events + repaint ms (median)": statistics.median(tick),
            "tick of 670 events + repaint ms (max)": max(tick),
        }
    return out


async def bench_key_latency(n: int = 5000, rate: int = 10_000, seconds: float = 3.0) -> dict[str, float]:
    graph = make_graph(n)
    controller = ReplayController([[ev.RunStarted("r", 0.0, nodes=graph.order)]], graph=graph)
    app = create_app(graph, controller=controller, animations=False)
    lat: list[float] = []
    pushed = 0
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        stop = threading.Event()

        def flood() -> None:
            nonlocal pushed
            names = graph.order
            i = 0
            chunk = rate // 100
            next_t = time.perf_counter()
            while not stop.is_set():
                for _ in range(chunk):
                    name = names[i % n]
                    e: Any = (ev.NodeStarted("r", time.time(), node=name) if (i // n) % 2 == 0
                              else ev.NodeFinished("r", time.time(), node=name, seconds=0.001))
                    controller.buffer.push(e)
                    i += 1
                pushed = i
                next_t += 0.01
                time.sleep(max(0.0, next_t - time.perf_counter()))

        producer = threading.Thread(target=flood, daemon=True)
        producer.start()
        dag = app.query_one(DagView)
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            before = dag.cursor
            key = "down" if before < len(dag.rows) - 1 else "home"
            t = time.perf_counter()
            # the path a real keypress takes: a Key event into the app's queue, forwarded to the focus
            app.post_message(events.Key(key, None))
            while dag.cursor == before:
                await asyncio.sleep(0.0005)
            lat.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.03)
        stop.set()
        producer.join()
        wall = seconds
    return {
        "events pushed": float(pushed),
        "events/s": pushed / wall,
        "key latency ms (median)": statistics.median(lat),
        "key latency ms (p95)": sorted(lat)[int(len(lat) * 0.95) - 1],
        "key latency ms (max)": max(lat),
        "ticks": float(app.ticks),
    }


def main() -> None:
    for n in (2000, 5000):
        res = asyncio.run(bench_render(n))
        print(f"DAG view, {n} nodes, 120x40:")
        for k, v in res.items():
            print(f"  {k:<44} {v:8.2f}")
    res = asyncio.run(bench_key_latency())
    print("Key latency, 5,000 nodes, producer at 10,000 events/s for 3 s:")
    for k, v in res.items():
        print(f"  {k:<44} {v:10.2f}")


if __name__ == "__main__":
    main()
