"""Explanations against the node's previous run, not against whichever entry is newest.

After an edit, a revert and another edit, the newest entry belongs to the middle version; the
run before this one used the first. "Why did it run" must compare with what that run used — its
code version and the input data versions its key was made of, both kept in the history — and
the diff must be between those two versions of the source.

What a stored result leaves for that: one memo row per code version, ``explain:DIGEST``, with
its parts and the source of each part (or, for a part whose same version another code version's
row already holds this run, that code version's digest: a helper shared by 500 nodes is kept once,
not 500 times). Only the parts of stored results are kept — never a whole file, which may hold a
sensitive node's literals.

Why one row: a cold run of a large pipeline used to write three memo rows per stored node (the
parts, and each part's source twice: as the newest ``src:QUAL`` and as ``src:QUAL@VERSION``), each
MAC'd and inserted, ~16 µs a node. Stores written before keep those rows (``parts:DIGEST``,
``src:...``); they are read when a code version has no ``explain:`` row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine._json import loads_object
from engine._records import ValueRecord
from engine.caching.code_version import diff_parts
from engine.store.schema import compact_json

if TYPE_CHECKING:
    from engine.caching.decisions import Decision
    from engine.caching.session import Session
    from engine.core.graph import Node
    from engine.store import NodeRunRecord, Store
    from engine.store.history import RunNodes


@dataclass(slots=True, eq=False, repr=False)
class Previous(ValueRecord):
    """What a node's previous run used: enough to say what changed since."""

    run_id: str
    code_version: str
    code_parts: dict[str, str] | None
    deps: dict[str, str] | None


#: how many ``explain:`` rows are followed to the one holding a part's source
_HOPS = 4

#: how many recent runs are searched for a node's previous run (older ones: the newest entry explains)
RECENT_RUNS = 10


def previous_records(store: Store, *, pipeline: str | None = None, runs: int = RECENT_RUNS) -> PreviousRecords:
    """Each node's newest history record that knows its code version, from the ``runs`` most recent
    runs of ``pipeline``, as nodes ask (see :class:`PreviousRecords`)."""
    return PreviousRecords(store, pipeline, runs)


class PreviousRecords:
    """Each node's newest history record that knows its code version, from the most recent runs of
    a pipeline: read one run at a time, newest first, only as far back as the node asked for needs,
    and each record made only when its node is asked for. A run explains its misses (after an edit,
    one or a few of a thousand nodes): reading every node's record of the last run for that cost an
    edited 1,000-node run ~5 ms, and a long history costs nothing."""

    __slots__ = ("_store", "_pipeline", "_limit", "_run_ids", "_runs", "_found")

    def __init__(self, store: Store, pipeline: str | None, runs: int) -> None:
        self._store = store
        self._pipeline = pipeline
        self._limit = runs
        self._run_ids: list[str] | None = None
        self._runs: list[RunNodes] = []
        self._found: dict[str, NodeRunRecord | None] = {}

    def get(self, node: str) -> NodeRunRecord | None:
        if node in self._found:
            return self._found[node]
        if self._run_ids is None:
            self._run_ids = [run_id for run_id, run_pipeline in self._store.recent_runs(self._limit)
                             if not (self._pipeline and run_pipeline and run_pipeline != self._pipeline)]
        found = None
        for i, run_id in enumerate(self._run_ids):
            if i == len(self._runs):
                self._runs.append(self._store.run_nodes_by_node(run_id))
            found = next((r for r in self._runs[i].of(node)
                          if r.code_version and r.status in ("ran", "cached", "failed")), None)
            if found is not None:
                break
        self._found[node] = found
        return found


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


def _json_dict(memo: Mapping[str, str], key: str) -> dict[str, Any] | None:
    """The memo row ``key`` as a JSON object, or None when absent or of another shape."""
    return loads_object(memo.get(key))


def _doc(memo: Mapping[str, str], digest: str) -> dict[str, Any] | None:
    """A code version's ``explain:`` document (its parts and where their sources are), if kept."""
    got = _json_dict(memo, "explain:" + digest) if digest else None
    return got if got is not None and isinstance(got.get("parts"), dict) else None


def _parts(memo: Mapping[str, str], digest: str) -> dict[str, str] | None:
    doc = _doc(memo, digest)
    if doc is not None:
        return doc["parts"]
    return _json_dict(memo, "parts:" + digest) if digest else None  # stores written before ``explain:`` documents


