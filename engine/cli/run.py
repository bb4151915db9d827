from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from engine._text import summarize
from engine.cli._common import EPILOG, _console, _driver, _kv, _one_line, _pipeline_args, _stdout_to_stderr
from engine.cli._progress import Predictions, RunProgress
from engine.cli._select import add_lineage_arg, add_run_control_args, attach_lineage, selected_outputs
from engine.core.inputs import typed_inputs
from engine.errors import RippleError, UsageError


def _run(dr: Any, outputs: list[str], inputs: dict[str, Any]) -> Any:
    from engine.cli._exits import ExitWatch

    watch = ExitWatch()
    dr.add_listener(watch.on_event, ExitWatch.KINDS)
    try:
        with watch:
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
        from engine.core.redact import safe_str  # a failure only

        node = dr.graph.nodes.get(result.failed_node)
        rec = result.records.get(result.failed_node)
        # the record's text, not str(result.error): it is what may be kept (sensitive data withheld,
        # and an exception whose __str__ raises has already been read safely)
        message = rec.error if rec is not None and rec.error_type else safe_str(result.error)
        doc["error"] = {"node": result.failed_node, "message": message,
                        "type": type(result.error).__name__, "location": node.location if node else ""}
    return doc


def cmd_run(args: argparse.Namespace) -> int:
    if getattr(args, "isolate", False):
        return _run_isolated(args)
    if args.json:
        import json  # lazy, as the output writers: a plain run prints neither

        with _stdout_to_stderr() as out:
            dr = _driver(args)
            outputs = selected_outputs(dr, args)
            inputs = typed_inputs(dr, _kv(args.input, "input"))
            attach_lineage(dr, args)
            predicted = Predictions(estimate=_estimator(dr))
            dr.add_listener(predicted.on_event)
            try:
                result = _run(dr, outputs, inputs)
            except KeyboardInterrupt as exc:  # Ctrl-C: still one document (what finished), then exit 130
                partial = getattr(exc, "ripple_partial", None)
                if partial is not None:
                    out.write(json.dumps(_json_doc(dr, partial), default=str) + "\n")
                    out.flush()
                raise
            doc = _json_doc(dr, result)
            outcome = predicted.outcome(result)
            if outcome is not None:
                doc["prediction"] = outcome
            if result.status == "ok" and getattr(args, "output_dir", None):
                from engine.cli._values import write_outputs

                doc["written"] = [str(p) for p in write_outputs(result.outputs, args.output_dir)]
            out.write(json.dumps(doc, default=str) + "\n")
        _ending(args, dr, result)
        return 0 if result.status == "ok" else 1
    dr = _driver(args)
    quiet = bool(getattr(args, "quiet", False))
    dr.plan_events = not quiet  # the plan is for the progress view and the "plan:" line: -q shows neither
    outputs = selected_outputs(dr, args)
    inputs = typed_inputs(dr, _kv(args.input, "input"))
    attach_lineage(dr, args)
    from engine.cli._views import print_run

    # plain text unless rich would style it: a warm run to a pipe or a file does not import rich
    console = _console(plain=True)
    live = None
    estimate = _estimator(dr)
    predicted = None if quiet else Predictions(estimate=estimate)
    if predicted is not None:
        dr.add_listener(predicted.on_event)
    if console.is_terminal and not os.environ.get("CI") and not quiet:
        live = RunProgress(console, estimate=estimate)
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
    print_run(console, dr, result, verbose=bool(getattr(args, "verbose", False)), quiet=quiet)
    if result.status == "ok" and getattr(args, "output_dir", None):
        from engine.cli._values import write_outputs

        for path in write_outputs(result.outputs, args.output_dir):
            console.print(f"wrote {path}", markup=False, highlight=False)
    line = predicted.line(result) if predicted is not None else ""
    if line:
        console.print(line, style="dim", markup=False, highlight=False)
    _ending(args, dr, result)
    return 0 if result.status == "ok" else 1


def _ending(args: argparse.Namespace, dr: Any, result: Any) -> None:
    """The run's last step in a process that exits next (``engine.cli.console``): when no node ran
    in it, the store is closed now and the interpreter's final collections are skipped. Not with
    ``--lineage``: a transport the user configured may send what it holds only when collected."""
    if not getattr(args, "process_ends", False) or result.count("ran") or result.count("failed") \
            or getattr(args, "lineage", None):
        return
    if dr.cache is not None:
        dr.cache.close()
    from engine._gc import exit_unswept

    exit_unswept()


