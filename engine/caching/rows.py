"""The history row and data version of a node that ran, whether it ran here or on a worker: one
place, so a pool or Dask run records what a sequential run records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine.caching import observed

if TYPE_CHECKING:
    from engine.caching.session import Session
    from engine.core.graph import Node

#: values that cannot be or hold a ``Path``/``File`` (``entry_records`` skips looking for produced files)
_NO_PATHS = frozenset({int, float, complex, bool, str, bytes, type(None)})


def ran_row(session: Session, node: Node, seconds: float) -> dict[str, Any]:
    """The node's row for this run's history (rows of fan-out items are folded into their collector)."""
    row = {"node": node.name, "status": ev.RAN, "seconds": seconds, "hit": False,
           "why": d.why if (d := session.decisions.get(node.name)) is not None else "",
           "code_version": session.cache.code_version(node).digest, "deps": dict(session._deps.get(node.name, ()))}
    if not session.in_items:
        session.node_rows.append(row)
    return row


def keep_version(session: Session, node: Node, fp: str | None, row: dict[str, Any], behavior: str) -> str | None:
    """Record the data version dependents will see; the key to store the value under, or None when
    nothing is stored (``ignore``, an unversionable value, a node without a key)."""
    session.dv[node.name] = session.dv[(node.name,)] = fp
    if session.in_items:
        session._item_versions.setdefault(node.name, []).append(fp)
    row["data_version"] = fp
    if behavior == "ignore":
        session.ignored.add(node.name)
        return None
    key = session.keys.get(node.name)
    if fp is None or key is None:
        return None
    row["key"] = key
    return key


def entry_records(s: Session, node: Node, value: Any, fp: str, parts: Mapping[str, str], reads: Any) -> dict[str, str] | None:
    """What the node ran, read and saw, as the entry's records; None: do not store the value."""
    c = s.cache
    if observed.pickling_changes(value, fp, s._fingerprint, c.versioner.roundtrip):
        s._warn(node.name + ":pickle", f"{node.name} ({node.location}): a {type(value).__qualname__} changes "
                                       "through pickle (state is lost), so it is not stored; it re-runs")
        return None
    produced = () if value.__class__ in _NO_PATHS else observed.produced_files(value)
    files, spawned = observed.node_records(reads, fn=node.origin, root=str(c.project_root), versioner=c.versioner,
                                           files=c.files, static_parts=parts, produced=produced)
    if spawned and not node.declares_subprocess_reads:
        s._warn(node.name + ":subprocess", observed.subprocess_warning(node.name, node.location, spawned[0]))
    return files