def remember_sources(session: Session, parts: Mapping[str, str], digest: str = "") -> None:
    """Keep what explaining a later change of the code version ``digest`` needs, in one ``explain:``
    row: its parts and the source of each, or the code version whose row already holds that source
    (a helper shared by many nodes is kept once per run). Once per code version and process."""
    seen = session.cache._sources_seen
    if not digest or ("explain", digest) in seen:
        return
    seen.add(("explain", digest))
    held, lines_of = session._sources_held, session._source_lines
    source_of = session.cache.versioner.source_of
    src: dict[str, str] = {}
    elsewhere: dict[str, str] = {}
    for qual, version in parts.items():
        if qual.startswith("dist:"):
            continue
        holder = held.get((qual, version))
        if holder is not None:
            elsewhere[qual] = holder
            continue
        text = source_of(qual, lines_of)  # each file's lines are read once a run, not once a part
        if text:
            src[qual] = text
            held[qual, version] = digest
    doc = {"parts": dict(parts), "src": src, "in": elsewhere} if elsewhere else {"parts": dict(parts), "src": src}
    session.store.memo["explain:" + digest] = compact_json(doc)


def code_diff(memo: Mapping[str, str], source_of: Any, changed: Iterable[str], old_parts: Mapping[str, str] | None,
              *, old_code: str = "", label: str = "previous run", limit: int = 4) -> str:
    """Unified diffs, part by part, between the source of the code version ``old_code`` (whose parts
    are ``old_parts``) and the source now."""
    import difflib  # only when a diff is shown

    doc = _doc(memo, old_code)
    out = []
    for qual in list(changed)[:limit]:
        new = source_of(qual) or ""
        old = _old_source(memo, qual, doc, old_parts)
        if old == new or not (old or new):
            continue
        diff = difflib.unified_diff(old.splitlines(), new.splitlines(), f"{qual} ({label})", f"{qual} (now)",
                                    lineterm="")
        out.append("\n".join(diff))
    return "\n".join(out)


def _old_source(memo: Mapping[str, str], qual: str, doc: dict[str, Any] | None,
                old_parts: Mapping[str, str] | None) -> str:
    """A part's source as the old code version had it: from its ``explain:`` row (or the row it
    names as holding it, for the same version of the part), else from the per-part rows of older
    stores; "" when unknown."""
    version = doc["parts"].get(qual) if doc is not None else None
    for _ in range(_HOPS):  # a holder written again by a later process may name another holder
        if doc is None or doc["parts"].get(qual) != version:
            break
        src, holder = doc.get("src"), doc.get("in")
        got = src.get(qual) if isinstance(src, dict) else None
        if isinstance(got, str):
            return got
        holder = holder.get(qual) if isinstance(holder, dict) else None
        doc = _doc(memo, holder) if isinstance(holder, str) else None
    digest = (old_parts or {}).get(qual)
    old = memo.get(f"src:{qual}@{digest}") if digest else None
    if old is None:
        old = "" if old_parts is not None and digest is None else memo.get("src:" + qual) or ""
    return old


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
        session._previous = previous_records(session.store, pipeline=session.cache.pipeline)
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
                           old_code=prev.code_version, label=f"run {prev.run_id}")
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


def why_miss(session: Session, node: Node, deps: list[tuple[str, str]]) -> Decision:
    """Why a node's key missed, against its previous run or its newest entry."""
    from engine.caching.decisions import Decision  # the hit path makes none

    d = Decision(node.name, False, "")
    previous = session.prefetched.of(node.name)
    prev = max(previous, key=lambda e: e.created) if previous else None
    if prev is not None:
        prev = session.store.get(prev.key) or prev  # the prefetch left out deps and code parts
    d.previous = prev
    if against_previous_run(session, node, deps, d):
        return d
    if prev is None:
        d.why = "no cached result"
        return d
    cv = session.cache.code_version(node)
    if prev.code_version != cv.digest:
        changed = diff_parts(prev.code_parts or {}, cv.parts) or [f"{node.module}.{node.origin.__name__}"]
        d.changed_parts = changed
        d.why = "code changed: " + ", ".join(changed[:4]) + (" …" if len(changed) > 4 else "")
        d.diff = code_diff(session.store.memo, session.cache.versioner.source_of, changed, prev.code_parts or None,
                           old_code=prev.code_version, label="cached")
        return d
    old = prev.deps or {}
    changed_inputs = [p for p, dv in deps if old.get(p) != dv]
    if changed_inputs:
        d.changed_inputs = changed_inputs
        names = [dict(node.deps).get(p, p) for p in changed_inputs]
        kind = ["upstream" if n in session.cache.graph.nodes else "input" for n in names]
        d.why = ", ".join(f"{k} {n} changed" for k, n in zip(kind, names))
        return d
    d.why = "no cached result for these inputs"
    return d
