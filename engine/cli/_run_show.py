"""``ripple runs show RUN_ID [--timeline] [--html FILE]``: one stored run, node by node.

The run is read from the history (no pipeline code runs). The graph is only needed for the DAG of
the HTML page and for the critical path's edges; it is loaded from ``--pipeline`` or else from the
pipeline name the run recorded, and when that cannot be imported the rest is shown without it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from engine.errors import RippleError, UsageError

ROLE_STYLE = {"ran": "green", "cached": "cyan", "failed": "bold red", "running": "blue", "skipped": "yellow",
              "critical": "bold magenta", "axis": "dim", "duration": "dim", "label": ""}


def add_show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeline", action="store_true", help="with show: draw the run as a timeline (Gantt chart)")
    p.add_argument("--html", metavar="FILE", help="with show: write a self-contained HTML report of the run")
    p.add_argument("--pipeline", dest="graph_pipeline", metavar="PIPELINE",
                   help="with show: the pipeline to draw the graph from (default: the one the run recorded)")
    p.add_argument("--width", type=int, metavar="N", help="with show --timeline: chart width (default: terminal)")


def _find_run(store: Any, wanted: str) -> Any:
    """An exact id, ``last``, or a prefix matching exactly one run of the history."""
    if wanted == "last":
        run = store.last_run()
    else:
        run = store.run(wanted)
        if run is None:
            matches = [r for r in store.runs(limit=max(store.history_limit, 1)) if r.run_id.startswith(wanted)]
            if len(matches) > 1:
                raise UsageError(f"run id prefix {wanted!r} matches {len(matches)} runs; give more characters "
                                 "(`ripple runs` lists them).")
            run = matches[0] if matches else None
    if run is None:
        raise UsageError(f"no run {wanted!r} in the history at {store.root}; `ripple runs` lists the runs.")
    return run


def _graph(name: str) -> tuple[list[str], dict[str, list[str]], dict[str, str]] | None:
    from engine.driver import Driver

    try:
        g = Driver({}, name).graph
    except (RippleError, ImportError, OSError, SyntaxError) as exc:
        sys.stderr.write(f"ripple: note: could not load pipeline {name!r} ({exc}); shown without its graph.\n")
        return None
    order = list(g.order)
    return order, {n: list(g.pred[n]) for n in order}, {n: g.nodes[n].module for n in order}


def cmd_show(args: argparse.Namespace) -> int:
    from engine.analysis import html_report, timeline
    from engine.cli._common import _console
    from engine.cli.cache import _store_for

    if len(args.run_ids) != 1:
        raise UsageError("`ripple runs show` needs one RUN_ID (an id, a unique prefix, or last).")
    # the pipeline locates the store only when --cache-dir does not (and need not import then)
    located = argparse.Namespace(pipeline=None if args.cache_dir else args.graph_pipeline, cache_dir=args.cache_dir)
    store, _ = _store_for(located)
    with store:
        run = _find_run(store, args.run_ids[0])
        records = store.run_nodes(run.run_id)
    graph = _graph(args.graph_pipeline or run.pipeline) if (args.graph_pipeline or run.pipeline) else None
    deps = graph[1] if graph else {}
    tl = timeline.from_records(run, records, deps)
    if args.html:
        page = html_report.render(run, records, tl, order=graph[0] if graph else None,
                                  parents=deps, groups=graph[2] if graph else None)
        Path(args.html).write_text(page, encoding="utf-8")
        print(f"wrote {args.html}")
        return 0
    if args.json:
        print(json.dumps({"run": run.__dict__, "nodes": [r.__dict__ for r in records], "timeline": tl.to_dict()},
                         default=str))
        return 0
    console = _console()
    if args.timeline:
        _print_timeline(console, tl, args.width or console.width)
    else:
        _print_table(console, run, records, graph[0] if graph else [])
    return 0


def _print_timeline(console: Any, tl: Any, width: int) -> None:
    from rich.text import Text

    from engine.analysis.timeline import rows, to_text

    head = to_text(tl, width).splitlines()[0]
    console.print(Text(head, style="bold"), soft_wrap=True)
    for row in rows(tl, width):
        text = Text(no_wrap=True, overflow="crop")
        for piece in row.pieces:
            text.append(piece.text, ROLE_STYLE.get(piece.role, ""))
        console.print(text, soft_wrap=True)


def _print_table(console: Any, run: Any, records: list[Any], order: list[str]) -> None:
    from rich.table import Table

    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started)) if run.started else ""
    wall = f"{run.seconds:.2f}s" if run.seconds is not None else "?"
    console.print(f"[b]run {run.run_id}[/b] {run.pipeline} [b]{run.status}[/b] · started {started} · wall {wall} · "
                  f"{run.ran} ran, {run.cached} cached, {run.failed} failed, {run.skipped} skipped")
    table = Table(show_edge=False)
    for col in ("node", "status", "time", "cache", "why"):
        table.add_column(col, overflow="fold")
    rank = {n: i for i, n in enumerate(order)}
    for r in sorted(records, key=lambda r: (rank.get(r.node, len(rank)), r.started or 0.0)):
        why = r.why or ""
        if r.error:
            why = f"{why}; {r.error}" if why else r.error
        table.add_row(r.node, f"[{ROLE_STYLE.get(r.status or '', '')}]{r.status}[/]",
                      f"{r.seconds:.3f}s" if r.seconds is not None else "", "hit" if r.hit else "miss", why)
    console.print(table)
