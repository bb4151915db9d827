"""A layered (Sugiyama-style) layout of the DAG for terminal drawing: layers, order, columns.

Why our own instead of grandalf: a terminal layout needs integer columns sized to each label and
nothing else, and networkx (already a core dependency) gives the expensive part, the layering.
The steps are the classic ones, kept small:

1. layers: ``networkx.topological_generations`` (a node sits one layer below its deepest parent);
2. an edge spanning several layers gets one *dummy* vertex per layer it crosses, so long edges are
   routed between boxes instead of through them;
3. crossing reduction: a few down and up sweeps ordering each layer by the barycentre of its
   neighbours in the layer just fixed; nodes of one group (module) stay next to each other, the
   group ordered by its members' mean barycentre, so modules read as blocks;
4. columns: each vertex is pulled towards the mean centre of its neighbours, then pushed right to
   clear its left neighbour and left to clear its right one, down then up, a few passes.

Everything is deterministic (ties keep the input order), so a drawing never jitters between runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

#: prefix of dummy vertex ids; a NUL cannot appear in a Python identifier, so no node collides
DUMMY = "\0"
GAP = 2
SWEEPS = 4


@dataclass(slots=True)
class Vertex:
    """A box (``dummy`` False) or a pass-through point of a long edge, at column ``x`` of ``layer``."""

    id: str
    layer: int
    width: int
    group: str = ""
    dummy: bool = False
    x: int = 0

    @property
    def centre(self) -> int:
        return self.x + self.width // 2


@dataclass(slots=True)
class Layout:
    """Layers of vertices left to right, and each real edge as the chain of vertex ids it passes."""

    layers: list[list[Vertex]]
    vertices: dict[str, Vertex]
    edges: list[tuple[str, str]]
    chains: list[list[str]] = field(default_factory=list)
    width: int = 0

    def out_links(self) -> dict[str, list[tuple[str, int]]]:
        """vertex -> [(next vertex one layer down, index of the real edge)], for routing."""
        out: dict[str, list[tuple[str, int]]] = {}
        for i, chain in enumerate(self.chains):
            for a, b in zip(chain, chain[1:]):
                out.setdefault(a, []).append((b, i))
        return out


def layer_of(order: Sequence[str], parents: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Longest-path layering from the sources, via networkx's topological generations."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(order)
    names = set(order)
    g.add_edges_from((p, n) for n in order for p in parents.get(n, ()) if p in names and p != n)
    out: dict[str, int] = {}
    for i, generation in enumerate(nx.topological_generations(g)):
        for n in generation:
            out[n] = i
    return out


def layout(order: Sequence[str], parents: Mapping[str, Iterable[str]], widths: Mapping[str, int], *,
           groups: Mapping[str, str] | None = None, sweeps: int = SWEEPS, gap: int = GAP) -> Layout:
    """Lay out the nodes ``order`` (topological) with boxes ``widths[name]`` columns wide."""
    groups = groups or {}
    layers_of = layer_of(order, parents)
    depth = max(layers_of.values(), default=-1) + 1
    layers: list[list[Vertex]] = [[] for _ in range(depth)]
    vertices: dict[str, Vertex] = {}
    for n in order:
        v = vertices[n] = Vertex(n, layers_of[n], max(int(widths.get(n, 3)), 1), groups.get(n, ""))
        layers[v.layer].append(v)
    edges: list[tuple[str, str]] = []
    chains: list[list[str]] = []
    names = set(order)
    for n in order:
        for p in dict.fromkeys(parents.get(n, ())):
            if p not in names or p == n:
                continue
            chain = [p]
            for layer in range(layers_of[p] + 1, layers_of[n]):
                d = Vertex(f"{DUMMY}{len(edges)}:{layer}", layer, 1, dummy=True)
                vertices[d.id] = d
                layers[layer].append(d)
                chain.append(d.id)
            chain.append(n)
            edges.append((p, n))
            chains.append(chain)
    up: dict[str, list[str]] = {v: [] for v in vertices}
    down: dict[str, list[str]] = {v: [] for v in vertices}
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            down[a].append(b)
            up[b].append(a)
    _reduce_crossings(layers, up, down, sweeps)
    width = _assign_columns(layers, up, down, gap)
    return Layout(layers, vertices, edges, chains, width)


def _reduce_crossings(layers: list[list[Vertex]], up: dict[str, list[str]], down: dict[str, list[str]],
                      sweeps: int) -> None:
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        indices = range(1, len(layers)) if forward else range(len(layers) - 2, -1, -1)
        for i in indices:
            fixed = {v.id: k for k, v in enumerate(layers[i - 1 if forward else i + 1])}
            _order_layer(layers[i], up if forward else down, fixed)


def _order_layer(layer: list[Vertex], links: dict[str, list[str]], fixed: dict[str, int]) -> None:
    """Sort by barycentre, keeping each group's members together (the group at its mean barycentre)."""
    bary: dict[str, float] = {}
    for k, v in enumerate(layer):
        pos = [fixed[n] for n in links[v.id] if n in fixed]
        bary[v.id] = sum(pos) / len(pos) if pos else float(k)
    block: dict[str, list[float]] = {}
    for v in layer:
        if not v.dummy:
            block.setdefault(v.group, []).append(bary[v.id])
    block_bary = {g: sum(b) / len(b) for g, b in block.items()}
    first = {v.id: k for k, v in enumerate(layer)}

    def key(v: Vertex) -> tuple[float, float, int]:
        own = bary[v.id]
        return (own if v.dummy else block_bary[v.group], own, first[v.id])

    layer.sort(key=key)


def _assign_columns(layers: list[list[Vertex]], up: dict[str, list[str]], down: dict[str, list[str]],
                    gap: int) -> int:
    x = 0
    for layer in layers:  # packed start
        x = 0
        for v in layer:
            v.x = x
            x += v.width + gap
    vertices = {v.id: v for layer in layers for v in layer}
    for sweep in range(4):
        forward = sweep % 2 == 0
        seq = layers if forward else layers[::-1]
        for layer in seq:
            links = up if forward else down
            want = []
            for v in layer:
                near = [vertices[n].centre for n in links[v.id]]
                want.append(round(sum(near) / len(near)) - v.width // 2 if near else v.x)
            _place(layer, want, gap)
    left = min((v.x for layer in layers for v in layer), default=0)
    width = 0
    for layer in layers:
        for v in layer:
            v.x -= left
            width = max(width, v.x + v.width)
    return width


def _place(layer: list[Vertex], want: list[int], gap: int) -> None:
    """Columns as close to ``want`` as the order allows: the mean of the solution that pushes
    overlapping boxes right and the one that pushes them left, then overlaps cleared once more."""
    right = list(want)
    for k in range(1, len(layer)):
        right[k] = max(right[k], right[k - 1] + layer[k - 1].width + gap)
    left = list(want)
    for k in range(len(layer) - 2, -1, -1):
        left[k] = min(left[k], left[k + 1] - layer[k].width - gap)
    xs = [(a + b) // 2 for a, b in zip(left, right)]
    for k in range(1, len(layer)):
        xs[k] = max(xs[k], xs[k - 1] + layer[k - 1].width + gap)
    for k, v in enumerate(layer):
        v.x = xs[k]
