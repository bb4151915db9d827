from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.caching.observed import data_files
from engine.errors import UsageError
from engine.lineage.openlineage import declared_files

if TYPE_CHECKING:
    from engine.driver import Driver
    from engine.store import Store


# ---------------------------------------------------------------------- impact analysis


@dataclass
class Impact:
    """What a change to ``target`` reaches: ``sources`` are the nodes it touches directly, ``downstream``
    everything that depends on them (topological order, sources excluded)."""

    target: str
    kind: str  # "node" | "file"
    sources: list[str] = field(default_factory=list)
    downstream: list[str] = field(default_factory=list)
    #: for a file: node -> how it is known to read it ("declared" default / "recorded" read)
    readers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_store(driver: Driver, cache_dir: str | os.PathLike[str] | None = None) -> Store | None:
    """The pipeline's store if it exists; never creates one (analysis must not leave a cache behind)."""
    if getattr(driver, "cache", None) is not None:
        return driver.cache.store
    from engine.settings import resolve
    from engine.store import DB_NAME, Store

    settings = resolve(Path(driver.project_root), cache_dir=cache_dir)
    path = settings.cache_dir
    return Store(path, history_limit=settings.history_limit) if (path / DB_NAME).exists() else None


def impact(driver: Driver, target: str, store: Store | None = None) -> Impact:
    """Nodes downstream of a node, or of a data file (declared as a ``Path``/``File`` default, or
    recorded being read in the store's entries). A directory covers the files under it."""
    graph = driver.graph
    if target in graph.nodes:
        down = graph.downstream([target]) - {target}
        return Impact(target, "node", [target], [n for n in graph.order if n in down])
    candidates = [Path(target)] if Path(target).is_absolute() else [Path.cwd() / target,
                                                                      Path(driver.project_root) / target]
    paths = [os.path.abspath(p) for p in candidates]

    def covers(p: str) -> bool:
        p = os.path.abspath(p)
        return any(p == t or p.startswith(t.rstrip(os.sep) + os.sep) for t in paths)

    readers: dict[str, str] = {}
    for name in graph.order:
        if any(covers(p) for p in declared_files(graph.nodes[name])):
            readers[name] = "declared"
    store = store if store is not None else open_store(driver)
    if store is not None:
        for name, entries in store.entries_for(list(graph.nodes), full=True).items():
            if name in readers or not entries:
                continue
            latest = max(entries, key=lambda e: e.created)
            if any(covers(p) for p in data_files(latest.files, driver.project_root)):
                readers[name] = "recorded"
    if not readers and not any(os.path.exists(p) for p in paths):
        from engine._text import did_you_mean

        raise UsageError(f"{target!r} is neither a node of pipeline {driver.pipeline_name} nor an existing file"
                         f"{did_you_mean(target, graph.nodes)}; give a node name or a data file path.")
    sources = [n for n in graph.order if n in readers]
    down = graph.downstream(sources) - set(sources)
    shown = next((p for p in paths if os.path.exists(p)), paths[0])
    return Impact(shown, "file", sources, [n for n in graph.order if n in down], readers)


def format_impact(imp: Impact) -> str:
    head = (f"{imp.target} is read by {', '.join(imp.sources) or 'no node'}" if imp.kind == "file"
            else f"node {imp.target}")
    down = ", ".join(imp.downstream) if imp.downstream else "nothing"
    return f"{head}\ndownstream ({len(imp.downstream)}): {down}"
