"""A ``Static`` whose height always follows its content."""

from __future__ import annotations

from textual.widgets import Static


class Panel(Static):
    """The auto-height text panes of the side panel and the header.

    Textual 8.2 caches a widget's box model under a counter that ``refresh(layout=True)`` bumps only
    when no layout is already pending. When the drain updates a pane twice and the screen lays out
    in between (which happens on a loaded machine), the second, taller content kept the first
    height and its last line was cut off. Bumping the counter on every layout refresh keeps the
    cached box model honest; remove this once Textual does it.
    """

    def refresh(self, *regions, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Panel:  # type: ignore[override]
        if layout and self._layout_required:
            self._layout_updates += 1
        super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        return self
