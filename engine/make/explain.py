"""``ripple import-make --explain``: the DAG make's rules make, and the prerequisites they forgot.

Missing dependencies are the classic Makefile bug: a recipe reads a header or a config file the
rule does not list, and make never rebuilds when it changes. The generated pipeline's recipes open
the files they name (and the headers a compiler reports) where Ripple's file-read tracking sees
them, so after a run the cache knows, per target, which files the recipe really read. The report
lists those that are neither a prerequisite nor the target itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.caching.observed import data_files
from engine.make.translate import Translation, _phony

__all__ = ["Explanation", "explain", "forgotten_prerequisites"]


@dataclass
class Explanation:
    """The inferred DAG as text lines, and per target the files its recipe read undeclared."""

    dag: list[str]
    forgotten: dict[str, list[str]] = field(default_factory=dict)  # target -> files (relative)
    where: dict[str, str] = field(default_factory=dict)  # target -> Makefile:line

    def render(self, makefile: str) -> str:
        out = [f"DAG inferred from {makefile} ({len(self.dag)} targets, prerequisites first):", *self.dag, ""]
        if self.forgotten:
            out.append("Prerequisites the Makefile forgot (files a recipe read that its rule does not list):")
            for target, files in self.forgotten.items():
                out.append(f"  {self.where.get(target, makefile)}: {target} also reads {', '.join(files)}")
            out.append("Add them to the rules' prerequisites, or make will not rebuild when they change "
                       "(Ripple already re-runs these targets when they do).")
        else:
            out.append("Every file a recipe read is declared as a prerequisite.")
        return "\n".join(out)


def _dag(t: Translation) -> list[str]:
    db = t.database
    lines = []
    for target, node in t.nodes.items():
        r = db.rules[target]
        kind = " (phony)" if _phony(db, r) else " (order-only: existence only)" if target in t.folders else ""
        pre = " ".join(r.prerequisites)
        order = f" | {' '.join(r.order_only)}" if r.order_only else ""
        arrow = f" <- {pre}{order}" if pre or order else ""
        lines.append(f"  {target}{kind}{arrow}    [node {node}]")
    return lines


def forgotten_prerequisites(t: Translation, driver: Any) -> dict[str, list[str]]:
    """Per target, the files the cache recorded its recipe reading (Ripple's read tracking) that
    the rule does not declare. ``driver`` has just run the translated pipeline with a cache."""
    db = t.database
    root = os.path.realpath(db.directory)
    cache = driver.cache
    out: dict[str, list[str]] = {}
    for target, node in t.nodes.items():
        r = db.rules[target]
        decision = cache.decision(node) if cache is not None else None
        key = getattr(decision, "key", None)
        entry = cache.store.get(key) if key else None
        if entry is None:
            continue
        declared = {os.path.realpath(os.path.join(root, p)) for p in (*r.prerequisites, *r.order_only, target)}
        files = []
        for path in sorted(data_files(entry.files, root)):
            real = os.path.realpath(path)
            if real in declared or not real.startswith(root + os.sep):
                continue
            files.append(os.path.relpath(real, root))
        if files:
            out[target] = files
    return out


def explain(t: Translation, module: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None,
            goals: list[str] | None = None) -> Explanation:
    """Run the translated pipeline (cached: only what changed runs) so every recipe's reads are
    known, then report the DAG and the undeclared prerequisites."""
    from engine import Driver

    sys.modules.pop(Path(module).stem, None)  # every translation is named after its Makefile: no stale one
    dr = Driver({}, str(Path(module)))
    dr.with_cache(cache_dir)
    wanted = goals or ([t.default_goal] if t.default_goal else [n for n in t.nodes.values()])
    with contextlib.redirect_stdout(sys.stderr):  # the recipes' own output must not mix with the report
        dr.execute(wanted)
    where = {target: f"{r.file}:{r.line}" for target, r in t.database.rules.items() if r.file}
    return Explanation(_dag(t), forgotten_prerequisites(t, dr), where)
