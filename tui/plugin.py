"""The dashboard as a ``ripple.commands`` plugin: ``ripple tui`` hands it a ready ``RunRequest``.

The CLI builds the request (flags, config, inputs, cache settings) and this module never imports
``engine.cli``, so the dashboard depends only on the engine's run protocol.
"""

from __future__ import annotations

from engine.live.protocol import RunRequest


def tui_command(request: RunRequest, *, watch: bool = True) -> int:
    """Open the dashboard on ``request.pipeline`` and start a run at once; exit 1 if the last run failed."""
    from tui.app import create_app
    from tui.backend.controller import Settings

    settings = Settings(**request.to_dict(), watch=watch)
    app = create_app(request.pipeline, settings=settings)
    app.run()
    return 1 if app.model.last_failed else 0
