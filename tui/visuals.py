"""The dashboard's pictures wired to its drain loop: graph view, timeline, duration and run trends.

The app calls in at four points (each item drained, each repaint, the slow-panel cadence, a new
selection), so ``app.py`` stays the one place that decides *when*, and this the one that knows
*what* to repaint (the list/graph swap itself lives in ``widgets.dag_pane``). The graph is laid out only while its view is shown, and again only when the
graph's structure changed; past runs are read from the store on a worker thread and arrive through
the event buffer like everything else.
"""

from __future__ import annotations

from typing import Any

from tui.state.notices import GraphLoaded, RunEnded
from tui.state.run_model import ALL
from tui.state.timeline import RunClock, load_trends
from tui.widgets.graph_view import GraphView
from tui.widgets.timeline import DurationPlot, RunTrends, TimelineView


class Visuals:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.clock = RunClock()
        self._history_for: str | None = None

    def _q(self, selector: str, kind: type) -> Any:
        return self.app.query_one(selector, kind)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._q("#graph", GraphView).display = False
        self._q("#run-trends", RunTrends).display = False
        self._q("#durations", DurationPlot).display = False
        self._load_history()

    def _load_history(self) -> None:
        graph = self.app.model.graph
        store_dir = graph.store_dir
        if not store_dir or store_dir == self._history_for:
            return
        self._history_for = store_dir
        order = list(graph.order)
        buffer = self.app.controller.buffer
        self.app.run_worker(lambda: buffer.push(load_trends(store_dir, order)), thread=True,
                            exit_on_error=False, group="trends")

    # ---------------------------------------------------------------- the drain loop
    def apply(self, item: Any, now: float) -> None:
        if isinstance(item, RunEnded):
            self.clock.end_run(item.status)
        else:
            self.clock.apply(item, now)

    def refresh(self, items: list[Any], dirty: set[str], graph_changed: bool) -> None:
        """After the model took ``items``: repaint the graph's changed boxes, relayout if its
        structure changed (only while shown), and fetch the history of a newly loaded store."""
        view = self._q("#graph", GraphView)
        if graph_changed:
            if view.display:
                view.rebuild()
            else:
                view.drawing = None
            dirty = {ALL}
        if view.drawing is not None:
            view.refresh_nodes(dirty)
        if any(isinstance(i, GraphLoaded) for i in items):
            self._load_history()

    def tick(self) -> None:
        view = self._q("#graph", GraphView)
        if view.display:
            view.tick_spinners()

    def slow(self, now: float) -> None:
        """At the bottlenecks' cadence: the timeline (bars of running nodes grow) and the run trends."""
        self._q("#timeline", TimelineView).show(self.clock.timeline(now, self.app.model.graph.parents))
        trends = self._q("#run-trends", RunTrends)
        if trends.display:
            trends.show(self.clock.runs)

    def show_node(self, name: str) -> bool:
        """The selected node's durations; True when the plot is shown (the sparkline then steps aside)."""
        plot = self._q("#durations", DurationPlot)
        plot.show(name, self.clock.nodes.get(name, ()))
        return bool(plot.display)

    # ---------------------------------------------------------------- actions
    def toggle_trends(self) -> None:
        trends = self._q("#run-trends", RunTrends)
        trends.display = not trends.display
        if trends.display:
            trends.show(self.clock.runs)
