from __future__ import annotations

import argparse
from typing import Any

from engine.cli._common import EPILOG, _pipeline_args
from engine.errors import UsageError


def cmd_tui(args: argparse.Namespace) -> int:
    """The dashboard is a plugin of the CLI (entry point group ``ripple.commands``), so the engine never
    imports it: ``engine`` stays usable, and importable, without Textual."""
    from importlib.metadata import entry_points

    found = entry_points(group="ripple.commands", name="tui")
    if not found:
        raise UsageError("the dashboard is not installed; reinstall ripple (pip install -e .) to get `ripple tui`.")
    try:
        command = next(iter(found)).load()
    except ImportError as exc:
        raise UsageError(f"the dashboard cannot start ({exc}); reinstall ripple with its dependencies.") from None
    from engine.cli._common import run_request

    return int(command(run_request(args), watch=not getattr(args, "no_watch", False)) or 0)


def register(sub: Any) -> None:
    p = sub.add_parser("tui", help="the live dashboard", epilog=EPILOG)
    _pipeline_args(p)
    p.add_argument("--no-watch", action="store_true", help="do not re-run on saves")
    p.set_defaults(func=cmd_tui)