_STATUS = {"node_cached": "cached", "node_finished": "ran", "node_failed": "failed", "node_skipped": "skipped"}


def _run_isolated(args: argparse.Namespace) -> int:
    """``ripple run --isolate``: the run happens in a child process (engine.live), so ``os._exit``, a
    segfault or an out-of-memory kill in a node is reported as that node's failure (exit 1) instead
    of taking ``ripple`` down with no message and, under ``--json``, no document. Outputs are not
    summarised (values stay in the child); everything else matches ``ripple run``."""
    from engine.cli._common import run_request
    from engine.live.isolated import IsolatedRun

    request = run_request(args, plan_events=False)
    nodes: dict[str, dict[str, Any]] = {}
    first: list[Any] = []

    def on_event(e: Any) -> None:
        status = _STATUS.get(e.kind)
        if status is None:
            if e.kind == "message" and e.level in ("warning", "error") and not args.json:
                print(f"ripple: {e.level}: {e.text}", file=sys.stderr)
            return
        row = {"name": e.node, "status": status, "seconds": round(getattr(e, "seconds", 0.0) or 0.0, 6),
               "why": getattr(e, "why", "") or getattr(e, "reason", "")}
        if status == "failed":
            row["error"] = f"{e.error_type}: {e.error}"
            if not first:
                first.append(e)
        nodes[e.node] = row

    quiet = _stdout_to_stderr() if args.json else contextlib.nullcontext(sys.stdout)
    with quiet as out:
        run = IsolatedRun(request, on_event)
        run.start()
        try:
            outcome = run.wait()
        except KeyboardInterrupt:
            run.stop()
            raise
        status = "failed" if outcome.status == "crashed" else outcome.status
        if outcome.status == "error":
            raise UsageError(outcome.reason or "the pipeline could not be loaded")
        doc: dict[str, Any] = {"run_id": outcome.run_id, "status": status, "isolated": True,
                               "nodes": list(nodes.values())}
        if outcome.reason:
            doc["reason"] = outcome.reason
        if first:
            e = first[0]
            doc["error"] = {"node": e.node, "message": e.error, "type": e.error_type,
                            "location": f"{e.file}:{e.line}" if e.file else ""}
        if args.json:
            import json

            out.write(json.dumps(doc, default=str) + "\n")
        else:
            for row in doc["nodes"]:
                extra = f"  {row['error']}" if "error" in row else f"  {row['why']}" if row["why"] else ""
                print(f"{row['status']:>8}  {row['name']}{extra}")
            if status != "ok":
                print(f"run {outcome.run_id} {status}: {outcome.reason}" if outcome.reason else
                      f"run {outcome.run_id} {status}")
    return {"ok": 0, "cancelled": 130}.get(status, 1)


def _estimator(dr: Any) -> Any:
    """Median times from the history, for the ETA and the plan line; asked only for the nodes not
    predicted to hit, when shown (nothing without a cache), and each node's history read once
    however many views ask (the first asks before the run records anything)."""
    known: dict[str, float] = {}
    asked: set[str] = set()

    def estimate(nodes: list[str]) -> dict[str, float]:
        todo = [n for n in nodes if n not in asked]
        if todo and dr.cache is not None:
            from engine.analysis.estimate import expected_seconds

            asked.update(todo)
            try:
                known.update(expected_seconds(dr.cache.store, todo))
            except RippleError:
                pass
        return {n: known[n] for n in nodes if n in known}

    return estimate


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a pipeline (cached) and print a table of nodes", epilog=EPILOG,
                       description="Run PIPELINE: only what the outputs need, cached nodes served from the store.")
    _pipeline_args(p, select=True)
    add_run_control_args(p)
    add_lineage_arg(p)
    p.add_argument("--isolate", action="store_true",
                   help="run in a child process: os._exit, a segfault or an out-of-memory kill in a node "
                        "becomes a failed node instead of ending ripple")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list every node (runs of more than 40 nodes list only those that did not hit)")
    p.set_defaults(func=cmd_run)
