"""``ripple profile PIPELINE NODE``: where inside one node the time goes."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from engine.cli._common import EPILOG, _console, _driver, _kv, _stdout_to_stderr
from engine.core.inputs import typed_inputs


def _profile(args: argparse.Namespace) -> Any:
    from engine.analysis.profile import profile_node

    dr = _driver(args)
    inputs = typed_inputs(dr, _kv(args.input, "input"))
    command = "ripple run " + args.pipeline + (f" --cache-dir {args.cache_dir}" if args.cache_dir else "")
    return profile_node(dr, args.node, inputs, top=args.top, pyinstrument=False if args.no_pyinstrument else None,
                        command=command)


def cmd_profile(args: argparse.Namespace) -> int:
    if args.json:
        with _stdout_to_stderr() as out:
            prof = _profile(args)
            out.write(json.dumps(prof.to_dict(), default=str) + "\n")
        return 0
    prof = _profile(args)
    _print(_console(), prof)
    return 0


def _short(path: str) -> str:
    """Project files relative to here, installed ones from their package (``numpy/linalg/…``)."""
    for marker in ("site-packages" + os.sep, "dist-packages" + os.sep):
        if marker in path:
            return path.split(marker, 1)[1]
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith(".." + os.sep) else rel


def fmt_seconds(s: float) -> str:
    return f"{s * 1000:.0f}ms" if s < 1 else f"{s:.2f}s"


def _print(console: Any, prof: Any) -> None:
    from rich.table import Table

    console.print(f"[b]{prof.node}[/b] ({_short(prof.file)}:{prof.line}) ran in {fmt_seconds(prof.seconds)} "
                  f"on its cached inputs ({prof.samples} samples)")
    lines = Table(title="hottest lines (project code, time includes what they call)", title_justify="left",
                  show_edge=False)
    for col, just in (("share", "right"), ("time", "right"), ("where", "left"), ("code", "left")):
        lines.add_column(col, justify=just)  # type: ignore[arg-type]
    for h in prof.lines:
        lines.add_row(f"{h.share:.0%}", fmt_seconds(h.seconds), f"{_short(h.file)}:{h.line} {h.function}", h.code)
    console.print(lines)
    funcs = Table(title="top functions by self time", title_justify="left", show_edge=False)
    for col, just in (("self", "right"), ("total", "right"), ("calls", "right"), ("function", "left")):
        funcs.add_column(col, justify=just)  # type: ignore[arg-type]
    for f in prof.functions:
        where = f"{_short(f.file)}:{f.line} " if f.file and f.file != "~" else ""
        name = f"[b]{where}{f.function}[/b]" if f.project else f"{where}{f.function}"
        funcs.add_row(fmt_seconds(f.self_seconds), fmt_seconds(f.total_seconds), str(f.calls), name)
    console.print(funcs)
    if prof.pyinstrument:
        console.print("[b]call tree (pyinstrument)[/b]")
        console.print(prof.pyinstrument.strip("\n"), markup=False, highlight=False)


def register(sub: Any) -> None:
    p = sub.add_parser("profile", help="profile one node on its cached inputs: top functions and hot lines",
                       epilog=EPILOG,
                       description="Run NODE once on its cached inputs (nothing upstream runs, nothing is stored) "
                                   "under cProfile, and pyinstrument when installed, and show the functions and the "
                                   "lines of your code where the time goes.")
    p.add_argument("pipeline", help="a dotted module or package (demo_pipeline), a .py file or a folder")
    p.add_argument("node", help="the node to profile")
    p.add_argument("--config", action="append", metavar="K=V", help="config value (repeatable)")
    p.add_argument("--input", action="append", metavar="K=V", help="value of an external input (repeatable)")
    p.add_argument("--cache-dir", metavar="DIR", help="store location (default .ripple/ beside the pipeline)")
    p.add_argument("--top", type=int, default=15, metavar="N", help="rows per table (default 15)")
    p.add_argument("--no-pyinstrument", action="store_true", help="skip the pyinstrument call tree")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    p.set_defaults(func=cmd_profile)
