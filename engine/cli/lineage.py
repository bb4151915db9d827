from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from engine.cli._common import (
    _CACHE_DIR_HELP,
    EPILOG,
    _check_nonempty,
    _config,
    _driver,
    _kv,
    _pipeline_args,
    _retype_config,
    _stdout_to_stderr,
)
from engine.cli.run import _run
from engine.core.inputs import resolve_outputs, typed_inputs
from engine.errors import UsageError
from engine.lineage.impact import format_impact, impact, open_store
from engine.lineage.openlineage import LineageListener, PrintTransport, require_client
from engine.lineage.root_cause import format_root_cause, root_cause
from engine.lineage.static import static_job_events

if TYPE_CHECKING:
    from engine.driver import Driver


def lineage_command(args: Any) -> int:
    """``ripple lineage impact|root-cause|emit``."""

    action = args.lineage_command
    if action == "impact":
        dr = _plain_driver(args)
        imp = impact(dr, args.target, open_store(dr, getattr(args, "cache_dir", None)))
        print(json.dumps(imp.to_dict()) if args.json else format_impact(imp))
        return 0
    if action == "root-cause":
        dr = _plain_driver(args)
        store = open_store(dr, getattr(args, "cache_dir", None))
        if store is None:
            raise UsageError(f"no run history for pipeline {dr.pipeline_name}; run it first (ripple run "
                             f"{args.pipeline}) or pass --cache-dir.")
        from engine.caching.cache import Cache

        dr.cache = Cache(dr.graph, dr.project_root, store, pipeline=dr.pipeline_name, emit=dr.bus.emit, behaviors={},
                         default_behavior="default", max_size=None)
        try:
            rc = root_cause(dr, store, args.node)
        finally:
            store.close()
        print(json.dumps(rc.to_dict()) if args.json else format_root_cause(rc))
        return 0
    # emit
    require_client()
    printing = bool(args.json or args.print)
    with _stdout_to_stderr() as out:
        client = _cli_client(out if printing else None)
        if args.static:
            dr = _plain_driver(args)
            events = static_job_events(dr, args.namespace, args.job_prefix)
            for e in events:
                client.emit(e)
            client.close(5.0)
            if not printing:
                print(f"ripple: sent {len(events)} OpenLineage JobEvents via {client.transport.kind}", file=sys.stderr)
            return 0
        dr = _driver(args)
        outputs = resolve_outputs(dr, args.outputs)
        inputs = typed_inputs(dr, _kv(args.input, "input"))
        listener = LineageListener(dr, client, args.namespace, args.job_prefix)
        dr.add_listener(listener)
        result = _run(dr, outputs, inputs)
        client.close(5.0)
    if not printing:
        print(f"ripple: run {result.run_id} {result.status}; sent {listener.sent} OpenLineage events via "
              f"{client.transport.kind}" + (f" ({listener.errors} failed to send)" if listener.errors else ""),
              file=sys.stderr)
    return 0 if result.status == "ok" else 1


def _plain_driver(args: Any) -> Driver:
    """A driver without a cache: analysis and static lineage must not create a store."""
    from engine.driver import Driver

    raw, config = _config(args)
    dr = Driver(config, args.pipeline)
    dr._cli_pipeline = args.pipeline  # type: ignore[attr-defined]
    _check_nonempty(dr)
    _retype_config(dr, raw)
    return dr


def _cli_client(stream: Any) -> Any:
    """The printing client, or the configured one; refuse the client's silent console fallback."""
    from openlineage.client import OpenLineageClient

    if stream is not None:
        return OpenLineageClient(transport=PrintTransport(stream))
    client = OpenLineageClient()
    transport_conf = (client.config.transport or {}) if hasattr(client, "config") else {}
    if getattr(client.transport, "kind", "") == "console" and not transport_conf.get("type"):
        raise UsageError("no OpenLineage transport is configured; set OPENLINEAGE_URL (or "
                         "OPENLINEAGE__TRANSPORT__TYPE, or an openlineage.yml), or add --print to print the events.")
    return client


def cmd_lineage(args: argparse.Namespace) -> int:
    """OpenLineage lives in ``engine.lineage`` (and the optional openlineage-python client), imported
    only when this command runs."""

    return lineage_command(args)


def register(sub: Any) -> None:
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
