from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from engine import events as ev
from engine.cli._common import EPILOG, _pipeline_args
from engine.cli._select import add_lineage_arg
from engine.cli._watch_views import _JsonView, _LiveView, _PlainView
from engine.errors import UsageError
from engine.live.loop import WatchLoop
from engine.live.watcher import DEFAULT_DEBOUNCE


def watch_command(args: Any) -> int:
    """``ripple watch PIPELINE``: run once, then on every save; Ctrl-C ends it with status 0."""
    from engine.cli._common import run_request

    if getattr(args, "debounce", None) is not None and not args.debounce >= 0:
        raise UsageError(f"--debounce {args.debounce} must be 0 or more seconds, e.g. --debounce 0.2.")
    request = run_request(args, capture_output=True, plan_events=True)  # announced as one "plan:" line
    once = bool(getattr(args, "once", False))
    live: _LiveView | None = None
    if getattr(args, "json", False):
        view: Callable[[ev.Event], None] = _JsonView()
    elif sys.stdout.isatty() and not os.environ.get("CI"):
        live = _LiveView()
        view = live
    else:
        view = _PlainView()
    if not getattr(args, "json", False):  # JSON lines carry the node_planned events themselves
        from engine.cli._progress import PlanAnnouncer

        view = PlanAnnouncer(view)
    debounce = args.debounce if getattr(args, "debounce", None) is not None else DEFAULT_DEBOUNCE
    loop = WatchLoop(request, view, debounce=debounce, let_finish=bool(getattr(args, "let_finish", False)))

    # Why a flag and polling instead of KeyboardInterrupt: an interrupt raised inside
    # threading's lock internals can leave a lock half-released and print a traceback.
    stop_requested: list[int] = []

    def _request_stop(signum: int, _frame: Any) -> None:
        stop_requested.append(signum)

    old_int = signal.signal(signal.SIGINT, _request_stop)
    old_term = signal.signal(signal.SIGTERM, _request_stop)
    code = 0
    try:
        if live is not None:
            live.live.start()
        loop.start()
        while not stop_requested:
            if once and loop.wait_idle(0):
                out = loop.outcomes[-1] if loop.outcomes else None
                code = {"ok": 0, "failed": 1, "crashed": 1, "error": 2}.get(out.status if out else "error", 1)
                break
            time.sleep(0.05)
    finally:
        try:
            loop.stop()
        finally:
            if live is not None:
                live.live.stop()
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
    return code


def cmd_watch(args: argparse.Namespace) -> int:

    return watch_command(args)


def register(sub: Any) -> None:
    p = sub.add_parser("watch", help="re-run exactly what each save affects (headless)", epilog=EPILOG,
                       description="Run PIPELINE once, then again on every save of its code or data files, "
                                   "re-running only what the change affects. Ctrl-C stops it (exit status 0).")
    _pipeline_args(p, select=True)
    add_lineage_arg(p)
    p.add_argument("--debounce", type=float, default=None, metavar="SECONDS", help="quiet time that ends a burst of writes (default 0.05; a single code save starts at once)")
    p.add_argument("--let-finish", action="store_true", help="a save during a run queues instead of cancelling it")
    p.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_watch)
