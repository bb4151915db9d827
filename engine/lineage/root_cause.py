from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine.caching.observed import data_files
from engine.errors import UsageError
from engine.lineage.impact import open_store
from engine.lineage.openlineage import _private_version

if TYPE_CHECKING:
    from engine.driver import Driver
    from engine.store import NodeRunRecord, Store


# ---------------------------------------------------------------------- root-cause analysis


@dataclass
class Change:
    """One difference between the failing run and the node's last good run."""

    node: str
    kind: str  # "code" | "data" | "file"
    before: str | None
    after: str | None
    #: changed code components (helpers, constants) for "code"; the path for "file"
    parts: list[str] = field(default_factory=list)
    #: a change that did not itself follow from another change upstream
    probable: bool = False


@dataclass
class RootCause:
    pipeline: str
    node: str | None = None
    run_id: str | None = None
    error: str | None = None
    good_run_id: str | None = None
    changes: list[Change] = field(default_factory=list)
    note: str = ""

    @property
    def probable(self) -> list[Change]:
        return [c for c in self.changes if c.probable]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_GOOD = (ev.RAN, ev.CACHED)


def root_cause(driver: Driver, store: Store | None = None, node: str | None = None,
               run_id: str | None = None) -> RootCause:
    """For the last failed run (or ``node``'s last failure): which upstream code versions, data versions
    and read files changed since that node's last good run.

    The failing node's own code is compared as it is now (a failed run records no code version for
    the node that raised); its upstream nodes are compared as the failing run recorded them.
    """
    from engine.caching.code_version import diff_parts
    from engine.files import file_version

    graph = driver.graph
    store = store if store is not None else open_store(driver)
    out = RootCause(driver.pipeline_name, node)
    if store is None:
        raise UsageError(f"no run history for pipeline {driver.pipeline_name}; run it first (ripple run).")
    if node is not None and node not in graph.nodes:
        from engine._text import did_you_mean

        raise UsageError(f"--node names unknown node {node!r}{did_you_mean(node, graph.nodes)}.")
    limit = max(int(getattr(store, "history_limit", 200) or 200), 1)
    failing: NodeRunRecord | None = None
    history: list[NodeRunRecord] = []
    if node is not None:
        history = store.node_history(node, limit=limit * 4)
        failing = next((r for r in history if r.status == ev.FAILED and (run_id is None or r.run_id == run_id)), None)
    else:
        for run in store.runs(limit=limit):
            if run.pipeline != driver.pipeline_name or run.status != "failed" or (run_id and run.run_id != run_id):
                continue
            failing = next((r for r in store.run_nodes(run.run_id) if r.status == ev.FAILED and r.node in graph.nodes),
                           None)
            if failing is not None:
                break
        if failing is not None:
            out.node = failing.node
            history = store.node_history(failing.node, limit=limit * 4)
    if failing is None:
        out.note = f"no failed run{f' of node {node}' if node else ''} in the history."
        return out
    out.run_id, out.error = failing.run_id, failing.error
    older = history[[r.run_id for r in history].index(failing.run_id) + 1:] if failing.run_id in \
        [r.run_id for r in history] else []
    good = next((r for r in older if r.status in _GOOD), None)
    if good is None:
        out.note = f"{failing.node} never succeeded before this failure; nothing to compare with."
        return out
    out.good_run_id = good.run_id
    bad_rows = {r.node: r for r in store.run_nodes(failing.run_id)}
    good_rows = {r.node: r for r in store.run_nodes(good.run_id)}
    cache = getattr(driver, "cache", None)
    ups = graph.upstream([failing.node])
    changes: list[Change] = []
    for name in [n for n in graph.order if n in ups]:
        before, after = good_rows.get(name), bad_rows.get(name)
        if before is None:
            continue
        g_entry = store.get(before.key) if before.key else None
        now_code, now_parts = (after.code_version if after else None), None
        if name == failing.node or not now_code:
            if cache is not None:
                cv = cache.code_version(graph.nodes[name])
                now_code, now_parts = cv.digest, cv.parts
        if now_code and before.code_version and now_code != before.code_version:
            if now_parts is None and after is not None and after.key:
                b_entry = store.get(after.key)
                now_parts = b_entry.code_parts if b_entry else None
            parts = diff_parts(g_entry.code_parts or {}, now_parts) if g_entry and now_parts is not None else []
            changes.append(Change(name, "code", before.code_version, now_code, parts))
        if after is not None and name != failing.node and before.data_version and after.data_version \
                and before.data_version != after.data_version \
                and not _private_version(graph.nodes[name], before.data_version):
            changes.append(Change(name, "data", before.data_version, after.data_version))
        for path, version in data_files(g_entry.files if g_entry else None, driver.project_root).items():
            try:
                now = file_version(path)
            except OSError:
                now = None
            if now != version:
                changes.append(Change(name, "file", version, now, [path]))
    changed_code = {c.node for c in changes if c.kind in ("code", "file")}
    changed_any = {c.node for c in changes}
    for c in changes:
        if c.kind in ("code", "file"):
            c.probable = True
        else:  # a data change is a cause only if nothing upstream of it changed too
            c.probable = c.node not in changed_code and not (graph.upstream([c.node]) - {c.node}) & changed_any
    changes.sort(key=lambda c: (not c.probable, graph.order.index(c.node)))
    out.changes = changes
    if not changes:
        out.note = "no upstream code, data or file changed since the last good run; the failure may depend " \
                   "on an input or config value, or on something outside the pipeline."
    return out


def format_root_cause(rc: RootCause) -> str:
    if rc.run_id is None or rc.good_run_id is None:
        return f"{rc.pipeline}: {rc.note}"
    lines = [f"{rc.node} failed in run {rc.run_id}: {rc.error}",
             f"compared with its last good run {rc.good_run_id}:"]
    for c in rc.changes:
        what = {"code": "code changed", "data": "data changed", "file": "file changed"}[c.kind]
        detail = f" ({', '.join(c.parts)})" if c.parts else ""
        mark = "probable cause" if c.probable else "follows"
        lines.append(f"  {mark:14} {c.node}: {what}{detail} {(c.before or '')[:12]} -> {(c.after or '-')[:12]}")
    if rc.note:
        lines.append(rc.note)
    return "\n".join(lines)
