from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine._records import Record, ValueRecord
from engine.core.graph import Graph, Node
from engine.errors import GraphError, UsageError


@dataclass(slots=True, eq=False, repr=False)
class Step(Record):
    """One node to run, with where each of its parameters comes from in the run's value table."""

    node: Node
    #: (parameter, key in the run's value table)
    args: tuple[tuple[str, Any], ...]

    @property
    def name(self) -> str:
        return self.node.name


@dataclass(slots=True, eq=False, repr=False)
class FanOut(Record):
    """A ``Parallelizable`` node plus the nodes that run once per item it yields."""

    expander: Step
    block: list[Step]

    @property
    def name(self) -> str:
        return self.expander.node.name

    @property
    def nodes(self) -> list[str]:
        return [self.name] + [s.name for s in self.block]


@dataclass(slots=True, eq=False, repr=False)
class Plan(ValueRecord):
    """What a run computes, in order: compiled once per (outputs, inputs, overrides) and reused."""

    steps: list[Step | FanOut]
    outputs: list[str]
    #: node names in run order (fan-out blocks included)
    order: list[str]
    #: external names the run reads (inputs, config, overrides)
    externals: list[str]


# --------------------------------------------------------------------------------------------- planning


def _suggest(name: str, options: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def compile_plan(graph: Graph, final_vars: list[str], provided: set[str], overrides: set[str]) -> Plan:
    """Steps for ``final_vars`` given the external names ``provided`` (inputs, config, overrides)."""
    nodes = graph.nodes
    for name in final_vars:
        if name not in nodes and name not in provided:
            from engine.core.selection import hidden_hint  # lazy: only a mistyped output needs it

            raise UsageError(
                f"unknown output {name!r}{hidden_hint(graph, name) or _suggest(name, nodes)}; list outputs with `ripple graph` or "
                "dr.list_available_variables()."
            )
    needed = graph.upstream([n for n in final_vars if n in nodes], stop=overrides)
    missing: dict[str, list[str]] = {}
    externals: set[str] = set()
    steps_by_name: dict[str, Step] = {}
    for name in needed:
        node = nodes[name]
        args = []
        for param, src in node.deps.items():
            if src in provided:
                externals.add(src)
                args.append((param, src))
            elif src in nodes:
                args.append((param, (src,) if param == node.collect_param else src))
            elif param not in node.optional:
                missing.setdefault(src, []).append(name)
        steps_by_name[name] = Step(node, tuple(args))
    if missing:
        # a parameter one typo away from a node (``def margin(revenu)``) is most likely that node
        parts = [f"{m} (needed by {', '.join(sorted(c))}){_suggest(m, nodes).replace('did you mean', 'did you mean the node')}"
                 for m, c in sorted(missing.items())]
        needing = sorted({n for c in missing.values() for n in c})
        # each needing node's file:line, so the parameter can be found (or given a default)
        where = ", ".join(f"{n} at {nodes[n].location}" for n in needing[:8])
        raise UsageError(
            f"missing inputs: {'; '.join(parts)} [{where}]; pass them with inputs={{...}} or --input NAME=VALUE.",
            node=needing[0],
        )
    index = graph.index
    expanders = [n for n in needed if nodes[n].kind == "expand"]
    if not expanders:
        order = sorted(needed, key=index.__getitem__)
        steps: list[Step | FanOut] = [steps_by_name[n] for n in order]
        return Plan(steps, list(final_vars), order, sorted(externals))
    return _plan_with_fanout(graph, final_vars, needed, steps_by_name, expanders, sorted(externals))


def _plan_with_fanout(
    graph: Graph,
    final_vars: list[str],
    needed: set[str],
    steps_by_name: dict[str, Step],
    expanders: list[str],
    externals: list[str],
) -> Plan:
    nodes, index, succ = graph.nodes, graph.index, graph.succ
    unit_of: dict[str, str] = {n: n for n in needed}
    groups: dict[str, FanOut] = {}
    for exp in sorted(expanders, key=index.__getitem__):
        block: set[str] = set()
        stack = [exp]
        while stack:
            n = stack.pop()
            for s in succ[n]:
                if s not in needed or s in block:
                    continue
                if nodes[s].collect_param and nodes[s].deps[nodes[s].collect_param] == n:
                    continue
                if nodes[s].kind == "expand":
                    raise GraphError(
                        f"{s} fans out inside the fan-out of {exp}; nested Parallelizable is not supported.",
                        file=nodes[s].file, line=nodes[s].line, node=s,
                    )
                if nodes[s].collect_param:
                    raise GraphError(
                        f"{s} collects items but also takes {n} from inside the fan-out of {exp} without "
                        "Collect[...]; annotate that parameter with Collect[...].",
                        file=nodes[s].file, line=nodes[s].line, node=s,
                    )
                block.add(s)
                stack.append(s)
        for n in block:
            if unit_of[n] != n:
                raise GraphError(f"{n} is downstream of two fan-outs; only one Parallelizable may feed a node.",
                                 file=nodes[n].file, line=nodes[n].line, node=n)
            unit_of[n] = exp
        groups[exp] = FanOut(steps_by_name[exp], [steps_by_name[n] for n in sorted(block, key=index.__getitem__)])
    for name in needed:
        node = nodes[name]
        if node.collect_param:
            src = node.deps[node.collect_param]
            if src not in needed or unit_of.get(src) not in groups:
                raise GraphError(f"{name} collects {src}, which is not produced per item of a Parallelizable node.",
                                 file=node.file, line=node.line, node=name)
    unit_deps: dict[str, set[str]] = {u: set() for u in set(unit_of.values())}
    for name in needed:
        u = unit_of[name]
        for p in graph.pred[name]:
            if p in needed and unit_of[p] != u:
                unit_deps[u].add(unit_of[p])
    dependents: dict[str, list[str]] = {u: [] for u in unit_deps}
    for u, ds in unit_deps.items():
        for d in ds:
            dependents[d].append(u)
    remaining = {u: len(ds) for u, ds in unit_deps.items()}
    heap = [(index[u], u) for u, c in remaining.items() if c == 0]
    heapq.heapify(heap)
    steps: list[Step | FanOut] = []
    order: list[str] = []
    while heap:
        _, u = heapq.heappop(heap)
        if u in groups:
            steps.append(groups[u])
            order.extend(groups[u].nodes)
        else:
            steps.append(steps_by_name[u])
            order.append(u)
        for d in dependents[u]:
            remaining[d] -= 1
            if remaining[d] == 0:
                heapq.heappush(heap, (index[d], d))
    return Plan(steps, list(final_vars), order, externals)
