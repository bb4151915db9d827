from __future__ import annotations

import argparse
from typing import Any

from engine.cli._common import EPILOG, _pipeline_args
from engine.cli._select import add_lineage_arg
from engine.errors import UsageError


def cmd_tui(args: argparse.Namespace) -> int:
    """The dashboard is a plugin of the CLI (entry point group ``ripple.commands``), so the engine never
    imports it: ``engine`` stays usable, and importable, without Textual."""
    import sys
    from importlib.metadata import entry_points

    if getattr(args, "json", False):
        raise UsageError("`ripple tui` draws a dashboard on a terminal and has no --json output; for JSON use "
                         "`ripple watch --json` (events, one per line) or `ripple run --json`.")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("`ripple tui` needs a terminal (here stdin or stdout is a pipe or a file); run it in a "
                         "terminal, or use `ripple watch` for plain output that can be piped.")
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
    p = sub.add_parser("tui", help="the live dashboard", epilog=EPILOG,
                       description="Open the live dashboard for PIPELINE on this terminal: the DAG with cache hits, "
                                   "timings, bottlenecks, failures and the log; it re-runs on saves (watch mode) "
                                   "unless --no-watch.")
    _pipeline_args(p, select=True)
    add_lineage_arg(p)
    p.add_argument("--no-watch", action="store_true", help="do not re-run on saves")
    p.set_defaults(func=cmd_tui)
