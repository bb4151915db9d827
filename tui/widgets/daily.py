"""Everyday dashboard keys and a footer that fits any terminal.

* ``DailyApp``, the base of ``RippleApp``: tabs switch with their own keys (``1``-``4``, and ``d``,
  ``b``, ``l`` for Details, Bottlenecks and Log), ``enter`` on a node opens its Details, ``f`` folds
  the selected node's module wherever focus is, and the node-state colours follow the theme (light
  themes get darker shades, so no state colour is pale text on a pale background).
* ``DailyFooter``: below ``WIDE`` columns the labels shorten and the keys pack tighter, so at 80
  columns every key stays visible (``?`` lists them all with their full names).
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.widgets import Footer, TabbedContent

from tui.widgets.dag_view import DagView

#: below this width the footer uses SHORT labels, compact keys and no palette hint
WIDE = 120
SHORT = {"Fold module": "Fold", "Recompute": "Redo", "Resume": "Resume", "Profile": "Prof", "Filter": "Find",
         "Watch": "Watch", "Graph": "Graph"}

TABS = {"details": "tab-details", "bottlenecks": "tab-bottlenecks", "failure": "tab-failure", "log": "tab-log"}

#: node-state colours for light themes: the dark-theme shades are too pale on white (≥ 4.5:1 here)
LIGHT_NODE_STATE_COLOURS = {
    "node-pending": "#454b55",
    "node-running": "#08559f",
    "node-cached": "#18603f",
    "node-ran": "#2a600f",
    "node-failed": "#b3141b",
    "node-skipped": "#7a5200",
    "node-stale": "#7b2f9e",
    "node-upstream": "#005f87",
    "node-downstream": "#6a1b9a",
    "dag-text": "#1f1f1f",
    "dag-muted": "#4a4f57",
    "dag-cursor": "#9cb1c0",
}
#: the ancestors/descendants highlight of the selection on dark themes (the states are ``RippleApp``'s)
DARK_LINEAGE_COLOURS = {"node-upstream": "#FEA62B", "node-downstream": "#D7A6FF",
                        # used by the -light-mode rules of ripple.tcss only; defined so every theme parses
                        "dag-text": "#e0e0e0", "dag-muted": "#9a9a9a", "dag-cursor": "#0c304c"}

TAB_KEYS_HELP = "[b]1 2 3 4[/b] (or [b]d b F l[/b])  the Details, Bottlenecks, Failure, Log tabs;  [b]enter[/b] on a node  its Details"


class DailyApp(App[int]):
    """Keys every tab and focus can use; ``RippleApp`` adds the rest."""

    BINDINGS = [
        Binding("1,d", "show_tab('details')", "Details", show=False),
        Binding("2,b", "show_tab('bottlenecks')", "Bottlenecks", show=False),
        Binding("3,F", "show_tab('failure')", "Failure", show=False),
        Binding("4,l", "show_tab('log')", "Log", show=False),
        Binding("f", "fold", "Fold module", show=False),
    ]

    #: the dark-theme colours (``RippleApp`` sets them)
    NODE_STATE_DARK: dict[str, str] = {}

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """Node colours by the theme: darker shades on a light theme (Textual asks on every theme change)."""
        if not self.current_theme.dark:
            return dict(LIGHT_NODE_STATE_COLOURS)
        return {**self.NODE_STATE_DARK, **DARK_LINEAGE_COLOURS}

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


class DailyFooter(Footer):
    """A footer whose keys all fit: short labels and compact keys below ``WIDE`` columns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._narrow: bool | None = None

    def _is_narrow(self) -> bool:
        width = self.app.size.width if self.is_attached else WIDE
        return width < WIDE

    def on_mount(self) -> None:
        self._apply(self._is_narrow())

    def _apply(self, narrow: bool) -> None:
        self._narrow = narrow
        self.compact = narrow
        self.show_command_palette = not narrow

    def compose(self) -> Any:
        narrow = self._is_narrow()
        for item in super().compose():
            if narrow and getattr(item, "description", None):
                item.description = SHORT.get(item.description, item.description)
            yield item

    def on_resize(self, _: Any) -> None:
        narrow = self._is_narrow()
        if narrow != self._narrow:
            self._apply(narrow)
            self.call_after_refresh(self.recompose)
