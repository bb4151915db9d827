"""``ripple explain PIPELINE NODE``: would NODE be served from the cache now, and if not, exactly why.

Why a command of its own: ``ripple plan`` answers for every node in a table; when one result
surprises you, this names the one thing that changed — a helper's code (with the diff), an input,
a file, a folder listing, an environment variable (by name; its value is never shown) or code that
ran last time — without running anything.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.cli._common import EPILOG, _driver, _kv, _pipeline_args
from engine.core.inputs import resolve_outputs, typed_inputs
from engine.errors import UsageError


def cmd_explain(args: argparse.Namespace) -> int:
    dr = _driver(args)
    if args.node not in dr.graph.nodes:
        from engine._text import did_you_mean

        raise UsageError(f"unknown node {args.node!r}{did_you_mean(args.node, dr.graph.nodes)}; "
                         "give a node of the pipeline (see `ripple graph`).")
    outputs = resolve_outputs(dr, args.outputs) if args.outputs else [args.node]
    rows = dr.plan(outputs, inputs=typed_inputs(dr, _kv(args.input, "input")))
    row = next((r for r in rows if r[0] == args.node), None)
    if row is None:
        raise UsageError(f"node {args.node!r} is not needed for --outputs {args.outputs}; leave --outputs out.")
    name, will, why = row
    if args.json:
        print(json.dumps({"node": name, "will": will, "why": why}))
    else:
        print(f"{name}: {'hit' if will == 'hit' else will} — {why}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("explain", help="would one node hit the cache now, and if not, what changed", epilog=EPILOG,
                       description="Say, without running anything, whether NODE of PIPELINE would be served from "
                                   "the cache, and if not, the first thing that changed since its cached result.")
    _pipeline_args(p)
    p.add_argument("node", help="the node to explain")
    p.set_defaults(func=cmd_explain)
