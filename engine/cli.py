"""The ``ripple`` command line (DESIGN §9).

Exit status: 0 success, 1 a node failed, 2 usage or graph errors. Errors print one sentence with
the location, never a traceback of Ripple's internals (``RIPPLE_DEBUG=1`` shows it anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import RippleError, UsageError

EPILOG = "Exit status: 0 success, 1 a node failed, 2 usage or graph errors."


def _kv(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--{what} {item!r} is not NAME=VALUE; write e.g. --{what} region=north.")
        out[key.strip()] = val
    return out


def parse_value(text: str, annotation: Any = None) -> Any:
    """A command-line value typed by the parameter's annotation, else as a JSON literal, else text."""
    from pathlib import PurePath

    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise UsageError(f"{text!r} is not a boolean; use true or false.")
        if issubclass(annotation, int | float):
            try:
                return annotation(text)
            except ValueError:
                raise UsageError(f"{text!r} is not a valid {annotation.__name__}.") from None
        if issubclass(annotation, str):
            return text
        if issubclass(annotation, PurePath):
            return Path(text)
        if annotation.__name__ == "File":
            return annotation(text)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _typed(driver: Any, raw: dict[str, str]) -> dict[str, Any]:
    externals = driver.graph.externals
    return {k: parse_value(v, externals[k].type if k in externals else None) for k, v in raw.items()}


def _outputs(driver: Any, spec: str | None) -> list[str]:
    if spec:
        return [o.strip() for o in spec.split(",") if o.strip()]
    g = driver.graph
    return [n for n in g.order if not g.succ[n]]


def _driver(args: argparse.Namespace, *, cache: bool = True) -> Any:
    from .driver import Driver

    config = {k: parse_value(v) for k, v in _kv(getattr(args, "config", None), "config").items()}
    dr = Driver(config, args.pipeline, executor=getattr(args, "executor", None))
    if cache and not getattr(args, "no_cache", False):
        behaviors = {n: "recompute" for n in _split(getattr(args, "recompute", None))}
        unknown = [n for n in behaviors if n not in dr.graph.nodes]
        if unknown:
            raise UsageError(f"--recompute names unknown node {unknown[0]!r}; see `ripple graph {args.pipeline}`.")
        dr.with_cache(getattr(args, "cache_dir", None), behaviors=behaviors, max_size=getattr(args, "max_size", None))
    return dr


