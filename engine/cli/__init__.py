"""The ``ripple`` command line: argparse, stdout/stderr and exit codes. Nothing imports this package.

Exit status: 0 success, 1 a node failed, 2 usage or graph errors. Errors print one sentence with
the location, never a traceback of Ripple's internals (``RIPPLE_DEBUG=1`` shows it anyway).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from engine._version import __version__
from engine.cli._common import EPILOG, _one_line
from engine.errors import RippleError

COMMANDS = ("run", "plan", "graph", "show", "watch", "tui", "cache", "runs", "lineage", "import_make", "profile", "explain")
"""The command registry: each name is a module of this package with ``register(subparsers)``."""

MAIN_EPILOG = (
    "Run `ripple COMMAND --help` for a command's options, e.g. `ripple run --help`.\n"
    "A pipeline is a dotted module or package (demo_pipeline), a .py file or a folder.\n" + EPILOG
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the command line, only its command's module is imported and registered
    (each imports what its command needs: rich, the live or lineage side, ~40 ms for all of them
    on every ``ripple run``). Without a known command (``ripple --help``, a typo) all register,
    so help and "invalid choice" list every command."""
    parser = argparse.ArgumentParser(
        prog="ripple",
        description="Ripple: an incremental pipeline engine. Functions are nodes; only what changed re-runs.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ripple {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    first = next((a for a in argv or () if not a.startswith("-")), None)
    module = first.replace("-", "_") if first else None
    for name in (module,) if module in COMMANDS else COMMANDS:
        importlib.import_module(f"engine.cli.{name}").register(sub)
    return parser


class _CtrlC:
    """SIGINT policy for one ``ripple`` command.

    The first Ctrl-C raises ``KeyboardInterrupt`` in the ripple process only, so the run is cancelled
    cleanly (finished nodes stay cached, the history says "cancelled"). Worker processes forked by
    ``--executor processes`` inherit this handler and ignore the signal: the terminal sends Ctrl-C to
    the whole process group, and a worker must not die with a traceback of its queue internals —
    the parent decides. A second Ctrl-C while cancelling stops at once (our own worker processes are
    terminated first); the store is crash-safe, so that loses nothing that was committed.
    """

    #: read by engine.core.redact.real_interrupt: interrupts from this handler carry a mark
    marks_interrupts = True

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.count = 0
        self.previous: Any = None

    def __call__(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.pid:
            return
        self.count += 1
        if self.count == 1:
            # marked, so the run can tell this real Ctrl-C from a node that raises KeyboardInterrupt
            # itself (a node failure); see engine.core.redact.real_interrupt
            interrupt = KeyboardInterrupt()
            interrupt.ripple_signal = True  # type: ignore[attr-defined]
            raise interrupt
        mp = sys.modules.get("multiprocessing")
        if mp is not None:
            with contextlib.suppress(Exception):
                for child in mp.active_children():
                    child.terminate()
        with contextlib.suppress(Exception):
            sys.stderr.write("\nripple: interrupted again; stopped without waiting for running nodes.\n")
            sys.stderr.flush()
        os._exit(130)

    def __enter__(self) -> _CtrlC:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self)
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


class _StderrHandler:
    """Shows the engine's warnings as ``ripple: warning: ...`` on stderr when the user configured no
    logging of their own (with ``logging.basicConfig`` they go where the user said). Set up when
    the engine logs its first message: a run with nothing to report does not import ``logging``."""

    def __enter__(self) -> _StderrHandler:
        from engine._log import log

        self.logger: Any = None
        self.handler: Any = None
        log.when_bound(self._install)
        return self

    def _install(self, logger: Any) -> None:
        import logging

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:  # the stderr of the moment (pytest's capsys, a redirect), not the one at import
                    sys.stderr.write(f"ripple: {record.levelname.lower()}: {record.getMessage()}\n")
                except Exception:  # noqa: BLE001
                    self.handleError(record)

        self.logger = logger
        if not logging.getLogger().handlers and not logger.handlers:
            self.handler = _Handler(logging.WARNING)
            logger.addHandler(self.handler)

    def __exit__(self, *exc: Any) -> None:
        from engine._log import log

        log.forget(self._install)
        if self.handler is not None:
            self.logger.removeHandler(self.handler)


def console() -> int:
    """The ``ripple`` command (``[project.scripts]``): ``main`` in a process that exits when it returns,
    which a command may then end without the interpreter's final collections (``ripple run`` does,
    when no node ran in it: ``engine._gc.exit_unswept``)."""
    return main(process_ends=True)


def main(argv: Sequence[str] | None = None, *, process_ends: bool = False) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    args.process_ends = process_ends
    debug = bool(os.environ.get("RIPPLE_DEBUG"))
    try:
        from engine.cli._select import apply_project_defaults

        apply_project_defaults(args)
        with _CtrlC(), _StderrHandler():
            return int(args.func(args) or 0)
    except RippleError as exc:
        if debug:
            raise
        print(f"ripple: error: {_one_line(str(exc))}", file=sys.stderr)
        if getattr(args, "json", False) or getattr(args, "format", None) == "json":
            import json  # scripts reading stdout get the same error as data

            print(json.dumps({"status": "error", "error": {"message": exc.message, "file": exc.file,
                                                          "line": exc.line, "node": exc.node}}))
        return exc.exit_code
    except KeyboardInterrupt:
        print("ripple: interrupted; nodes that finished are cached, run the same command again to resume.",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        with contextlib.suppress(OSError):  # keep Python from complaining about the closed pipe at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug in Ripple: one line, not a traceback of its internals
        if debug:
            raise
        print(f"ripple: error: internal error in ripple {args.command}: {type(exc).__name__}: "
              f"{_one_line(str(exc))[:300]}; run again with RIPPLE_DEBUG=1 for the traceback and report it.",
              file=sys.stderr)
        return 1
