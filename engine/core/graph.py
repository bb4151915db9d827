"""Build and validate the DAG from pipeline modules.

Every public module-level function defined in a pipeline module is a node named after itself; a
parameter naming another node is an edge, any other parameter is an external value (an input or a
config value). Decorator specs (see ``decorators``) expand one function into several nodes.
Problems are raised as ``GraphError`` naming the function's file:line and what to do.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine._records import Record, ValueRecord
from engine.core.markers import Collect, Parallelizable
from engine.errors import GraphError

if TYPE_CHECKING:
    from engine.core.decorators import NodeSpec

EMPTY = inspect.Parameter.empty


@dataclass(slots=True, eq=False, repr=False)
class Node(Record):
    """One value of the pipeline and how to compute it."""

    name: str
    fn: Callable[..., Any]
    #: parameter name -> name of the node or external value that feeds it
    deps: dict[str, str]
    #: parameters whose function default may be used when no value is supplied
    optional: frozenset[str]
    type: Any
    param_types: dict[str, Any]
    origin: Callable[..., Any]
    module: str
    file: str
    line: int
    doc: str = ""
    tags: dict[str, Any] = field(default_factory=dict)
    behavior: str | None = None
    cache_format: str | None = None
    #: "function", "expand" (yields items), "collect" (gathers items), "extract" (part of another node)
    kind: str = "function"
    collect_param: str | None = None
    #: runtime decorator arguments that shape this node, folded into its code version
    version_extra: str = ""
    #: ``@check_output`` specs, in decorator order
    checks: tuple[dict[str, Any], ...] = ()
    #: parameters bound by ``parameterize(... value(...))``; versioned with the node
    literals: dict[str, Any] = field(default_factory=dict)

    @property
    def sensitive(self) -> bool:
        return bool(self.tags.get("sensitive"))

    @property
    def declares_subprocess_reads(self) -> bool:
        """``@tag(subprocess_reads="declared")``: the node's parameters already name what the programs
        it starts read (a translated Makefile's recipes), so no "started a subprocess" warning."""
        return self.tags.get("subprocess_reads") == "declared"

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True, eq=False, repr=False)
class External(ValueRecord):
    """A value the graph needs from outside: an input or a config value."""

    name: str
    type: Any
    required: bool
    consumers: list[str]


class _Partial:
    """``functools.partial`` that pickles by reference to the original function."""

    __slots__ = ("fn", "bound")

    def __init__(self, fn: Callable[..., Any], bound: dict[str, Any]) -> None:
        self.fn = fn
        self.bound = bound

    def __call__(self, **kwargs: Any) -> Any:
        return self.fn(**kwargs, **self.bound)


class _Awaited:
    """Runs an ``async def`` node to completion in its own event loop (nodes are called
    synchronously by every executor); picklable by reference to the user's function."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, **kwargs: Any) -> Any:
        import asyncio

        return asyncio.run(self.fn(**kwargs))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Awaited, (self.fn,))


class MissingColumn(KeyError):
    """``@extract_columns``/``@extract_fields`` named a column the function did not return."""

    def __str__(self) -> str:  # KeyError's own str() would quote the whole sentence
        return str(self.args[0]) if self.args else ""


class _Item:
    """Extracts one column or field from the parent node's value."""

    __slots__ = ("key", "parent")

    def __init__(self, key: Any, parent: str = "") -> None:
        self.key = key
        self.parent = parent

    def __call__(self, parent: Any) -> Any:
        try:
            return parent[self.key]
        except (KeyError, IndexError) as exc:
            try:
                have = [str(k) for k in (parent.columns if hasattr(parent, "columns") else parent.keys())][:20]
            except Exception:  # noqa: BLE001 - only for the message
                have = []
            by = f"{self.parent}()" if self.parent else "the function"
            cols = f" (it has {', '.join(have)})" if have else ""
            raise MissingColumn(f"column {self.key!r} is missing from the {type(parent).__name__} returned by "
                                f"{by}{cols}; return it, or drop it from @extract_columns") from exc

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Item, (self.key, self.parent))


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    raw = getattr(fn, "__annotations__", None) or {}
    if not any(isinstance(v, str) for v in raw.values()):
        return raw
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward refs: fall back to raw annotations
        return dict(getattr(fn, "__annotations__", {}))


def _where(fn: Callable[..., Any]) -> tuple[str, int]:
    code = fn.__code__
    return code.co_filename, code.co_firstlineno


def functions_of(module: types.ModuleType) -> list[Callable[..., Any]]:
    """Public functions defined in ``module`` itself (imported names are helpers, not nodes)."""
    own = module.__name__
    out = [obj for name, obj in vars(module).items()
           if isinstance(obj, types.FunctionType) and not name.startswith("_") and obj.__module__ == own]
    out.sort(key=lambda f: f.__code__.co_firstlineno)
    return out