def _split(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def summarize(value: Any, width: int = 100) -> str:
    """One short line describing a value (shape for frames/arrays, head for text)."""
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype") or type(value).__name__ == "DataFrame":
        return f"{type(value).__name__} shape={tuple(shape) if shape is not None else '?'}"
    if isinstance(value, str):
        first = value.strip().splitlines()[0] if value.strip() else ""
        more = f" (+{value.count(chr(10))} lines)" if "\n" in value.strip() else ""
        return (first[:width] + more) if first else "''"
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_run(args: argparse.Namespace) -> int:
    dr = _driver(args)
    outputs = _outputs(dr, args.outputs)
    inputs = _typed(dr, _kv(args.input, "input"))
    if args.json:
        result = dr.run(outputs, inputs=inputs)
        doc = {
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
        print(json.dumps(doc, default=str))
        return 0 if result.status == "ok" else 1
    from rich.console import Console

    from .report import print_run

    console = Console(stderr=False)
    live = None
    if console.is_terminal and not os.environ.get("CI"):
        from .report import LiveProgress

        live = LiveProgress(console)
        dr.add_listener(live.on_event)
    try:
        if live:
            with live:
                result = dr.run(outputs, inputs=inputs)
        else:
            result = dr.run(outputs, inputs=inputs)
    finally:
        if live:
            dr.remove_listener(live.on_event)
    print_run(console, dr, result)
    return 0 if result.status == "ok" else 1


def cmd_graph(args: argparse.Namespace) -> int:
    from .driver import Driver

    config = {k: parse_value(v) for k, v in _kv(args.config, "config").items()}
    dr = Driver(config, args.pipeline)
    outputs = [o for o in (args.outputs or "").split(",") if o] or None
    if outputs:
        dr._known(outputs)
    print(dr.visualize(args.format, outputs))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    dr = _driver(args)
    outputs = _outputs(dr, args.outputs)
    rows = dr.plan(outputs, inputs=_typed(dr, _kv(args.input, "input")))
    if args.json:
        print(json.dumps({"nodes": [{"name": n, "will": w, "why": y} for n, w, y in rows]}))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"plan for {args.pipeline}", title_justify="left")
    for col in ("node", "will", "why"):
        table.add_column(col)
    for name, will, why in rows:
        table.add_row(name, f"[cyan]{will}[/]" if will == "hit" else f"[yellow]{will}[/]", why)
    console = Console()
    console.print(table)
    hits = sum(1 for _, w, _ in rows if w == "hit")
    console.print(f"{len(rows) - hits} to run, {hits} cached")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from .caching import cache_command

    return cache_command(args)


def cmd_runs(args: argparse.Namespace) -> int:
    from .caching import runs_command

    return runs_command(args)


def cmd_watch(args: argparse.Namespace) -> int:
    from .watch import watch_command

    return watch_command(args)


def cmd_tui(args: argparse.Namespace) -> int:
    try:
        from tui.app import tui_command
    except ImportError as exc:
        raise UsageError(f"the dashboard is not installed ({exc}); pip install 'ripple' with textual.") from None
    return tui_command(args)


def _pipeline_args(p: argparse.ArgumentParser, *, run: bool = True) -> None:
    p.add_argument("pipeline", help="a dotted module or package (demo_pipeline), a .py file or a folder")
    p.add_argument("--config", action="append", metavar="K=V", help="config value (repeatable)")
    if run:
        p.add_argument("--input", action="append", metavar="K=V", help="input value (repeatable); typed by annotation")
        p.add_argument("--outputs", metavar="A,B", help="outputs to compute (default: every final node)")
        p.add_argument("--cache-dir", metavar="DIR", help="store location (default .ripple/ beside the pipeline; env RIPPLE_CACHE_DIR)")
        p.add_argument("--no-cache", action="store_true", help="run without reading or writing the cache")
        p.add_argument("--recompute", action="append", metavar="NODE", help="re-run NODE even if cached (repeatable, comma lists)")
        p.add_argument("--max-size", metavar="SIZE", help="cache size budget enforced after the run, e.g. 2G")
        p.add_argument("--executor", default=None, help="sequential (default), threads[:N] or processes[:N]")
        p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ripple",
        description="Ripple: an incremental pipeline engine. Functions are nodes; only what changed re-runs.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version="ripple 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("run", help="run a pipeline (cached) and print a table of nodes", epilog=EPILOG,
                       description="Run PIPELINE: only what the outputs need, cached nodes served from the store.")
    _pipeline_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("plan", help="dry run: which nodes would hit and which would run, and why", epilog=EPILOG)
    _pipeline_args(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("graph", help="print the DAG as text, Graphviz dot or Mermaid", epilog=EPILOG)
    _pipeline_args(p, run=False)
    p.add_argument("--format", choices=("text", "dot", "mermaid"), default="text")
    p.add_argument("--outputs", metavar="A,B", help="only what these outputs need")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("watch", help="re-run exactly what each save affects (headless)", epilog=EPILOG)
    _pipeline_args(p)
    p.add_argument("--debounce", type=float, default=None, metavar="SECONDS", help="quiet time before a run (default 0.05)")
    p.add_argument("--let-finish", action="store_true", help="a save during a run queues instead of cancelling it")
    p.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("tui", help="the live dashboard", epilog=EPILOG)
    _pipeline_args(p)
    p.add_argument("--no-watch", action="store_true", help="do not re-run on saves")
    p.set_defaults(func=cmd_tui)

    p = sub.add_parser("cache", help="inspect and maintain the store", epilog=EPILOG)
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    csub.required = True
    for name, help_ in (("stats", "entries, bytes, hit rates"), ("ls", "list entries"),
                        ("prune", "evict by size/age and drop entries no node can use"), ("clear", "remove everything")):
        cp = csub.add_parser(name, help=help_, epilog=EPILOG)
        cp.add_argument("pipeline", nargs="?", help="pipeline whose store to use (default: .ripple/ here)")
        cp.add_argument("--cache-dir", metavar="DIR")
        cp.add_argument("--json", action="store_true")
        if name == "ls":
            cp.add_argument("--node", help="only entries of this node")
        if name == "prune":
            cp.add_argument("--max-size", metavar="SIZE", help="e.g. 500MB, 2G")
            cp.add_argument("--older-than", metavar="AGE", help="e.g. 7d, 12h, 30m")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser("runs", help="recent runs from the history", epilog=EPILOG)
    p.add_argument("pipeline", nargs="?")
    p.add_argument("--cache-dir", metavar="DIR")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RippleError as exc:
        if os.environ.get("RIPPLE_DEBUG"):
            raise
        print(f"ripple: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ripple: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
