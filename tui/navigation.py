"""Keys that work wherever focus is: tabs switch with their own keys (``1``-``4``, and ``d``, ``b``,
``F``, ``l``), ``enter`` on a node opens its Details, ``f`` folds the selected node's module; and the
theme's colours. ``RippleApp`` builds on it."""

from __future__ import annotations

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.widgets import TabbedContent

from tui.palette import theme_variables
from tui.widgets.dag_view import DagView

TABS = {"details": "tab-details", "bottlenecks": "tab-bottlenecks", "failure": "tab-failure", "log": "tab-log"}

TAB_KEYS_HELP = "[b]1 2 3 4[/b] (or [b]d b F l[/b])  the Details, Bottlenecks, Failure, Log tabs;  [b]enter[/b] on a node  its Details"


class NavigableApp(App[int]):
    """Keys every tab and focus can use; ``RippleApp`` adds the rest."""

    BINDINGS = [
        Binding("1,d", "show_tab('details')", "Details", show=False),
        Binding("2,b", "show_tab('bottlenecks')", "Bottlenecks", show=False),
        Binding("3,F", "show_tab('failure')", "Failure", show=False),
        Binding("4,l", "show_tab('log')", "Log", show=False),
        Binding("f", "fold", "Fold module", show=False),
    ]

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variables(self.current_theme.dark)

    def action_show_tab(self, name: str) -> None:
        tab = TABS.get(name)
        if tab is not None:
            self.query_one("#side", TabbedContent).active = tab

    def action_fold(self) -> None:
        """``f`` wherever focus is (the DAG's own ``f`` wins while it has focus)."""
        dag = self.query_one(DagView)
        dag.action_fold()

    @on(DagView.NodeOpened)
    def _opened(self, message: DagView.NodeOpened) -> None:
        self.action_show_tab("details")
        show = getattr(self, "_show_details", None)
        if show is not None:
            show(message.name)
