"""``ripple runs diff A B``: which nodes changed decision or time between two runs, and why."""

from __future__ import annotations

import argparse
import json

from engine.errors import UsageError


def _fmt(s: float | None) -> str:
    if s is None:
        return ""
    return f"{s * 1000:.0f}ms" if s < 1 else f"{s:.2f}s"


def cmd_diff(args: argparse.Namespace) -> int:
    from engine.analysis.runs_diff import diff_runs
    from engine.cli._common import _console
    from engine.cli._run_show import _find_run
    from engine.cli.cache import _store_for

    if len(args.run_ids) != 2:
        raise UsageError("`ripple runs diff` needs two run ids, e.g. `ripple runs diff 3f2a 9c1b` (`ripple runs` "
                         "lists them; `last` is the newest).")
    located = argparse.Namespace(pipeline=getattr(args, "graph_pipeline", None), cache_dir=args.cache_dir)
    store, _ = _store_for(located)
    with store:
        a, b = (_find_run(store, r) for r in args.run_ids)
        diff = diff_runs(a.run_id, store.run_nodes(a.run_id), b.run_id, store.run_nodes(b.run_id))
    if args.json:
        print(json.dumps(diff.to_dict(), default=str))
        return 0
    from rich.table import Table

    console = _console()
    if not diff.changed:
        console.print(f"runs {a.run_id} and {b.run_id}: no node changed decision, time or versions "
                      f"({diff.unchanged} nodes)")
        return 0
    table = Table(title=f"{a.run_id} → {b.run_id}", title_justify="left", show_edge=False)
    for col, just in (("node", "left"), (a.run_id, "left"), (b.run_id, "left"), ("time", "right"),
                      ("what", "left"), ("why", "left")):
        table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    for c in diff.changed:
        time_col = f"{_fmt(c.seconds_a)} → {_fmt(c.seconds_b)}" if c.seconds_a is not None or c.seconds_b is not None \
            else ""
        table.add_row(c.node, c.status_a or "–", c.status_b or "–", time_col, ", ".join(c.changes), c.why)
    console.print(table)
    console.print(f"{len(diff.changed)} nodes changed, {diff.unchanged} the same")
    return 0
