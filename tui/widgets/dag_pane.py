"""The left pane: the DAG as a list or as a drawn graph, ``g`` swapping one for the other in place.

Both views read the same model and share one selection: choosing a node in the graph selects it in
the list (whose ``NodeSelected`` drives the side panel, as before), and a selection made in the
list moves the graph's cursor. The pane owns both children, so the swap lives here and not in
the app.
"""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.containers import Vertical

from tui.widgets.dag_view import DagView
from tui.widgets.graph_view import GraphView


class DagPane(Vertical):
    BINDINGS = [Binding("g", "toggle_graph", "Graph", show=False)]

    def action_toggle_graph(self) -> None:
        dag, view = self.query_one(DagView), self.query_one(GraphView)
        showing = not view.display
        view.display, dag.display = showing, not showing
        if showing:
            view.rebuild()  # laid out only now, and only if the structure changed since last time
            if dag.selected:
                view.select(dag.selected)
            view.focus()
        else:
            if view.cursor:
                dag.select(view.cursor)
            dag.focus()

    @on(GraphView.NodeSelected)
    def _chosen(self, message: GraphView.NodeSelected) -> None:
        message.stop()
        dag = self.query_one(DagView)
        # run in the list's own message pump: Textual never bubbles a message back to the widget
        # that posted it, so a selection posted from here would not reach the app
        dag.call_later(dag.select, message.name)

    @on(DagView.NodeSelected)
    def _follow(self, message: DagView.NodeSelected) -> None:
        view = self.query_one(GraphView)  # the message goes on to the app, which shows the details
        if view.display and view.cursor != message.name:
            view.select(message.name)
        else:
            view.cursor = message.name
