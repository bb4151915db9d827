"""A footer whose keys all fit any terminal: below ``WIDE`` columns the labels shorten and the keys
pack tighter, so at 80 columns every key stays visible (``?`` lists them all with their full names)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer

#: below this width the footer uses SHORT labels, compact keys and no palette hint
WIDE = 120
SHORT = {"Fold module": "Fold", "Recompute": "Redo", "Resume": "Resume", "Profile": "Prof", "Filter": "Find",
         "Watch": "Watch", "Graph": "Graph"}


class CompactFooter(Footer):
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
