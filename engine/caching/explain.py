"""Explanations against the node's previous run, not against whichever entry is newest.

After an edit, a revert and another edit, the newest entry belongs to the middle version; the
run before this one used the first. "Why did it run" must compare with what that run used — its
code version and the input data versions its key was made of, both kept in the history — and
the diff must be between those two versions of the source.

Sources are remembered per version (memo ``src:QUAL@DIGEST``) and code parts per code version
(memo ``parts:DIGEST``) when a result is stored; stores written before that have only the newest
source of each part (``src:QUAL``), which is used when the versioned one is missing.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.caching.decisions import Decision
    from engine.caching.session import Session
    from engine.core.graph import Node
    from engine.store import NodeRunRecord, Store

#: one encoder for the stored parts documents (``json.dumps`` with options builds one per call)
_SORTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


@dataclass(slots=True)
class Previous:
    """What a node's previous run used: enough to say what changed since."""

    run_id: str
    code_version: str
    code_parts: dict[str, str] | None
    deps: dict[str, str] | None


#: how many recent runs are searched for a node's previous run (older ones: the newest entry explains)
RECENT_RUNS = 10


def previous_records(store: Store, nodes: Iterable[str], *, pipeline: str | None = None,
                     runs: int = RECENT_RUNS) -> dict[str, NodeRunRecord]:
    """Each node's newest history record that knows its code version, from the ``runs`` most recent
    runs of ``pipeline``: one run's records at a time, newest first, so a long history costs nothing."""
    wanted = set(nodes)
    out: dict[str, NodeRunRecord] = {}
    if not wanted:
        return out
    for run in store.runs(limit=runs):
        if pipeline and run.pipeline and run.pipeline != pipeline:
            continue
        for r in store.run_nodes(run.run_id):
            if r.node in wanted and r.node not in out and r.code_version and r.status in ("ran", "cached", "failed"):
                out[r.node] = r
        if len(out) == len(wanted):
            break
    return out


def previous(store: Store, rec: NodeRunRecord) -> Previous:
    """The code parts and input versions of a history record, from the memo or its entry."""
    parts = _parts(store.memo, rec.code_version or "")
    deps = rec.deps
    if (parts is None or deps is None) and rec.key:
        entry = store.get(rec.key)
        if entry is not None and entry.code_version == rec.code_version:
            parts = parts if parts is not None else (entry.code_parts or None)
            deps = deps if deps is not None else (entry.deps or {})
    return Previous(rec.run_id, rec.code_version or "", parts, deps)


def _parts(memo: Mapping[str, str], digest: str) -> dict[str, str] | None:
    raw = memo.get("parts:" + digest) if digest else None
    if not raw:
        return None
    try:
        got = json.loads(raw)
    except ValueError:
        return None
    return got if isinstance(got, dict) else None


def remember_sources(session: Session, parts: Mapping[str, str], digest: str = "") -> None:
    """Keep a code version's parts (``digest``: the node's code version) and each part's source,
    both as the newest (``src:QUAL``) and under its own digest (``src:QUAL@DIGEST``), once per process."""
    memo: MutableMapping[str, str] = session.store.memo
    seen = session.cache._sources_seen
    if digest and ("parts", digest) not in seen:
        seen.add(("parts", digest))
        memo["parts:" + digest] = _SORTED.encode(dict(parts))
    for qual, version in parts.items():
        if qual.startswith("dist:") or (qual, version) in seen:
            continue
        seen.add((qual, version))
        src = session.cache.versioner.source_of(qual)
        if src:
            memo["src:" + qual] = src
            memo[f"src:{qual}@{version}"] = src  # per version: diffs against the previous run's source


def code_diff(memo: Mapping[str, str], source_of: Any, changed: Iterable[str], old_parts: Mapping[str, str] | None,
              *, label: str = "previous run", limit: int = 4) -> str:
    """Unified diffs, part by part, between the previous run's source and the source now."""
    out = []
    for qual in list(changed)[:limit]:
        new = source_of(qual) or ""
        digest = (old_parts or {}).get(qual)
        old = (memo.get(f"src:{qual}@{digest}") if digest else None)
        if old is None:
            old = "" if old_parts is not None and digest is None else memo.get("src:" + qual) or ""
        if old == new or not (old or new):
            continue
        diff = difflib.unified_diff(old.splitlines(), new.splitlines(), f"{qual} ({label})", f"{qual} (now)",
                                    lineterm="")
        out.append("\n".join(diff))
    return "\n".join(out)


def versions_row(session: Session, row: dict[str, Any]) -> None:
    """A failed node's history row keeps its code and input versions too (explanations compare with it)."""
    node = session.cache.graph.nodes.get(row["node"])
    deps = session._deps.get(row["node"])
    if node is not None and deps is not None:
        row.setdefault("code_version", session.cache.code_version(node).digest)
        row.setdefault("deps", dict(deps))


def against_previous_run(session: Session, node: Node, deps: list[tuple[str, str]], d: Decision) -> bool:
    """Explain a miss by what changed since the node's previous run; ``False`` if the recent history
    does not have one (the caller then compares with the newest entry, as before the history kept it)."""
    from engine.caching.code_version import diff_parts

    if session._previous is None:
        graph = session.cache.graph.nodes
        session._previous = previous_records(session.store, [n for n in session.plan.order if n in graph],
                                             pipeline=session.cache.pipeline)
    rec = session._previous.get(node.name)
    if rec is None:
        return False
    prev = previous(session.store, rec)
    since = f" (since run {prev.run_id})"
    d.against_run = prev.run_id
    cv = session.cache.code_version(node)
    if prev.code_version != cv.digest:
        changed = diff_parts(prev.code_parts or {}, cv.parts) if prev.code_parts is not None else []
        changed = changed or [f"{node.module}.{node.origin.__name__}"]
        d.changed_parts = changed
        d.why = "code changed: " + ", ".join(changed[:4]) + (" …" if len(changed) > 4 else "") + since
        d.diff = code_diff(session.store.memo, session.cache.versioner.source_of, changed, prev.code_parts,
                           label=f"run {prev.run_id}")
        return True
    if prev.deps is None:
        return False
    changed_inputs = [p for p, dv in deps if prev.deps.get(p) != dv]
    if not changed_inputs:
        return False
    d.changed_inputs = changed_inputs
    names = [dict(node.deps).get(p, p) for p in changed_inputs]
    kind = ["upstream" if n in session.cache.graph.nodes else "input" for n in names]
    d.why = ", ".join(f"{k} {n} changed" for k, n in zip(kind, names)) + since
    return True