def _node_name(fn: Callable[..., Any], spec: NodeSpec) -> str:
    if spec.name:
        return spec.name
    name = fn.__name__
    if spec.when and "__" in name.strip("_"):
        return name[: name.rindex("__")]
    return name


def node_doc(fn: Any) -> str:
    """``inspect.cleandoc(fn.__doc__)``; a one-line docstring (most) skips its general case (~0.4 µs)."""
    doc = fn.__doc__ or ""
    return doc.expandtabs() if "\n" not in doc and not doc[:1].isspace() else inspect.cleandoc(doc)


def nodes_from_function(fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
    """All nodes ``fn`` contributes under ``cfg``; a ``functools.wraps`` wrapper is read through ``__wrapped__``."""
    from engine.core.decorators import NodeSpec, config_matches  # lazy: plain functions never get here
    spec: NodeSpec = fn.__dict__.get("__ripple__") or NodeSpec()
    if not config_matches(spec, cfg):
        return []
    outer, fn = fn, inspect.unwrap(fn)
    file, line = _where(fn)
    name = _node_name(fn, spec)
    code = fn.__code__
    if code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
        raise GraphError(f"{name}() takes *args/**kwargs; every parameter must be named.", file=file, line=line, node=name)
    if code.co_posonlyargcount:
        raise GraphError(f"{name}() has positional-only parameters; nodes are called by keyword.", file=file, line=line, node=name)
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    defaults = fn.__defaults__ or ()
    optional = set(names[code.co_argcount - len(defaults): code.co_argcount]) if defaults else set()
    optional.update(fn.__kwdefaults__ or ())
    hints = _hints(fn)
    ret = hints.get("return", EMPTY)
    kind = "function"
    item_type: Any = ret
    if typing.get_origin(ret) is Parallelizable or ret is Parallelizable:
        kind = "expand"
        args = typing.get_args(ret)
        item_type = args[0] if args else Any
    params: dict[str, Any] = {}
    collect_param = None
    for pname in names:
        ptype = hints.get(pname, EMPTY)
        if ptype is not EMPTY and typing.get_origin(ptype) is Collect:
            if collect_param is not None:
                raise GraphError(f"{name}() has two Collect[...] parameters; collect one per node.", file=file, line=line, node=name)
            collect_param = pname
            kind = "collect" if kind == "function" else kind
            ptype = (typing.get_args(ptype) or (Any,))[0]
        params[pname] = ptype
    if kind == "expand" and collect_param:
        raise GraphError(f"{name}() both collects and fans out; split it into two nodes.", file=file, line=line, node=name)
    doc = node_doc(fn)
    base = Node(
        name=name,
        fn=_Awaited(outer) if inspect.iscoroutinefunction(outer) else outer,
        deps={p: p for p in params},
        optional=frozenset(optional),
        type=item_type,
        param_types=params,
        origin=outer,  # the versioner counts every layer of a wraps chain
        module=fn.__module__,
        file=file, line=line, doc=doc,
        tags={"module": fn.__module__, **{k: v for k, v in spec.tags.items() if k != "__per_output__"}},
        behavior=spec.cache_behavior, cache_format=spec.cache_format,
        kind=kind, collect_param=collect_param,
        checks=tuple(spec.checks),
    )
    produced: list[Node] = []
    if spec.parameterize:
        for out, (bindings, out_doc) in spec.parameterize.items():
            literals = {p: b.literal for p, b in bindings.items() if not hasattr(b, "name")}
            sources = {p: b.name for p, b in bindings.items() if hasattr(b, "name")}
            deps = {p: sources.get(p, p) for p in params if p not in literals}
            n = _copy(base, name=out, deps=deps, doc=out_doc or doc)
            n.fn = _Partial(base.fn, literals) if literals else base.fn
            n.optional = frozenset(p for p in optional if p in deps)
            n.literals = literals
            n.version_extra = repr(sorted(sources.items()))
            produced.append(n)
    else:
        produced.append(base)
    extras: list[Node] = []
    per_output = spec.tags.get("__per_output__", {})
    for parent in produced:
        if spec.extract_columns:
            extras += [_extracted(parent, col, Any, "column") for col in spec.extract_columns]
        if spec.extract_fields:
            extras += [_extracted(parent, fld, t, "field") for fld, t in spec.extract_fields.items()]
    for n in produced + extras:
        n.tags.update(per_output.get(n.name, {}))
    return produced + extras


def _copy(n: Node, **changes: Any) -> Node:
    values = {f: getattr(n, f) for f in Node.__slots__}  # type: ignore[attr-defined]
    values.update(changes)
    values["tags"] = dict(values["tags"])
    return Node(**values)


def _extracted(parent: Node, key: str, typ: Any, what: str) -> Node:
    return Node(
        name=key,
        fn=_Item(key, parent.name),
        deps={"parent": parent.name},
        optional=frozenset(),
        type=typ,
        param_types={"parent": parent.type},
        origin=parent.origin,
        module=parent.module,
        file=parent.file,
        line=parent.line,
        doc=f"{what} {key!r} of {parent.name}",
        tags=dict(parent.tags),
        behavior=parent.behavior,
        kind="extract",
        version_extra=f"{what}:{key}",
    )


class Graph:
    """The validated DAG of one pipeline under one config."""

    def __init__(self, nodes: dict[str, Node], config: Mapping[str, Any]) -> None:
        self.nodes = nodes
        self.config = dict(config)
        #: adjacency as plain dicts (name -> {neighbour: parameter}); ``dag`` is the networkx view
        self.pred: dict[str, dict[str, str]] = {n: {} for n in nodes}
        self.succ: dict[str, dict[str, str]] = {n: {} for n in nodes}
        self._dag: Any = None
        self.externals: dict[str, External] = {}
        succ = self.succ
        for node in nodes.values():
            mine = self.pred[node.name]
            for param, src in node.deps.items():
                if src in nodes:
                    mine[src] = param
                    succ[src][node.name] = param
                else:
                    self._add_external(node, param, src)
        self.order: list[str] = self._topological_order()
        self.index = {name: i for i, name in enumerate(self.order)}
        self._check_types()
        self._check_collects()
        self._check_nested_fanout()

    def _add_external(self, node: Node, param: str, src: str) -> None:
        """Out of ``__init__``'s edge loop, which stays tight: every consumer of an input must agree on
        its type, and one that cannot default it makes it required."""
        ext = self.externals.get(src)
        want = node.param_types.get(param, EMPTY)
        if ext is None:
            ext = self.externals[src] = External(src, want, False, [])
        elif not (want is ext.type and type(want) is type) \
                and not (types_compatible(want, ext.type) or types_compatible(ext.type, want)):
            raise GraphError(
                f"{node.name}({param}: {_tname(want)}) and {ext.consumers[0]} want input {src} as "
                f"incompatible types ({_tname(ext.type)}); give both the same annotation.",
                file=node.file, line=node.line, node=node.name)
        ext.type = want if ext.type is EMPTY else ext.type
        ext.consumers.append(node.name)
        if param not in node.optional:
            ext.required = True

    @property
    def dag(self) -> Any:
        """The graph as a ``networkx.DiGraph`` (edge attribute ``param``), built on first use."""
        if self._dag is None:
            import networkx as nx  # lazy: ~80 ms of import that building a graph must not pay

            g = nx.DiGraph()
            g.add_nodes_from(self.nodes)
            g.add_edges_from((src, dst, {"param": p}) for dst, ps in self.pred.items() for src, p in ps.items())
            self._dag = g
        return self._dag

    def _topological_order(self) -> list[str]:
        """Kahn's algorithm, ties broken by source position so the order reads like the code; the heap
        holds each node's rank in (file, line, name) order, so it compares ints, not tuples."""
        import heapq

        nodes, succ = self.nodes, self.succ
        names = [k[2] for k in sorted([(node.file, node.line, n) for n, node in nodes.items()])]
        rank = {n: i for i, n in enumerate(names)}
        remaining = {n: len(p) for n, p in self.pred.items()}
        heap = [rank[n] for n, c in remaining.items() if c == 0]
        heapq.heapify(heap)
        push, pop = heapq.heappush, heapq.heappop
        order: list[str] = []
        while heap:
            n = names[pop(heap)]
            order.append(n)
            for s in succ[n]:
                left = remaining[s] - 1
                remaining[s] = left
                if not left:
                    push(heap, rank[s])
        if len(order) != len(nodes):
            self._raise_cycle()
        return order

    def _raise_cycle(self) -> None:
        import networkx as nx

        cycle = nx.find_cycle(self.dag)
        names = [u for u, _ in cycle] + [cycle[0][0]]
        first = self.nodes[names[0]]
        raise GraphError(
            f"cycle {' -> '.join(names)}: a node cannot depend on itself; break the loop by renaming a parameter.",
            file=first.file, line=first.line, node=first.name)

    def _check_types(self) -> None:
        """Each edge once, cheaply: one class feeding itself is compatible by definition, and any
        other pair of annotation objects is judged once per build (keyed by identity: all stay alive)."""
        nodes = self.nodes
        judged: dict[tuple[int, int], bool] = {}
        for down, ups in self.pred.items():
            d = nodes[down]
            for up, param in ups.items():
                produced, wanted = nodes[up].type, d.param_types.get(param, EMPTY)
                if produced is wanted and type(produced) is type:
                    continue
                key = (id(produced), id(wanted))
                ok = judged.get(key)
                if ok is None:
                    ok = judged[key] = types_compatible(produced, wanted)
                if not ok:
                    raise GraphError(
                        f"type mismatch: {nodes[up].name} produces {_tname(produced)} but {d.name}({param}: "
                        f"{_tname(wanted)}) expects {_tname(wanted)}; fix one of the annotations.",
                        file=d.file, line=d.line, node=d.name)

    def _check_collects(self) -> None:
        """A ``Collect[...]`` parameter must be fed per item by a fan-out; caught here, at build time,
        rather than as a missing value when the node runs."""
        for node in self.nodes.values():
            if node.collect_param is None:
                continue
            src = node.deps[node.collect_param]
            producer = self.nodes.get(src)
            if producer is None or not any(self.nodes[u].kind == "expand" for u in self.upstream([src])):
                raise GraphError(
                    f"{node.name} collects {src}, which is not produced per item of a Parallelizable node; "
                    f"drop Collect[...] from {node.name}({node.collect_param}) or make an upstream node "
                    "return Parallelizable[...].",
                    file=node.file,
                    line=node.line,
                    node=node.name,
                )

    def _check_nested_fanout(self) -> None:
        """A fan-out inside another fan-out's per-item block is unsupported; say so at build time."""
        for exp in (n for n in self.nodes.values() if n.kind == "expand"):
            stack, seen = [exp.name], {exp.name}
            while stack:
                cur = stack.pop()
                for s in self.succ[cur]:
                    node = self.nodes[s]
                    if s in seen or node.collect_param and node.deps[node.collect_param] == cur:
                        continue
                    if node.kind == "expand":
                        raise GraphError(
                            f"{s} fans out inside the fan-out of {exp.name}; nested Parallelizable is not "
                            "supported: collect the outer items first.",
                            file=node.file, line=node.line, node=s,
                        )
                    seen.add(s)
                    stack.append(s)

    def upstream(self, names: Iterable[str], stop: Collection[str] = ()) -> set[str]:
        """Every node needed to compute ``names`` (inclusive), not walking past ``stop``."""
        return walk(names, self.pred, stop)

    def downstream(self, names: Iterable[str]) -> set[str]:
        """Every node that depends on ``names`` (inclusive)."""
        return walk(names, self.succ)


def walk(starts: Iterable[str], adjacency: Mapping[str, Mapping[str, Any]], stop: Collection[str] = ()) -> set[str]:
    """Iterative reachability (no recursion, so 10,000-node chains are fine); ``stop`` nodes are
    neither entered nor walked through."""
    seen: set[str] = set()
    stack = [n for n in starts if n not in stop]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(p for p in adjacency[n] if p not in seen and p not in stop)
    return seen


def _tname(t: Any) -> str:
    if t is EMPTY:
        return "anything"
    return getattr(t, "__qualname__", None) or str(t).replace("typing.", "")


def types_compatible(produced: Any, wanted: Any) -> bool:
    """Hamilton's rule, leniently: only a provable mismatch is an error, and a class matches itself or
    a base class (``bool`` feeds ``int``, ``int`` does not feed ``float``)."""
    if produced is EMPTY or wanted is EMPTY or produced is Any or wanted is Any or wanted is object:
        return True
    if isinstance(produced, str) or isinstance(wanted, str) or isinstance(produced, typing.TypeVar) or isinstance(wanted, typing.TypeVar):
        return True if not (isinstance(produced, str) and isinstance(wanted, str)) else produced == wanted
    if produced == wanted:
        return True
    w_origin, p_origin = typing.get_origin(wanted), typing.get_origin(produced)
    if w_origin in (typing.Union, types.UnionType):
        return any(types_compatible(produced, a) for a in typing.get_args(wanted))
    if p_origin in (typing.Union, types.UnionType):
        return all(types_compatible(a, wanted) for a in typing.get_args(produced))
    if w_origin is typing.Literal or p_origin is typing.Literal:
        return True
    pw = w_origin or wanted
    pp = p_origin or produced
    if isinstance(pw, type) and isinstance(pp, type):
        try:
            if issubclass(pp, pw):
                return True
            return bool(getattr(pw, "_is_protocol", False))
        except TypeError:
            return True
    return True
