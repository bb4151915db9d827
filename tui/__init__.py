"""Ripple's dashboard (``ripple tui``): a Textual view over the engine's event stream; see ``tui.app``."""
