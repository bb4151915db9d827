"""Nodes made from other functions, namespaced: ``subdag``, ``parameterized_subdag`` and
``with_columns`` (pandas), as Hamilton's.

A subdag's functions become nodes named ``NAMESPACE.node`` (the namespace defaults to the decorated
function's name); a dependency naming one of them, an ``inputs`` key or a subdag ``config`` key is
namespaced too, anything else is read from the outer graph. Each inner node keeps its own function
as ``origin``, so it is versioned and cached like any node: editing one function of a reused subdag
re-runs that function's nodes in every namespace, and nothing else.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from engine.core.decorators import source, value
from engine.core.graph import Node, _copy, functions_of, nodes_from_function
from engine.core.modifiers import (
    _attach,
    _identity,
    _params,
    _primary,
    apply_modifiers,
    helper_node,
    resolve_function,
)
from engine.errors import GraphError

F = TypeVar("F", bound=Callable[..., Any])


def _functions(load_from: Iterable[Any]) -> list[Callable[..., Any]]:
    out: list[Callable[..., Any]] = []
    for item in load_from:
        if isinstance(item, types.ModuleType):
            out += functions_of(item)
        elif inspect.isfunction(item):
            out.append(item)
        else:
            raise GraphError(f"a subdag is built from modules or functions, not {item!r}.")
    return out


def inner_nodes(load_from: Iterable[Any], cfg: Mapping[str, Any]) -> list[Node]:
    """The nodes ``load_from`` contribute under ``cfg`` (their own decorators applied)."""
    out: list[Node] = []
    for fn in _functions(load_from):
        resolved = resolve_function(fn, cfg)
        if resolved is not None:
            out += apply_modifiers(nodes_from_function(resolved, cfg), resolved, cfg)
    return out


def namespaced(nodes: list[Node], ns: str, also: Iterable[str] = ()) -> list[Node]:
    """``nodes`` renamed into ``ns``; dependencies on them (or on ``also``) follow, others stay outer."""
    local = {n.name for n in nodes} | set(also)
    out = []
    for n in nodes:
        deps = {p: (f"{ns}.{s}" if s in local else s) for p, s in n.deps.items()}
        out.append(_copy(n, name=f"{ns}.{n.name}", deps=deps))
    return out


def _static(name: str, val: Any, like: Node) -> Node:
    n = helper_node(name, _identity, {}, {"value": val}, like, type_=type(val), extra="subdag-static")
    n.origin, n.file, n.line = like.origin, like.file, like.line
    return n


class subdag:  # noqa: N801 - Hamilton's name
    """Run the functions of ``load_from`` as a namespaced sub-graph feeding the decorated function."""

    def __init__(self, *load_from: Any, inputs: Mapping[str, Any] | None = None,
                 config: Mapping[str, Any] | None = None, namespace: str | None = None,
                 final_node_name: str | None = None, external_inputs: Iterable[str] | None = None) -> None:
        if not load_from:
            raise GraphError("@subdag needs the modules or functions the sub-graph is made of.")
        for key, bound in (inputs or {}).items():
            if not isinstance(bound, source | value):
                raise GraphError(f"@subdag inputs[{key!r}] must be source(...) or value(...), got {bound!r}.")
        self.load_from = load_from
        self.inputs = dict(inputs or {})
        self.config = dict(config or {})
        self.namespace = namespace
        self.final_node_name = final_node_name
        self.external_inputs = set(external_inputs or ())

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        out = [n for n in nodes if n not in _primary(nodes, fn)]
        for n in _primary(nodes, fn):
            out += self.expand(n, fn, cfg)
        return out

    def expand(self, final: Node, fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        ns = self.namespace or fn.__name__
        inner = inner_nodes(self.load_from, {**cfg, **self.config})
        out = namespaced(inner, ns, also=[*self.inputs, *self.config])
        needed = {s for n in out for s in n.deps.values()}
        for key, bound in self.inputs.items():
            name = f"{ns}.{key}"
            if isinstance(bound, value):
                out.append(_static(name, bound.literal, final))
            elif name in needed:
                n = helper_node(name, _identity, {"value": bound.name}, {}, final, extra="subdag-source")
                n.origin, n.file, n.line = final.origin, final.file, final.line
                out.append(n)
        out += [_static(f"{ns}.{k}", v, final) for k, v in self.config.items()]
        deps = {p: (s if p in self.external_inputs else f"{ns}.{s}") for p, s in final.deps.items()}
        out.append(_copy(final, name=self.final_node_name or final.name, deps=deps,
                         optional=frozenset(p for p in final.optional if p in self.external_inputs)))
        return out


class parameterized_subdag:  # noqa: N801 - Hamilton's name
    """One ``subdag`` per keyword: ``out_name=dict(inputs=..., config=..., external_inputs=...)``,
    each namespaced and named ``out_name``."""

    def __init__(self, *load_from: Any, inputs: Mapping[str, Any] | None = None,
                 config: Mapping[str, Any] | None = None, external_inputs: Iterable[str] | None = None,
                 **parameterization: Mapping[str, Any]) -> None:
        if not parameterization:
            raise GraphError("@parameterized_subdag needs at least one output=dict(inputs=..., config=...).")
        self.subdags = [
            subdag(*load_from, inputs={**(inputs or {}), **dict(p.get("inputs", {}))},
                   config={**(config or {}), **dict(p.get("config", {}))}, namespace=name, final_node_name=name,
                   external_inputs=p.get("external_inputs", external_inputs))
            for name, p in parameterization.items()
        ]

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        out = [n for n in nodes if n not in _primary(nodes, fn)]
        for n in _primary(nodes, fn):
            for s in self.subdags:
                out += s.expand(n, fn, cfg)
        return out


class _Column:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, df: Any) -> Any:
        return df[self.name]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Column, (self.name,))


class _Append:
    """``df.assign(**selected columns)``: the parameter names are the namespaced nodes."""

    __slots__ = ("columns",)

    def __init__(self, columns: dict[str, str]) -> None:
        self.columns = columns

    def __call__(self, **kwargs: Any) -> Any:
        df = kwargs.pop("__df")
        return df.assign(**{col: kwargs[param] for param, col in self.columns.items()})

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Append, (self.columns,))


class with_columns:  # noqa: N801 - Hamilton's name
    """Compute columns with the functions of ``load_from`` (parameters name columns of the frame)
    and append the ``select``ed ones (default: every Series node) before the function sees it."""

    def __init__(self, *load_from: Any, columns_to_pass: list[str] | None = None, pass_dataframe_as: str | None = None,
                 on_input: str | None = None, select: list[str] | None = None, namespace: str | None = None,
                 config_required: list[str] | None = None) -> None:
        if pass_dataframe_as is not None:
            raise GraphError("@with_columns: pass_dataframe_as is not supported for pandas (as in Hamilton).")
        if not columns_to_pass:
            raise GraphError("@with_columns needs columns_to_pass=[...], the columns its functions read.")
        self.load_from = load_from
        self.columns = list(columns_to_pass)
        self.on_input = on_input
        self.select = select
        self.namespace = namespace

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        param = self.on_input or _params(fn)[0].name
        out = [n for n in nodes if n not in _primary(nodes, fn)]
        for final in _primary(nodes, fn):
            ns = self.namespace or fn.__name__
            frame_src = final.deps[param]
            cols = []
            for col in self.columns:
                n = helper_node(f"{ns}.{col}", _Column(col), {"df": frame_src}, {}, final, extra=f"column:{col}")
                n.origin, n.file, n.line, n.type = final.origin, final.file, final.line, Any
                cols.append(n)
            inner = namespaced(inner_nodes(self.load_from, cfg), ns, also=self.columns)
            select = self.select or [n.name[len(ns) + 1:] for n in inner if _is_series(n.type)]
            keep = _upstream({f"{ns}.{s}" for s in select}, inner)
            merge_deps = {"__df": frame_src, **{f"{ns}.{s}": f"{ns}.{s}" for s in select}}
            merge = helper_node(f"{ns}._append", _Append({f"{ns}.{s}": s for s in select}), merge_deps, {}, final,
                                type_=final.param_types.get(param), extra=f"append:{sorted(select)}")
            merge.origin, merge.file, merge.line = final.origin, final.file, final.line
            final.deps = {**final.deps, param: merge.name}
            out += [*cols, *(n for n in inner if n.name in keep), merge, final]
        return out


def _is_series(t: Any) -> bool:
    return getattr(t, "__name__", "") == "Series"


def _upstream(names: set[str], nodes: list[Node]) -> set[str]:
    by = {n.name: n for n in nodes}
    seen: set[str] = set()
    stack = [n for n in names if n in by]
    while stack:
        cur = stack.pop()
        if cur in seen:
            continue
        seen.add(cur)
        stack += [s for s in by[cur].deps.values() if s in by]
    return seen
