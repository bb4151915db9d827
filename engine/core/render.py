"""Text, Graphviz dot and Mermaid renderings of the graph, and the rich display of a run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from engine.errors import UsageError

if TYPE_CHECKING:
    from engine.core.graph import Graph, Node
    from engine.core.run_records import RunResult

FORMATS = ("text", "list", "dot", "mermaid", "json")
#: past this many nodes ``text`` prints the ``list`` form: a drawing that wide helps nobody
DRAW_LIMIT = 400


def _names(graph: Graph, final_vars: Iterable[str] | None) -> list[str]:
    if not final_vars:
        return list(graph.order)
    keep = graph.upstream(final_vars)
    return [n for n in graph.order if n in keep]


def _tname(t: Any) -> str:
    if t is None or t is __import__("inspect").Parameter.empty:
        return ""
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def render_graph(graph: Graph, fmt: str = "text", final_vars: Iterable[str] | None = None, *,
                 only: Iterable[str] | None = None) -> str:
    """``only``: exactly these nodes (a ``--select`` selection) instead of what ``final_vars`` need."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown graph format {fmt!r}; use one of {', '.join(FORMATS)}.")
    keep_only = set(only) if only is not None else None
    names = [n for n in graph.order if n in keep_only] if keep_only is not None else _names(graph, final_vars)
    if fmt == "json":
        import json

        return json.dumps(graph_document(graph, names), default=str)
    keep = set(names)
    pred = graph.pred
    externals = sorted({src for n in names for src in graph.nodes[n].deps.values() if src not in graph.nodes})
    if fmt == "text" and len(names) <= DRAW_LIMIT:
        from engine.core.drawing import draw

        keep_names = set(names)
        picture = draw(names, {n: [p for p in pred[n] if p in keep_names] for n in names},
                       groups={n: graph.nodes[n].module for n in names}, glyphs=False).text()
        return picture + (f"\n\ninputs: {', '.join(externals)}" if externals else "")
    if fmt in ("text", "list"):
        width = max((len(n) for n in names), default=0)
        lines = []
        for n in names:
            node = graph.nodes[n]
            deps = [src for src in node.deps.values()]
            arrow = f" <- {', '.join(deps)}" if deps else ""
            kind = {"expand": " [fan-out]", "collect": " [collect]"}.get(node.kind, "")
            lines.append(f"{n:<{width}}{kind}{arrow}")
        if externals:
            lines.append("")
            lines.append("inputs: " + ", ".join(externals))
        return "\n".join(lines)
    if fmt == "dot":
        out = ["digraph ripple {", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];']
        for e in externals:
            out.append(f'  "{e}" [shape=ellipse, style=dashed];')
        for n in names:
            node = graph.nodes[n]
            shape = {"expand": ", shape=trapezium", "collect": ", shape=invtrapezium"}.get(node.kind, "")
            t = _tname(node.type)
            label = f"{n}\\n{t}" if t else n
            out.append(f'  "{n}" [label="{label}"{shape}];')
        for n in names:
            for src in graph.nodes[n].deps.values():
                if src in keep or src in externals:
                    out.append(f'  "{src}" -> "{n}";')
        out.append("}")
        return "\n".join(out)
    out = ["flowchart LR"]
    ids = {n: f"n{i}" for i, n in enumerate([*externals, *names])}
    for e in externals:
        out.append(f"  {ids[e]}([{e}])")
    for n in names:
        out.append(f'  {ids[n]}["{n}"]')
    for n in names:
        for p in pred[n]:
            if p in keep:
                out.append(f"  {ids[p]} --> {ids[n]}")
        for src in graph.nodes[n].deps.values():
            if src in externals:
                out.append(f"  {ids[src]} -.-> {ids[n]}")
    return "\n".join(out)


def symbol_of(node: Node) -> str:
    """The module-level name that defines the node (a method's class, a decorated function's name)."""
    origin = getattr(node.origin, "__qualname__", getattr(node.origin, "__name__", node.name))
    return origin.split(".")[0]


def graph_document(graph: Graph, names: list[str] | None = None) -> dict[str, Any]:
    """The graph as plain data, for tools and views that must not import the user's code
    (``ripple graph --format json``; the dashboard and the watcher read it from a child process)."""
    nodes = graph.nodes
    order = names if names is not None else list(graph.order)
    out = []
    for name in order:
        n = nodes[name]
        out.append({
            "name": name, "module": n.module, "symbol": symbol_of(n), "file": n.file, "line": n.line,
            "kind": n.kind, "deps": [s for s in n.deps.values() if s in nodes],
            "inputs": [s for s in n.deps.values() if s not in nodes], "doc": (n.doc or "").split("\n")[0],
            "tags": {k: v for k, v in n.tags.items() if isinstance(v, str | int | float | bool | list)},
        })
    externals = [{"name": e.name, "required": e.required, "consumers": e.consumers} for e in graph.externals.values()]
    return {"order": order, "nodes": out, "externals": externals}


STATUS_STYLE = {"ran": "green", "cached": "cyan", "failed": "bold red", "skipped": "yellow"}


def print_graph(graph: Graph, result: RunResult | None) -> None:
    """The executed DAG as a rich tree: each node with its status and time."""
    from rich.console import Console
    from rich.tree import Tree

    records = result.records if result else {}
    tree = Tree("[b]pipeline[/b]")
    branches: dict[str, Any] = {}
    for name in graph.order:
        if records and name not in records:
            continue
        rec = records.get(name)
        status = f" [{STATUS_STYLE.get(rec.status, '')}]{rec.status}[/] {rec.seconds:.3f}s" if rec else ""
        parents = [p for p in graph.pred[name] if p in branches]
        holder = branches[parents[-1]] if parents else tree
        branches[name] = holder.add(f"{name}{status}")
    Console().print(tree)
