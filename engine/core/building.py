"""Build the graph of pipeline modules: each module's functions through Ripple's decorators, or,
for modules that import ``hamilton``, through Hamilton's own graph resolution (``hamilton_graph``).

Why a module of its own: the front-ends (``modifiers``, ``hamilton_graph``) build ``graph.Node``s, so
the one function that picks a front-end per module sits above them, not inside ``graph``.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Any

from engine.core import modifiers
from engine.core.graph import Graph, Node, _node_name, functions_of, nodes_from_function
from engine.errors import GraphError


def build_graph(modules: Iterable[types.ModuleType], config: Mapping[str, Any] | None = None, *,
                allow_module_overrides: bool = False) -> Graph:
    """Collect the nodes of ``modules`` under ``config`` and validate the result; modules importing
    ``hamilton`` are resolved by Hamilton itself (``hamilton_graph``)."""
    cfg = dict(config or {})
    nodes: dict[str, Node] = {}
    hidden: dict[str, str] = {}
    modules = list(modules)
    from engine.core import hamilton_graph  # lazy, with the digests: `import engine` stays light
    from engine.core.deco_digest import Digests

    digests = Digests()  # one parse per file for the decorator digests of this build
    via_hamilton = [m for m in modules if hamilton_graph.uses_hamilton(m)]
    built = hamilton_graph.hamilton_nodes(via_hamilton, cfg, allow_module_overrides) if via_hamilton else []
    for module in modules:
        if module in via_hamilton:
            continue
        for fn in functions_of(module):
            _note_hidden(fn, cfg, hidden)
            resolved = modifiers.resolve_function(fn, cfg)
            if resolved is not None:
                built += modifiers.apply_modifiers(nodes_from_function(resolved, cfg), resolved, cfg, digests)
    for node in built:
        if node.name in cfg:
            continue  # a config value named like a node replaces the node, as in Hamilton
        other = nodes.get(node.name)
        if other is not None and not allow_module_overrides:
            raise GraphError(
                f"node {node.name!r} is defined twice: here and at {other.location}; rename one of them "
                "or make them alternatives with @config.when.",
                file=node.file,
                line=node.line,
                node=node.name,
            )
        nodes[node.name] = node
    graph = Graph(nodes, cfg)
    #: nodes ``@config.when`` left out under this config: name -> what would enable them
    graph.hidden = {k: v for k, v in hidden.items() if k not in nodes}
    return graph


def _note_hidden(fn: Any, cfg: Mapping[str, Any], hidden: dict[str, str]) -> None:
    """Record a function ``@config.when`` leaves out, with the ``--config`` that would enable it."""
    from engine.core.decorators import config_matches

    spec = fn.__dict__.get("__ripple__")
    if spec is None or not spec.when or config_matches(spec, cfg):
        return
    wants = []
    for mode, kv in spec.when:
        for key, want in kv.items():
            if mode == "when":
                wants.append(f"--config {key}={want}")
            elif mode == "when_in":
                wants.append(f"--config {key}=<one of {', '.join(map(str, want))}>")
            elif mode == "when_not":
                wants.append(f"--config {key}=<anything but {want}>")
            else:
                wants.append(f"--config {key}=<none of {', '.join(map(str, want))}>")
    code = getattr(fn, "__code__", None)
    where = f" at {code.co_filename}:{code.co_firstlineno}" if code is not None else ""
    name = _node_name(fn, spec)
    hidden.setdefault(name, f"{name} is defined{where} but @config.when leaves it out under this config; "
                            f"{' and '.join(wants)} enables it")
