from __future__ import annotations

import argparse
import json
import os
from typing import Any

from engine._text import summarize
from engine.cli._common import EPILOG, _console, _driver, _kv, _one_line, _pipeline_args, _stdout_to_stderr
from engine.core.inputs import resolve_outputs, typed_inputs
from engine.errors import RippleError


def _run(dr: Any, outputs: list[str], inputs: dict[str, Any]) -> Any:
    try:
        return dr.run(outputs, inputs=inputs)
    except RippleError:
        raise
    except Exception as exc:
        if getattr(dr.executor, "name", "") == "processes" and "pickl" in str(exc).lower():
            from engine.errors import NodeFailed

            raise NodeFailed(
                f"with --executor processes every node function and value must be picklable to cross processes, "
                f"and one is not ({type(exc).__name__}: {_one_line(str(exc))[:200]}); define nodes with `def` at "
                "module level, return plain data (no lambdas, locks, generators or open files), "
                "or use --executor threads."
            ) from exc
        raise


def _json_doc(dr: Any, result: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "run_id": result.run_id,
        "status": result.status,
        "seconds": round(result.seconds, 6),
        "nodes": [
            {"name": r.name, "status": r.status, "seconds": round(r.seconds, 6), "why": r.why,
             **({"error": f"{r.error_type}: {r.error}"} if r.error_type else {})}
            for r in result.records.values()
        ],
        "outputs": {k: summarize(v) for k, v in result.outputs.items()},
    }
    if result.failed_node:
        node = dr.graph.nodes.get(result.failed_node)
        doc["error"] = {"node": result.failed_node, "message": str(result.error),
                        "type": type(result.error).__name__, "location": node.location if node else ""}
    return doc


def cmd_run(args: argparse.Namespace) -> int:
    if args.json:
        with _stdout_to_stderr() as out:
            dr = _driver(args)
            outputs = resolve_outputs(dr, args.outputs)
            inputs = typed_inputs(dr, _kv(args.input, "input"))
            result = _run(dr, outputs, inputs)
            doc = _json_doc(dr, result)
            out.write(json.dumps(doc, default=str) + "\n")
        return 0 if result.status == "ok" else 1
    dr = _driver(args)
    outputs = resolve_outputs(dr, args.outputs)
    inputs = typed_inputs(dr, _kv(args.input, "input"))
    from engine.cli._views import print_run

    console = _console()
    live = None
    if console.is_terminal and not os.environ.get("CI"):
        from engine.cli._views import LiveProgress

        live = LiveProgress(console)
        dr.plan_events = False  # the progress line does not show predictions
        dr.add_listener(live.on_event)
    try:
        if live:
            with live:
                result = _run(dr, outputs, inputs)
        else:
            result = _run(dr, outputs, inputs)
    finally:
        if live:
            dr.remove_listener(live.on_event)
    print_run(console, dr, result, verbose=bool(getattr(args, "verbose", False)))
    return 0 if result.status == "ok" else 1


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a pipeline (cached) and print a table of nodes", epilog=EPILOG,
                       description="Run PIPELINE: only what the outputs need, cached nodes served from the store.")
    _pipeline_args(p)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list every node (runs of more than 40 nodes list only those that did not hit)")
    p.set_defaults(func=cmd_run)
