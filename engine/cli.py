"""The ``ripple`` command line (DESIGN §9).

Exit status: 0 success, 1 a node failed, 2 usage or graph errors. Errors print one sentence with
the location, never a traceback of Ripple's internals (``RIPPLE_DEBUG=1`` shows it anyway).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from .errors import RippleError, UsageError

EPILOG = "Exit status: 0 success, 1 a node failed, 2 usage or graph errors."
MAIN_EPILOG = (
    "Run `ripple COMMAND --help` for a command's options, e.g. `ripple run --help`.\n"
    "A pipeline is a dotted module or package (demo_pipeline), a .py file or a folder.\n" + EPILOG
)


def _did_you_mean(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _listing(names: Iterable[str], limit: int = 8) -> str:
    names = sorted(names)
    if not names:
        return "none"
    more = f", … ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


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


def _typed_one(flag: str, name: str, text: str, annotation: Any) -> Any:
    try:
        return parse_value(text, annotation)
    except UsageError as exc:
        msg = exc.message.rstrip(".")
        hint = "" if ";" in msg else f"; give a {getattr(annotation, '__name__', 'valid')} value"
        raise UsageError(f"--{flag} {name}: {msg}{hint}.") from None


def _typed(driver: Any, raw: dict[str, str]) -> dict[str, Any]:
    """``--input`` values typed by their annotation; a name that is not an input of the graph is an error."""
    graph = driver.graph
    externals = graph.externals
    for name in raw:
        if name in externals:
            continue
        where = _pipeline_label(driver)
        if name in graph.nodes:
            node = graph.nodes[name]
            raise UsageError(
                f"--input {name}: {name} is a node computed by {where} ({node.location}), not an input; "
                f"inputs are: {_listing(externals)}."
            )
        raise UsageError(
            f"--input {name}: {where} has no input named {name!r}{_did_you_mean(name, externals)}; "
            f"inputs are: {_listing(externals)} (config keys go in --config)."
        )
    return {k: _typed_one("input", k, v, externals[k].type) for k, v in raw.items()}


def _pipeline_label(driver: Any) -> str:
    return f"pipeline {getattr(driver, 'pipeline_name', '') or 'the pipeline'}"


def _known_names(driver: Any, names: Sequence[str], flag: str, *, allow_inputs: bool = True) -> None:
    graph = driver.graph
    options = set(graph.nodes) | (set(graph.externals) if allow_inputs else set())
    what = "output" if flag == "--outputs" else "node"
    for name in names:
        if name not in options:
            raise UsageError(
                f"{flag} names unknown {what} {name!r}{_did_you_mean(name, options)}: {_pipeline_label(driver)} "
                f"has no such node; list the nodes with `ripple graph {_pipeline_arg(driver)}`."
            )


def _pipeline_arg(driver: Any) -> str:
    return str(getattr(driver, "_cli_pipeline", None) or getattr(driver, "pipeline_name", "PIPELINE"))


def _outputs(driver: Any, spec: str | None, *, allow_inputs: bool = True) -> list[str]:
    if spec is not None:
        names = [o.strip() for o in spec.split(",") if o.strip()]
        if not names:
            raise UsageError(f"--outputs {spec!r} names no node; give e.g. --outputs a,b "
                             f"or leave it out to compute every final node.")
        _known_names(driver, names, "--outputs", allow_inputs=allow_inputs)
        return list(dict.fromkeys(names))
    g = driver.graph
    return [n for n in g.order if not g.succ[n]]


_EXECUTORS = ("sequential", "local", "inline", "threads", "thread", "processes", "process")


def _check_executor(spec: str | None) -> str | None:
    """Reject ``--executor`` values the engine would silently misread (``threads:0``, ``threads:abc``)."""
    if spec is None:
        return None
    name, sep, n = spec.strip().partition(":")
    if name not in _EXECUTORS:
        if name == "dask":
            return spec  # the engine explains that one itself
        raise UsageError(f"unknown executor {spec!r}{_did_you_mean(name, ('sequential', 'threads', 'processes'))}; "
                         "use sequential, threads[:N] or processes[:N].")
    if sep:
        if name in ("sequential", "local", "inline"):
            raise UsageError(f"--executor {spec!r}: the sequential executor takes no worker count; use sequential.")
        if not n.isdigit() or int(n) < 1:
            raise UsageError(f"--executor {spec!r}: the worker count must be a whole number ≥ 1, e.g. {name}:4.")
    return spec.strip()


def _check_nonempty(driver: Any) -> None:
    if not driver.graph.nodes:
        files = [str(getattr(m, "__file__", "") or m.__name__) for m in driver.modules]
        raise UsageError(
            f"{_pipeline_label(driver)} defines no nodes (no public top-level functions in "
            f"{_listing(files, 3)}); point ripple at the module or folder that holds your pipeline functions."
        )


def _config(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, Any]]:
    raw = _kv(getattr(args, "config", None), "config")
    return raw, {k: parse_value(v) for k, v in raw.items()}


def _retype_config(dr: Any, raw: dict[str, str]) -> None:
    """A config value that feeds an annotated input is typed like ``--input`` (``--config n=abc`` for
    ``n: int`` is a usage error, not a TypeError inside the node)."""
    externals = dr.graph.externals
    for k, v in raw.items():
        ext = externals.get(k)
        if ext is not None and isinstance(ext.type, type):
            dr.config[k] = _typed_one("config", k, v, ext.type)


def _driver(args: argparse.Namespace, *, cache: bool = True) -> Any:
    from .driver import Driver

    executor = _check_executor(getattr(args, "executor", None))
    max_size = getattr(args, "max_size", None)
    if max_size is not None:
        _check_flag("--max-size", max_size, "parse_size")
    raw, config = _config(args)
    dr = Driver(config, args.pipeline, executor=executor)
    dr._cli_pipeline = args.pipeline
    _check_nonempty(dr)
    _retype_config(dr, raw)
    recompute = _split(getattr(args, "recompute", None))
    _known_names(dr, recompute, "--recompute", allow_inputs=False)
    if cache and not getattr(args, "no_cache", False):
        behaviors = {n: "recompute" for n in recompute}
        dr.with_cache(getattr(args, "cache_dir", None), behaviors=behaviors, max_size=max_size)
    return dr


def _check_flag(flag: str, value: str, parser: str) -> None:
    from . import store

    try:
        getattr(store, parser)(value)
    except UsageError as exc:
        raise UsageError(f"{flag} {value!r}: {exc.message.split(': ', 1)[-1]}.") from None


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[IO[str]]:
    """While a ``--json`` command runs, what the pipeline prints (at import, in nodes, in forked
    ``--executor processes`` workers, which inherit ``sys.stdout``) goes to stderr, so stdout carries
    exactly one JSON document. Yields the real stdout to write that document to.

    Python-level on purpose: a logging handler the user pointed at stdout keeps writing there.
    """
    real = sys.stdout
    with contextlib.suppress(Exception):
        real.flush()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield real
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()


def _split(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def run_request(args: argparse.Namespace, **extra: Any) -> Any:
    """The ``RunRequest`` an isolated run (watch mode, the dashboard) gets from the command line,
    checked the way ``ripple run`` checks it; ``extra`` sets further fields."""
    from .runner import RunRequest

    spec = getattr(args, "outputs", None)
    outputs = _split([spec]) if spec is not None else None
    if spec is not None and not outputs:
        raise UsageError(f"--outputs {spec!r} names no node; give e.g. --outputs a,b "
                         "or leave it out to compute every final node.")
    return RunRequest(
        pipeline=args.pipeline,
        outputs=outputs,
        inputs=_kv(getattr(args, "input", None), "input"),
        config=_kv(getattr(args, "config", None), "config"),
        cache_dir=getattr(args, "cache_dir", None),
        no_cache=bool(getattr(args, "no_cache", False)),
        recompute=_split(getattr(args, "recompute", None)),
        cwd=os.getcwd(),
        executor=_check_executor(getattr(args, "executor", None)),
        max_size=getattr(args, "max_size", None),
        **extra,
    )


def summarize(value: Any, width: int = 100) -> str:
    """One short line describing a value (shape for frames/arrays, head for text); never raises and
    never builds the full ``repr`` of a huge value."""
    width = max(int(width), 20)
    try:
        return _clip(_summarize(value, width), width)
    except Exception as exc:  # noqa: BLE001 - a value whose repr/shape raises must not fail the run's report
        return _clip(f"<{type(value).__name__} object; repr failed: {type(exc).__name__}>", width)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split()) if "\n" in text or "\r" in text else text
    return text if len(text) <= width else text[: width - 1] + "…"


def _summarize(value: Any, width: int) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype") or type(value).__name__ == "DataFrame":
        try:
            shp = tuple(shape) if shape is not None else "?"
        except TypeError:
            shp = shape
        return f"{type(value).__name__} shape={shp}"
    if isinstance(value, str):
        head = value[: width * 4].strip()
        first = head.splitlines()[0] if head else ""
        lines = value.strip().count("\n") if len(value) < 50_000_000 else value.count("\n")
        more = f" (+{lines} lines)" if lines else ""
        if not first:
            return "''" if not value.strip() else f"str of {len(value)} characters"
        return _clip(first, max(width - len(more), 10)) + more
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother = 3, width, width
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 30
    r.maxdict = 20
    r.maxlong = width
    return r.repr(value)


def _run(dr: Any, outputs: list[str], inputs: dict[str, Any]) -> Any:
    try:
        return dr.run(outputs, inputs=inputs)
    except RippleError:
        raise
    except Exception as exc:
        if getattr(dr.executor, "name", "") == "processes" and "pickl" in str(exc).lower():
            from .errors import NodeFailed

            raise NodeFailed(
                f"with --executor processes every node function and value must be picklable to cross processes, "
                f"and one is not ({type(exc).__name__}: {_one_line(str(exc))[:200]}); define nodes with `def` at "
                "module level, return plain data (no lambdas, locks, generators or open files), "
                "or use --executor threads."
            ) from exc
        raise


def _console() -> Any:
    """A rich console whose closed pipe (``ripple run ... | head``) ends the command with status 0 like
    every other write, instead of rich's own silent ``exit(1)`` (which reads as "a node failed")."""
    from rich.console import Console

    console = Console()

    def on_broken_pipe() -> None:
        raise BrokenPipeError

    console.on_broken_pipe = on_broken_pipe  # type: ignore[method-assign]
    return console


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
            outputs = _outputs(dr, args.outputs)
            inputs = _typed(dr, _kv(args.input, "input"))
            result = _run(dr, outputs, inputs)
            doc = _json_doc(dr, result)
            out.write(json.dumps(doc, default=str) + "\n")
        return 0 if result.status == "ok" else 1
    dr = _driver(args)
    outputs = _outputs(dr, args.outputs)
    inputs = _typed(dr, _kv(args.input, "input"))
    from .report import print_run

    console = _console()
    live = None
    if console.is_terminal and not os.environ.get("CI"):
        from .report import LiveProgress

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


