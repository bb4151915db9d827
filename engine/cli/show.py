"""``ripple show [PIPELINE] NODE [--format text|json|csv|parquet] [-o FILE]``: a node's value.

The value is the one ``ripple run`` would produce now: served from the cache when it is there (no
node runs), computed (and cached) when it is not, which stderr then says. DataFrames print as a
table with their shape, head and dtypes, a string in full; ``--select`` shows several nodes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli._common import EPILOG, _driver, _kv, _pipeline_args, _stdout_to_stderr
from engine.cli._values import FORMATS, data, text_renderables, write
from engine.errors import NodeFailed, UsageError


def _nodes(dr: Any, args: argparse.Namespace) -> list[str]:
    from engine._text import did_you_mean
    from engine.core import selection

    names = []
    if args.node is not None:
        if args.node not in dr.graph.nodes:
            hint = selection.hidden_hint(dr.graph, args.node) or did_you_mean(args.node, dr.graph.nodes)
            raise UsageError(f"unknown node {args.node!r}{hint}; "
                             f"list the nodes with `ripple graph {args.pipeline}`.")
        names.append(args.node)
    if selection.requested(args.select, args.exclude):
        names.extend(selection.outputs_for(dr.graph, args.select, args.exclude))
    return list(dict.fromkeys(names))


def _node_first(args: argparse.Namespace) -> None:
    """``ripple show NODE`` in a project with ``[tool.ripple] pipeline``: the one word is the node."""
    from engine.cli._select import apply_project_defaults
    from engine.core import selection

    if args.node is None and args.pipeline is not None and not selection.requested(args.select, args.exclude):
        args.node, args.pipeline = args.pipeline, None
        apply_project_defaults(args)
    if args.node is None and not selection.requested(args.select, args.exclude):
        raise UsageError("`ripple show` needs a NODE (or --select), e.g. `ripple show demo_pipeline report`.")


def cmd_show(args: argparse.Namespace) -> int:
    _node_first(args)
    fmt = "json" if args.json and args.format == "text" else args.format
    with _stdout_to_stderr():  # what the pipeline prints goes to stderr: stdout holds just the value
        dr = _driver(args)
        nodes = _nodes(dr, args)
        from engine.core.inputs import typed_inputs

        result = dr.run(nodes, inputs=typed_inputs(dr, _kv(args.input, "input")))
    if result.status != "ok":
        rec = result.records.get(result.failed_node or "")
        detail = f"{rec.error_type}: {rec.error}" if rec is not None and rec.error_type else str(result.error)
        raise NodeFailed(f"cannot show {', '.join(nodes)}: node {result.failed_node} failed ({detail}); "
                         f"`ripple run {args.pipeline}` shows the failure.", node=result.failed_node or "")
    computed = [n for n in nodes if (r := result.records.get(n)) is not None and r.status == "ran"]
    if computed:
        print(f"ripple: note: {', '.join(computed)} {'was' if len(computed) == 1 else 'were'} not cached; "
              "computed now (and cached).", file=sys.stderr)
    values = {n: result.outputs[n] for n in nodes}
    if len(values) > 1 and fmt in ("csv", "parquet"):
        raise UsageError(f"--format {fmt} writes one node; name one NODE, or use --format json or text.")
    if args.output:
        return _to_file(values, fmt, Path(args.output))
    return _to_stdout(values, fmt)


def _to_file(values: dict[str, Any], fmt: str, path: Path) -> int:
    if fmt == "text":
        fmt = {".json": "json", ".csv": "csv", ".parquet": "parquet"}.get(path.suffix.lower(), "txt")
    payload = data(next(iter(values.values())), next(iter(values)), fmt) if len(values) == 1 \
        else data(values, "the selection", fmt if fmt in ("json", "pickle") else "json")
    write(path, payload)
    print(f"wrote {path} ({fmt})", file=sys.stderr)
    return 0


def _to_stdout(values: dict[str, Any], fmt: str) -> int:
    if fmt == "text":
        from engine.cli._common import _console

        console = _console()
        if not console.is_terminal:  # piped: no wrapping at rich's default 80 columns
            console.width = 10_000
        for i, (name, value) in enumerate(values.items()):
            if len(values) > 1:
                console.print(("\n" if i else "") + f"── {name} ──", style="bold", markup=False, highlight=False)
            for r in text_renderables(value, name, console.width if console.is_terminal else 10_000):
                console.print(r, soft_wrap=isinstance(value, str), markup=False, highlight=False)
        return 0
    name, value = next(iter(values.items()))
    payload = data(value if len(values) == 1 else values, name, fmt)
    if isinstance(payload, bytes):
        if sys.stdout.isatty():
            raise UsageError(f"--format {fmt} is binary; write it to a file with -o FILE, or pipe it.")
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(payload)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("show", help="print or write a node's value (from the cache when it is there)", epilog=EPILOG,
                       description="Print NODE's value of PIPELINE, or write it to a file: served from the cache when "
                                   "cached, else computed (and cached). DataFrames show shape, head and dtypes; "
                                   "strings are printed in full.")
    _pipeline_args(p, execute=False, select=True)
    p.add_argument("node", nargs="?", help="the node whose value to show (or use --select for several)")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default: a table for DataFrames, strings in full), json, csv or parquet")
    p.add_argument("-o", "--output", metavar="FILE", help="write the value to FILE instead of printing it")
    p.set_defaults(func=cmd_show)
