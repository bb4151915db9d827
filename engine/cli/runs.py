from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from engine.cli._common import _CACHE_DIR_HELP, _STORE_HELP, EPILOG, _positive_int
from engine.cli.cache import _store_for

if TYPE_CHECKING:
    pass


def runs_command(args: argparse.Namespace) -> int:
    from rich.table import Table

    store, _ = _store_for(args)
    with store:
        runs = store.runs(limit=args.limit)
    if args.json:
        print(json.dumps([r.__dict__ for r in runs], default=str))
        return 0
    table = Table(show_edge=False)
    for col in ("run", "started", "status", "ran", "cached", "failed", "seconds"):
        table.add_column(col)
    for r in runs:
        table.add_row(r.run_id, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started)), r.status, str(r.ran),
                      str(r.cached), str(r.failed), f"{r.seconds:.2f}" if r.seconds is not None else "")
    from engine.cli._common import _console

    _console().print(table)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:

    return runs_command(args)


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="recent runs from the history", epilog=EPILOG,
                       description="List recent runs recorded in the store, newest first.")
    p.add_argument("pipeline", nargs="?", help=_STORE_HELP)
    p.add_argument("--cache-dir", metavar="DIR", help=_CACHE_DIR_HELP)
    p.add_argument("--limit", type=_positive_int, default=20, metavar="N", help="how many runs to show (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_runs)
