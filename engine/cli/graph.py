from __future__ import annotations

import argparse
import contextlib
import json
from typing import Any

from engine.cli._common import EPILOG, _check_nonempty, _config, _pipeline_args, _stdout_to_stderr
from engine.core.inputs import resolve_outputs


def cmd_graph(args: argparse.Namespace) -> int:
    from engine.driver import Driver

    raw, config = _config(args)
    quiet = _stdout_to_stderr() if args.format == "json" else contextlib.nullcontext()
    with quiet:  # with --format json, stdout holds exactly one JSON document
        dr = Driver(config, args.pipeline)
    dr._cli_pipeline = args.pipeline
    _check_nonempty(dr)
    outputs = resolve_outputs(dr, args.outputs, allow_inputs=False) if args.outputs is not None else None
    only = _selected(dr, args, outputs)
    if only is not None:
        from engine.core.render import render_graph

        print(render_graph(dr.graph, args.format, only=only))
        return 0
    if args.format == "json":
        from engine.core.render import graph_document
        from engine.settings import resolve_cache_dir

        doc = graph_document(dr.graph, list(dr.graph.upstream(outputs)) if outputs else None)
        if outputs:
            doc["order"] = [n for n in dr.graph.order if n in set(doc["order"])]
        doc.update(pipeline=dr.pipeline_name, project_root=str(dr.project_root),
                   store_dir=str(resolve_cache_dir(getattr(args, "cache_dir", None), dr.project_root)))
        print(json.dumps(doc, default=str))
        return 0
    print(dr.visualize(args.format, outputs))
    return 0


def _selected(dr: Any, args: argparse.Namespace, outputs: list[str] | None) -> list[str] | None:
    """With ``--select``/``--exclude``: exactly the selected nodes (plus what ``--outputs`` need)."""
    from engine.core import selection

    if not selection.requested(args.select, args.exclude):
        return None
    names = selection.outputs_for(dr.graph, args.select, args.exclude)
    return [*names, *(dr.graph.upstream(outputs) if outputs else ())]


def register(sub: Any) -> None:
    p = sub.add_parser("graph", help="print the DAG as text, Graphviz dot, Mermaid or JSON", epilog=EPILOG,
                       description="Print PIPELINE's graph: each node with what it depends on, then its inputs.")
    _pipeline_args(p, run=False, select=True)
    p.add_argument("--format", choices=("text", "list", "dot", "mermaid", "json"), default="text",
                   help="text (default: the DAG drawn with boxes), list (one line per node with what it "
                        "needs), Graphviz dot, Mermaid, or json (nodes, deps, locations, store)")
    p.add_argument("--cache-dir", metavar="DIR", help="store location reported by --format json")
    p.add_argument("--outputs", metavar="A,B", help="only what these outputs need")
    p.set_defaults(func=cmd_graph)
