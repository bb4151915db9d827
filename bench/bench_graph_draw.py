"""Graph view benchmark (not a test): a 300-node generated DAG drawn within the dashboard's frame budget.

    python bench/bench_graph_draw.py

The budget: Textual paints at most 60 frames a second (16.7 ms a frame) and the dashboard drains
its event buffer 15 times a second (66 ms a tick). Measured at 120x40 in a headless app:

1. layout + drawing of the whole graph (``engine.core.drawing.draw``): paid once per graph
   *structure* change (never for state changes); it must fit in one tick;
2. a full repaint of the visible rows with a cold strip cache (after a scroll, a resize or a
   selection move, which re-colours the lineage): must fit in one frame;
3. a tick that changes 5% of the nodes' states (their rows repainted): must fit in one frame.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.core.drawing import draw  # noqa: E402
from engine.events import RAN, RUNNING  # noqa: E402
from tui.app import create_app  # noqa: E402
from tui.backend.replay import ReplayController  # noqa: E402
from tui.state.graph import GraphInfo, NodeInfo  # noqa: E402
from tui.widgets.graph_view import GraphView  # noqa: E402

FRAME_MS = 1000 / 60
TICK_MS = 1000 / 15


def make_graph(n: int, seed: int = 7) -> GraphInfo:
    """Layered DAG about sqrt(n) wide, 1-3 parents from the two layers above, 5 modules."""
    rnd = random.Random(seed)
    width = max(int(n ** 0.5), 1)
    names = [f"node_{i:03d}" for i in range(n)]
    nodes = []
    for i, name in enumerate(names):
        layer = i // width
        pool = names[max(0, (layer - 2) * width): layer * width]
        deps = tuple(rnd.sample(pool, min(len(pool), rnd.randint(1, 3)))) if pool else ()
        nodes.append(NodeInfo(name, f"pkg.part{i * 5 // n}", deps=deps))
    return GraphInfo(nodes, names, pipeline="bench")


def _ms(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def bench(n: int = 300) -> dict[str, float]:
    graph = make_graph(n)
    parents = {k: graph.parents[k] for k in graph.order}
    groups = {k: graph.nodes[k].module for k in graph.order}
    draw(graph.order, parents, groups=groups)  # warm imports (networkx)
    out = {"draw_ms": _ms(lambda: draw(graph.order, parents, groups=groups), 9)}
    app = create_app(graph, controller=ReplayController([], graph=graph), clock=lambda: 0.0, animations=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view = app.query_one(GraphView)
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        ui = []
        for _ in range(5):  # what a graph change costs the UI thread: the layout itself is on a worker
            t0 = time.perf_counter()
            view.rebuild(force=True)
            ui.append((time.perf_counter() - t0) * 1000)
            await app.workers.wait_for_complete()
            await pilot.pause()
        out["ui_rebuild_ms"] = statistics.median(ui)
        assert view.drawing is not None
        out["width"], out["height"] = view.drawing.width, view.drawing.height
        rows = view.size.height
        rnd = random.Random(1)

        def full_frame() -> None:
            view._strips.clear()
            view.scroll_to(rnd.randint(0, max(view.drawing.width - 60, 0)),
                           rnd.randint(0, max(view.drawing.height - rows, 0)), animate=False, immediate=True)
            for y in range(rows):
                view.render_line(y)

        out["full_frame_ms"] = _ms(full_frame, 30)

        def tick() -> None:
            dirty = set(rnd.sample(graph.order, n // 20))
            for name in dirty:
                app.model.state_of(name).state = rnd.choice((RAN, RUNNING))
            view.refresh_nodes(dirty)
            for y in range(rows):
                view.render_line(y)  # cached rows are a dict hit; dirty ones are re-rendered

        out["tick_5pct_ms"] = _ms(tick, 30)
        out["select_ms"] = _ms(lambda: view.select(rnd.choice(graph.order)), 20)
    return out


def main() -> None:
    r = asyncio.run(bench())
    print(f"300-node graph drawn as {r['width']:.0f}x{r['height']:.0f} cells at 120x40")
    print(f"  layout + drawing (per structure change): {r['draw_ms']:7.1f} ms   budget one tick {TICK_MS:.0f} ms")
    print(f"  ... of which on the UI thread:           {r['ui_rebuild_ms']:7.2f} ms   (the layout runs on a worker)")
    print(f"  full repaint, cold strips:               {r['full_frame_ms']:7.2f} ms   budget one frame {FRAME_MS:.1f} ms")
    print(f"  tick changing 5% of the states:          {r['tick_5pct_ms']:7.2f} ms   budget one frame {FRAME_MS:.1f} ms")
    print(f"  cursor move (lineage re-coloured):       {r['select_ms']:7.2f} ms")


if __name__ == "__main__":
    main()