def cmd_graph(args: argparse.Namespace) -> int:
    from .driver import Driver

    raw, config = _config(args)
    quiet = _stdout_to_stderr() if args.format == "json" else contextlib.nullcontext()
    with quiet:  # with --format json, stdout holds exactly one JSON document
        dr = Driver(config, args.pipeline)
    dr._cli_pipeline = args.pipeline
    _check_nonempty(dr)
    outputs = _outputs(dr, args.outputs, allow_inputs=False) if args.outputs is not None else None
    if args.format == "json":
        from .caching import project_settings, resolve_cache_dir
        from .render import graph_document

        doc = graph_document(dr.graph, list(dr.graph.upstream(outputs)) if outputs else None)
        if outputs:
            doc["order"] = [n for n in dr.graph.order if n in set(doc["order"])]
        doc.update(pipeline=dr.pipeline_name, project_root=str(dr.project_root),
                   store_dir=str(resolve_cache_dir(getattr(args, "cache_dir", None), dr.project_root,
                                                   project_settings(dr.project_root))))
        print(json.dumps(doc, default=str))
        return 0
    print(dr.visualize(args.format, outputs))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    if args.json:
        with _stdout_to_stderr() as out:
            dr = _driver(args)
            outputs = _outputs(dr, args.outputs)
            rows = dr.plan(outputs, inputs=_typed(dr, _kv(args.input, "input")))
            out.write(json.dumps({"nodes": [{"name": n, "will": w, "why": y} for n, w, y in rows]}) + "\n")
        return 0
    dr = _driver(args)
    outputs = _outputs(dr, args.outputs)
    rows = dr.plan(outputs, inputs=_typed(dr, _kv(args.input, "input")))
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


