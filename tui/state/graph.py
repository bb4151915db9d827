"""The DAG as the dashboard holds it: plain data, no Textual, no user code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.live.protocol import GraphDocument

@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the dashboard needs to know about one node, without the function object."""

    name: str
    module: str = ""
    file: str = ""
    line: int = 0
    deps: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    kind: str = "function"
    doc: str = ""


class GraphInfo:
    """The DAG as plain data: topological order, parents and children, lineage queries cached."""

    def __init__(self, nodes: Iterable[NodeInfo], order: Iterable[str] | None = None, *, pipeline: str = "",
                 store_dir: str = "", versions: dict[str, tuple[str | None, str | None]] | None = None) -> None:
        self.nodes: dict[str, NodeInfo] = {n.name: n for n in nodes}
        self.order: list[str] = [n for n in (order or self.nodes) if n in self.nodes]
        self.index = {n: i for i, n in enumerate(self.order)}
        self.pipeline = pipeline
        self.store_dir = store_dir
        #: (code version, data version) of each node's newest record in the store, when there is one
        self.versions = dict(versions or {})
        self.parents: dict[str, tuple[str, ...]] = {
            n.name: tuple(d for d in n.deps if d in self.nodes) for n in self.nodes.values()
        }
        children: dict[str, list[str]] = {n: [] for n in self.nodes}
        for name in self.order:
            for p in self.parents[name]:
                children[p].append(name)
        self.children = {k: tuple(v) for k, v in children.items()}
        self._lineage: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._groups: dict[str, list[str]] | None = None
        #: built from a run's describe message (no kinds/inputs) rather than the richer dump
        self.described = False

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    @classmethod
    def from_names(cls, names: Iterable[str], pipeline: str = "") -> GraphInfo:
        """A structure-less stand-in used until the real dump arrives (a run's node list is known first)."""
        names = list(names)
        return cls([NodeInfo(n) for n in names], names, pipeline=pipeline)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GraphInfo:
        nodes = [
            NodeInfo(n["name"], n.get("module", ""), n.get("file", ""), int(n.get("line", 0)),
                     tuple(n.get("deps", ())), tuple(n.get("inputs", ())), n.get("kind", "function"), n.get("doc", ""))
            for n in d["nodes"]
        ]
        versions = {k: (v[0], v[1]) for k, v in (d.get("versions") or {}).items()}
        return cls(nodes, d.get("order"), pipeline=d.get("pipeline", ""), store_dir=d.get("store_dir", ""),
                   versions=versions)

    @classmethod
    def from_describe(cls, doc: GraphDocument, previous: GraphInfo | None) -> GraphInfo | None:
        """From a run's graph document; kind, inputs and versions carry over by name."""
        raw = doc.nodes
        prev = previous.nodes if previous is not None else {}
        nodes = []
        for name, d in raw.items():
            old = prev.get(name)
            deps = tuple(d.get("deps", ()))
            if old is not None and set(old.deps) == set(deps):
                deps = old.deps  # keep parameter order for the hints
            nodes.append(NodeInfo(name, d.get("module", ""), d.get("file", ""), int(d.get("line") or 0), deps, old.inputs if old else (), old.kind if old else "function",
                                  old.doc if old else ""))
        graph = cls(nodes, list(raw), pipeline=doc.pipeline,
                    store_dir=previous.store_dir if previous else "",
                    versions=previous.versions if previous else None)
        graph.described = True
        return graph

    def same_structure(self, other: GraphInfo, *, loose: bool = False) -> bool:
        """Same nodes in the same order with the same parents (``loose``: ignore kinds, inputs, dep order)."""
        if self.order != other.order:
            return False
        if loose:
            return all(set(self.parents[n]) == set(other.parents[n]) and self.nodes[n].line == other.nodes[n].line
                       for n in self.order)
        return all(self.nodes[n] == other.nodes.get(n) for n in self.order)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "store_dir": self.store_dir,
            "versions": {k: list(v) for k, v in self.versions.items()},
            "order": self.order,
            "nodes": [
                {"name": n.name, "module": n.module, "file": n.file, "line": n.line, "deps": list(n.deps),
                 "inputs": list(n.inputs), "kind": n.kind, "doc": n.doc}
                for n in (self.nodes[x] for x in self.order)
            ],
        }

    def _walk(self, start: str, edges: dict[str, tuple[str, ...]]) -> frozenset[str]:
        seen: set[str] = set()
        stack = list(edges.get(start, ()))
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(edges.get(n, ()))
        return frozenset(seen)

    def lineage(self, name: str) -> tuple[frozenset[str], frozenset[str]]:
        """(ancestors, descendants), cached: selection moves call this on every keypress."""
        got = self._lineage.get(name)
        if got is None:
            got = self._lineage[name] = (self._walk(name, self.parents), self._walk(name, self.children))
        return got

    def modules(self) -> list[tuple[str, list[str]]]:
        """Nodes grouped by module; groups ordered by their first node's topological position."""
        if self._groups is None:
            groups: dict[str, list[str]] = {}
            for name in self.order:
                groups.setdefault(self.nodes[name].module, []).append(name)
            self._groups = groups
        return list(self._groups.items())

    def module_nodes(self, module: str) -> list[str]:
        self.modules()
        assert self._groups is not None
        return self._groups.get(module, [])


def critical_path(graph: GraphInfo, seconds: dict[str, float]) -> tuple[list[str], float]:
    """The chain of dependent nodes with the largest summed duration: what bounds the wall time."""
    best: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for name in graph.order:
        own = seconds.get(name, 0.0)
        parent = max(graph.parents.get(name, ()), key=lambda p: best.get(p, 0.0), default=None)
        best[name] = own + (best[parent] if parent is not None else 0.0)
        via[name] = parent
    if not best:
        return [], 0.0
    end = max(best, key=lambda n: best[n])
    path: list[str] = []
    cur: str | None = end
    while cur is not None:
        path.append(cur)
        cur = via[cur]
    return path[::-1], best[end]
