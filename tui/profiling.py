"""``p`` in the dashboard: profile the selected node in a thread worker, show it on the UI thread.

The worker only calls the profiler (by default ``ripple profile --json`` in a child process, so the
dashboard never imports user code) and posts a :class:`ProfileDone`; widgets are touched only by
the app's message handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import TabbedContent

from tui.backend.profiler import ProfileResult, profile_in_child

if TYPE_CHECKING:
    from tui.app import RippleApp


class ProfileDone(Message):
    """Posted from the profile worker thread; the UI thread shows it (workers never touch widgets)."""

    def __init__(self, result: ProfileResult) -> None:
        super().__init__()
        self.result = result


def profiler_for(app: RippleApp) -> Callable[[str], ProfileResult] | None:
    """The app's injected profiler, else ``ripple profile`` in a child with the controller's settings."""
    if app.profiler is not None:
        return app.profiler
    settings = getattr(app.controller, "settings", None)
    if settings is None:
        return None
    return lambda node: profile_in_child(settings, node)


def start(app: RippleApp) -> None:
    node, profiler = app._selected_node(), profiler_for(app)
    if node is None or profiler is None or app.model.profiling:
        return
    app.model.profiling = node
    app.query_one("#side", TabbedContent).active = "tab-bottlenecks"
    app._refresh_static(force=True)
    app.refresh_bindings()

    def work() -> None:
        try:
            result = profiler(node)
        except Exception as exc:  # noqa: BLE001 - shown in the tab, never raised into the worker
            result = ProfileResult(node, error=f"{type(exc).__name__}: {exc}")
        app.post_message(ProfileDone(result))

    app.run_worker(work, thread=True, exclusive=True, group="profile", name=f"profile {node}")


def done(app: RippleApp, message: ProfileDone) -> None:
    app.model.profile = message.result
    app.model.profiling = None
    try:
        app._refresh_static(force=True)
        sel = app._selected_node()
        if sel is not None:
            app._show_details(sel, source=True)
    except NoMatches:
        return  # the app is shutting down
    app.refresh_bindings()