def cmd_cache(args: argparse.Namespace) -> int:
    from .caching import cache_command

    if getattr(args, "max_size", None) is not None:
        _check_flag("--max-size", args.max_size, "parse_size")
    if getattr(args, "older_than", None) is not None:
        _check_flag("--older-than", args.older_than, "parse_age")

    return cache_command(args)


def cmd_runs(args: argparse.Namespace) -> int:
    from .caching import runs_command

    return runs_command(args)


def cmd_watch(args: argparse.Namespace) -> int:
    from .watch import watch_command

    return watch_command(args)


def cmd_tui(args: argparse.Namespace) -> int:
    """The dashboard is a plugin of the CLI (entry point group ``ripple.commands``), so the engine never
    imports it: ``engine`` stays usable, and importable, without Textual."""
    from importlib.metadata import entry_points

    found = entry_points(group="ripple.commands", name="tui")
    if not found:
        raise UsageError("the dashboard is not installed; reinstall ripple (pip install -e .) to get `ripple tui`.")
    try:
        command = next(iter(found)).load()
    except ImportError as exc:
        raise UsageError(f"the dashboard cannot start ({exc}); reinstall ripple with its dependencies.") from None
    return int(command(args) or 0)


def cmd_lineage(args: argparse.Namespace) -> int:
    """OpenLineage lives in ``engine.lineage`` (and the optional openlineage-python client), imported
    only when this command runs."""
    from .lineage import lineage_command

    return lineage_command(args)


