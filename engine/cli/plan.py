from __future__ import annotations

import argparse
import json
from typing import Any

from engine.cli._common import EPILOG, _console, _driver, _kv, _pipeline_args, _stdout_to_stderr
from engine.core.inputs import resolve_outputs, typed_inputs


def cmd_plan(args: argparse.Namespace) -> int:
    if args.json:
        with _stdout_to_stderr() as out:
            dr = _driver(args)
            outputs = resolve_outputs(dr, args.outputs)
            rows = dr.plan(outputs, inputs=typed_inputs(dr, _kv(args.input, "input")))
            out.write(json.dumps({"nodes": [{"name": n, "will": w, "why": y} for n, w, y in rows]}) + "\n")
        return 0
    dr = _driver(args)
    outputs = resolve_outputs(dr, args.outputs)
    rows = dr.plan(outputs, inputs=typed_inputs(dr, _kv(args.input, "input")))
    from rich.table import Table

    table = Table(title=f"plan for {args.pipeline}", title_justify="left")
    for col in ("node", "will", "why"):
        table.add_column(col)
    for name, will, why in rows:
        table.add_row(name, f"[cyan]{will}[/]" if will == "hit" else f"[yellow]{will}[/]", why)
    console = _console()
    console.print(table)
    hits = sum(1 for _, w, _ in rows if w == "hit")
    console.print(f"{len(rows) - hits} to run, {hits} cached")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="dry run: which nodes would hit and which would run, and why", epilog=EPILOG,
                       description="Show, without running anything, which nodes of PIPELINE would be served from "
                                   "the cache and which would run, and why.")
    _pipeline_args(p)
    p.set_defaults(func=cmd_plan)
