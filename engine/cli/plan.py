from __future__ import annotations

import argparse
import json
from typing import Any

from engine.caching.predict import counts
from engine.cli._common import EPILOG, _console, _driver, _kv, _pipeline_args, _stdout_to_stderr
from engine.cli._select import selected_outputs
from engine.core.inputs import typed_inputs


def cmd_plan(args: argparse.Namespace) -> int:
    if args.json:
        with _stdout_to_stderr() as out:
            dr = _driver(args)
            outputs = selected_outputs(dr, args)
            rows = dr.plan(outputs, inputs=typed_inputs(dr, _kv(args.input, "input")))
            est = _estimates(dr, rows)
            c = counts(rows)
            out.write(json.dumps({
                "nodes": [{"name": n, "will": w, "why": y, "estimate_seconds": est.get(n)} for n, w, y in rows],
                "summary": {"will_run": c.run, "may_run": c.may, "hit": c.hit,
                            "estimate_seconds": _total(est, rows, "run"),
                            "estimate_max_seconds": _total(est, rows, "run", "may run")}}) + "\n")
        return 0
    dr = _driver(args)
    outputs = selected_outputs(dr, args)
    rows = dr.plan(outputs, inputs=typed_inputs(dr, _kv(args.input, "input")))
    from rich.table import Table

    est = _estimates(dr, rows)
    table = Table(title=f"plan for {args.pipeline}", title_justify="left")
    for col, just in (("node", "left"), ("will", "left"), ("est.", "right"), ("why", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for name, will, why in rows:
        label = {"hit": "[cyan]hit[/]", "run": "[yellow]will run[/]", "may run": "[magenta]may run[/]"}.get(will, will)
        cost = est.get(name)
        table.add_row(name, label, f"~{cost:.2f}s" if cost is not None and will != "hit" else "", why)
    console = _console()
    console.print(table)
    line = str(counts(rows))
    certain, most = _total(est, rows, "run"), _total(est, rows, "run", "may run")
    if most:
        from engine.analysis.estimate import fmt_cost

        line += f"; estimated {fmt_cost(certain)}" + (f" to {fmt_cost(most)}" if most > certain else "") + " from history"
    console.print(line)
    return 0


def _estimates(dr: Any, rows: list[tuple[str, str, str]]) -> dict[str, float]:
    """Median executed time from the history of each node that will or may run."""
    from engine.analysis.estimate import expected_seconds

    todo = [n for n, w, _ in rows if w != "hit"]
    if dr.cache is None or not todo:
        return {}
    return expected_seconds(dr.cache.store, todo)


def _total(est: dict[str, float], rows: list[tuple[str, str, str]], *wills: str) -> float:
    return round(sum(est.get(n, 0.0) for n, w, _ in rows if w in wills), 6)


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="dry run: which nodes would hit and which would run, and why", epilog=EPILOG,
                       description="Show, without running anything, which nodes of PIPELINE would be served from "
                                   "the cache and which would run, and why.")
    _pipeline_args(p, execute=False, select=True)  # plan runs nothing: no --executor, no --max-size
    p.set_defaults(func=cmd_plan)