def _pipeline_args(p: argparse.ArgumentParser, *, run: bool = True, execute: bool = True) -> None:
    """``execute=False`` leaves out options the command cannot honour rather than ignoring them."""
    p.add_argument("pipeline", help="a dotted module or package (demo_pipeline), a .py file or a folder")
    p.add_argument("--config", action="append", metavar="K=V",
                   help="config value (repeatable); JSON literals are typed (3, true, [1,2]), anything else is text")
    if run:
        p.add_argument("--input", action="append", metavar="K=V",
                       help="value of an external input (repeatable); typed by the parameter's annotation")
        p.add_argument("--outputs", metavar="A,B", help="outputs to compute (default: every final node)")
        p.add_argument("--cache-dir", metavar="DIR", help="store location (default .ripple/ beside the pipeline; env RIPPLE_CACHE_DIR)")
        p.add_argument("--no-cache", action="store_true", help="run without reading or writing the cache")
        p.add_argument("--recompute", action="append", metavar="NODE", help="re-run NODE even if cached (repeatable, comma lists)")
        if execute:
            p.add_argument("--max-size", metavar="SIZE", help="cache size budget enforced after the run, e.g. 2G")
            p.add_argument("--executor", default=None, help="sequential (default), threads[:N] or processes[:N]")
        p.add_argument("--json", action="store_true",
                       help="print one JSON document on stdout instead of the table (pipeline prints go to stderr)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


_STORE_HELP = "pipeline whose store to use (default: the .ripple/ store of the current folder)"
_CACHE_DIR_HELP = "store location (default .ripple/; env RIPPLE_CACHE_DIR)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ripple",
        description="Ripple: an incremental pipeline engine. Functions are nodes; only what changed re-runs.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="ripple 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("run", help="run a pipeline (cached) and print a table of nodes", epilog=EPILOG,
                       description="Run PIPELINE: only what the outputs need, cached nodes served from the store.")
    _pipeline_args(p)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list every node (runs of more than 40 nodes list only those that did not hit)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("plan", help="dry run: which nodes would hit and which would run, and why", epilog=EPILOG,
                       description="Show, without running anything, which nodes of PIPELINE would be served from "
                                   "the cache and which would run, and why.")
    _pipeline_args(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("graph", help="print the DAG as text, Graphviz dot, Mermaid or JSON", epilog=EPILOG,
                       description="Print PIPELINE's graph: each node with what it depends on, then its inputs.")
    _pipeline_args(p, run=False)
    p.add_argument("--format", choices=("text", "dot", "mermaid", "json"), default="text",
                   help="text (default), Graphviz dot, Mermaid, or json (nodes, deps, locations, store)")
    p.add_argument("--cache-dir", metavar="DIR", help="store location reported by --format json")
    p.add_argument("--outputs", metavar="A,B", help="only what these outputs need")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("watch", help="re-run exactly what each save affects (headless)", epilog=EPILOG,
                       description="Run PIPELINE once, then again on every save of its code or data files, "
                                   "re-running only what the change affects. Ctrl-C stops it (exit status 0).")
    _pipeline_args(p)
    p.add_argument("--debounce", type=float, default=None, metavar="SECONDS", help="quiet time before a run (default 0.05)")
    p.add_argument("--let-finish", action="store_true", help="a save during a run queues instead of cancelling it")
    p.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("tui", help="the live dashboard", epilog=EPILOG)
    _pipeline_args(p)
    p.add_argument("--no-watch", action="store_true", help="do not re-run on saves")
    p.set_defaults(func=cmd_tui)

    p = sub.add_parser("cache", help="inspect and maintain the store", epilog=EPILOG,
                       description="Inspect and maintain the cache store (default: .ripple/ in the current folder).")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    csub.required = True
    for name, help_ in (("stats", "entries, bytes, hit rates"), ("ls", "list entries"),
                        ("prune", "evict by size/age and drop entries no node can use"), ("clear", "remove everything")):
        cp = csub.add_parser(name, help=help_, epilog=EPILOG, description=f"ripple cache {name}: {help_}.")
        cp.add_argument("pipeline", nargs="?", help=_STORE_HELP)
        cp.add_argument("--cache-dir", metavar="DIR", help=_CACHE_DIR_HELP)
        cp.add_argument("--json", action="store_true", help="print JSON instead of a table")
        if name == "ls":
            cp.add_argument("--node", help="only entries of this node")
        if name == "prune":
            cp.add_argument("--max-size", metavar="SIZE", help="evict until the store fits, e.g. 500MB, 2G")
            cp.add_argument("--older-than", metavar="AGE", help="evict entries unused for AGE, e.g. 7d, 12h, 30m")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser("runs", help="recent runs from the history", epilog=EPILOG,
                       description="List recent runs recorded in the store, newest first.")
    p.add_argument("pipeline", nargs="?", help=_STORE_HELP)
    p.add_argument("--cache-dir", metavar="DIR", help=_CACHE_DIR_HELP)
    p.add_argument("--limit", type=_positive_int, default=20, metavar="N", help="how many runs to show (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("lineage", help="OpenLineage events, impact and root-cause analysis", epilog=EPILOG,
                       description="Lineage of PIPELINE: send OpenLineage events (configured like any OpenLineage "
                                   "client: openlineage.yml, OPENLINEAGE_URL, OPENLINEAGE__TRANSPORT__*), show what a "
                                   "change reaches, or explain a failure.")
    lsub = p.add_subparsers(dest="lineage_command", metavar="ACTION")
    lsub.required = True
    lp = lsub.add_parser("impact", help="nodes downstream of a node or of a data file", epilog=EPILOG,
                         description="What a change to TARGET (a node name or a data file path) reaches.")
    _pipeline_args(lp, run=False)
    lp.add_argument("target", help="a node name, or a data file (declared Path/File default or recorded read)")
    lp.add_argument("--cache-dir", metavar="DIR", help=_CACHE_DIR_HELP + "; its recorded reads are used")
    lp.add_argument("--json", action="store_true", help="print one JSON document")
    lp = lsub.add_parser("root-cause", help="what changed upstream since a failing node last succeeded", epilog=EPILOG,
                         description="For the last failed run (or --node's last failure): which upstream code "
                                     "versions, data versions and read files changed since its last good run.")
    _pipeline_args(lp, run=False)
    lp.add_argument("--node", metavar="NODE", help="explain this node's last failure")
    lp.add_argument("--cache-dir", metavar="DIR", help=_CACHE_DIR_HELP)
    lp.add_argument("--json", action="store_true", help="print one JSON document")
    lp = lsub.add_parser("emit", help="run with OpenLineage events (or --static: JobEvents from the graph)",
                         epilog=EPILOG,
                         description="Run PIPELINE like `ripple run` (cached) and send one OpenLineage run per "
                                     "execution and a child run per node; with --static send JobEvents from the "
                                     "graph without running.")
    _pipeline_args(lp)
    for action in lp._actions:
        if action.dest == "json":
            action.help = "print the events as JSON lines on stdout instead of sending them"
    lp.add_argument("--print", action="store_true", help="same as --json")
    lp.add_argument("--static", action="store_true", help="JobEvents from the graph, nothing runs")
    lp.add_argument("--namespace", default="ripple", help="OpenLineage job namespace (default ripple)")
    lp.add_argument("--job-prefix", metavar="NAME", help="job name prefix (default: the pipeline name)")
    p.set_defaults(func=cmd_lineage)
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

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.count = 0
        self.previous: Any = None

    def __call__(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.pid:
            return
        self.count += 1
        if self.count == 1:
            raise KeyboardInterrupt
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
    logging of their own (with ``logging.basicConfig`` they go where the user said)."""

    def __enter__(self) -> _StderrHandler:
        import logging

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:  # the stderr of the moment (pytest's capsys, a redirect), not the one at import
                    sys.stderr.write(f"ripple: {record.levelname.lower()}: {record.getMessage()}\n")
                except Exception:  # noqa: BLE001
                    self.handleError(record)

        self.logger = logging.getLogger("engine")
        self.handler: Any = None
        if not logging.getLogger().handlers and not self.logger.handlers:
            self.handler = _Handler(logging.WARNING)
            self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.handler is not None:
            self.logger.removeHandler(self.handler)


def _damaged_store(exc: BaseException) -> str | None:
    """The store file an unexpected error came from, if it came from reading the store (a damaged
    ``meta.sqlite`` the store did not recognise as corrupt)."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename.endswith(os.path.join("engine", "store.py")):
            owner = frame.f_locals.get("self")
            db = getattr(owner, "db_path", None) or getattr(owner, "root", None)
            if db is not None:
                found = str(db)
        tb = tb.tb_next
    return found


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    debug = bool(os.environ.get("RIPPLE_DEBUG"))
    try:
        with _CtrlC(), _StderrHandler():
            return int(args.func(args) or 0)
    except RippleError as exc:
        if debug:
            raise
        print(f"ripple: error: {_one_line(str(exc))}", file=sys.stderr)
        if getattr(args, "json", False) or getattr(args, "format", None) == "json":
            # scripts reading stdout get the same error as data
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
        store = _damaged_store(exc) if isinstance(exc, UnicodeError | ValueError | OSError) or \
            type(exc).__module__ == "sqlite3" else None
        if store is not None:
            folder = os.path.dirname(store) if store.endswith(".sqlite") else store
            print(f"ripple: error: the cache store {store} is damaged and could not be read "
                  f"({type(exc).__name__}: {_one_line(str(exc))[:200]}); move {folder} aside or delete it "
                  "(cached results will be recomputed), or run with --no-cache.", file=sys.stderr)
            return 2
        print(f"ripple: error: internal error in ripple {args.command}: {type(exc).__name__}: "
              f"{_one_line(str(exc))[:300]}; run again with RIPPLE_DEBUG=1 for the traceback and report it.",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
