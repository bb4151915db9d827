"""``ripple runs bottlenecks [RUN_ID]``: where a stored run's time went (default: the newest run)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.errors import UsageError


def _fmt(s: float | None) -> str:
    if s is None:
        return ""
    return f"{s * 1000:.0f}ms" if s < 1 else f"{s:.2f}s"


def cmd_bottlenecks(args: argparse.Namespace) -> int:
    from engine.analysis.history import bottlenecks
    from engine.cli._common import _console
    from engine.cli._run_show import _find_run, _graph
    from engine.cli.cache import _store_for

    if len(args.run_ids) > 1:
        raise UsageError("`ripple runs bottlenecks` takes at most one RUN_ID (default: the newest run).")
    located = argparse.Namespace(pipeline=getattr(args, "graph_pipeline", None), cache_dir=args.cache_dir)
    store, _ = _store_for(located)
    with store:
        run = _find_run(store, args.run_ids[0] if args.run_ids else "last")
        name = getattr(args, "graph_pipeline", None) or run.pipeline
        graph = _graph(name) if name else None
        report = bottlenecks(store, run.run_id, deps=graph[1] if graph else None)
    assert report is not None
    if args.json:
        print(json.dumps(report.to_dict(), default=str))
        return 0
    _print(_console(), report, getattr(args, "limit", 20))
    return 0


def _print(console: Any, report: Any, limit: int) -> None:
    from rich.table import Table

    table = Table(title=f"bottlenecks of run {report.run_id} (wall {_fmt(report.wall)})", title_justify="left",
                  show_edge=False)
    for col, just in (("#", "right"), ("node", "left"), ("self", "right"), ("share", "right"),
                      ("median", "right"), ("trend", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for i, row in enumerate(report.ranking[:limit], 1):
        tr = report.trends.get(row.node)
        flag = f"[bold red]▲ {tr.ratio:.1f}x slower[/]" if tr is not None and tr.regressed and tr.ratio else ""
        name = f"[b]{row.node}[/b]" if row.critical else row.node
        table.add_row(str(i), name, _fmt(row.seconds), f"{row.share:.0%}",
                      _fmt(tr.median) if tr is not None else "", flag)
    console.print(table)
    path = report.path
    console.print(f"critical path {_fmt(path.seconds)}: " + " → ".join(path.nodes), highlight=False)
    console.print(f"parallel execution could save ~{_fmt(path.parallel_saving)} (work {_fmt(path.total)}, "
                  f"wall {_fmt(path.wall)})", highlight=False)
    console.print(f"cache saved ~{_fmt(report.saved_this_run)} in this run, ~{_fmt(report.saved_total)} over the "
                  "history", highlight=False)
