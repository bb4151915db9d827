from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from engine.cli._common import _CACHE_DIR_HELP, _STORE_HELP, EPILOG, _positive_int
from engine.cli._run_bottlenecks import cmd_bottlenecks
from engine.cli._run_diff import cmd_diff
from engine.cli._run_show import add_show_args, cmd_show
from engine.cli.cache import _store_for
from engine.errors import UsageError

if TYPE_CHECKING:
    pass


def runs_command(args: argparse.Namespace) -> int:
    from rich.table import Table

    store, _ = _store_for(args)
    status = getattr(args, "status", None)
    with store:
        runs = store.runs(limit=max(store.history_limit, args.limit) if status else args.limit)
        if status:
            runs = [r for r in runs if r.status == status][: args.limit]
        failed_node = {r.run_id: _failed_node(store, r.run_id) for r in runs if r.failed}
    if args.json:
        print(json.dumps([{**r.__dict__, "failed_node": failed_node.get(r.run_id)} for r in runs], default=str))
        return 0
    table = Table(show_edge=False)
    for col in ("run", "started", "pipeline", "outputs", "status", "ran", "cached", "failed", "failed node", "s"):
        folds = col in ("pipeline", "outputs", "failed node")
        table.add_column(col, overflow="fold" if folds else "ellipsis", no_wrap=not folds,
                         justify="right" if col in ("ran", "cached", "failed", "s") else "left")
    for r in runs:
        outputs = ", ".join(r.outputs[:3]) + (f" (+{len(r.outputs) - 3})" if len(r.outputs) > 3 else "")
        table.add_row(r.run_id, time.strftime("%m-%d %H:%M:%S", time.localtime(r.started)), r.pipeline or "",
                      outputs, r.status, str(r.ran), str(r.cached), str(r.failed), failed_node.get(r.run_id) or "",
                      f"{r.seconds:.2f}" if r.seconds is not None else "")
    from engine.cli._common import _console

    _console().print(table)
    return 0


def _failed_node(store: Any, run_id: str) -> str | None:
    """The first node that failed in a run (the one its dependents were skipped for)."""
    return next((n.node for n in store.run_nodes(run_id) if n.status == "failed"), None)


def cmd_runs(args: argparse.Namespace) -> int:
    action = ACTIONS.get(args.pipeline or "")
    if action is not None:
        return action(args)
    if args.run_ids:
        raise UsageError(f"unknown runs action {args.pipeline!r}; use one of {', '.join(ACTIONS)}, "
                         "or `ripple runs [PIPELINE]` to list runs.")
    return runs_command(args)


#: ``ripple runs ACTION ...`` by name; any other first word is a pipeline whose runs to list
ACTIONS = {"show": cmd_show, "diff": cmd_diff, "bottlenecks": cmd_bottlenecks}


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="recent runs from the history", epilog=EPILOG,
                       description="List recent runs recorded in the store, newest first.")
    p.add_argument("pipeline", nargs="?", help=_STORE_HELP)
    p.add_argument("--cache-dir", metavar="DIR", help=_CACHE_DIR_HELP)
    p.add_argument("--limit", type=_positive_int, default=20, metavar="N", help="how many runs to show (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--status", choices=("ok", "failed", "cancelled", "running"),
                   help="list only runs that ended so, e.g. --status failed")
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID",
                   help="`ripple runs show RUN_ID`: one run node by node; `ripple runs diff A B`: what changed between "
                        "two runs; `ripple runs bottlenecks [RUN_ID]`: where its time went "
                        "(an id, a unique prefix, or last)")
    add_show_args(p)
    p.set_defaults(func=cmd_runs)
