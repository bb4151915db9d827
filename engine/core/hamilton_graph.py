"""Hamilton front-end: modules written against ``hamilton`` become Ripple nodes.

Why Hamilton builds them: a Hamilton decorator means what Hamilton's own graph resolution makes of
it (``pipe``, ``subdag``, ``mutate``, ``check_output``... each rewrite the function into several
nodes with renamed inputs). Re-implementing that resolution would drift; instead this module asks
Hamilton (``function_modifiers.base.resolve_nodes`` plus its dependency/type validation, exactly
what ``hamilton.graph.create_function_graph`` does) for the nodes, and converts each one into a
Ripple :class:`~engine.core.graph.Node` that Ripple's executor, cache, events, watch mode,
dashboard and lineage treat like any other node.

Code versions: a converted node's ``origin`` is its first originating function, which Ripple's
versioner follows transitively (helpers, constants, library versions). Decorators are excluded from
that digest, so ``version_extra`` carries the decorators' normalised source plus the code and values
of every project-local name they reference (a ``step(_helper)``, a ``value(CONSTANT)``, a
validator class), and the source of any further originating function (``@does``' replacement).

Hamilton is imported lazily, only for modules that use it; a module that imports ``hamilton``
without Hamilton installed fails at import, and :func:`missing_hamilton_message` names the extra.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from engine.core.deco_digest import Digests
from engine.core.graph import Node
from engine.errors import GraphError

EXTRA = "ripple[hamilton]"


def missing_hamilton_message(module: str) -> str:
    """The one sentence shown when a pipeline imports ``hamilton`` but it is not installed."""
    return (f"pipeline module {module} imports from hamilton, which is not installed; "
            f"install it with pip install '{EXTRA}' (or apache-hamilton), or import the decorators from engine.")


def _is_hamilton_name(mod: Any) -> bool:
    return isinstance(mod, str) and (mod == "hamilton" or mod.startswith("hamilton."))


def uses_hamilton(module: types.ModuleType) -> bool:
    """True if ``module`` imported anything from ``hamilton`` (decorators, htypes, the package)."""
    for obj in list(vars(module).values()):
        if isinstance(obj, types.ModuleType):
            if _is_hamilton_name(obj.__name__):
                return True
            continue
        try:
            mod = getattr(obj, "__module__", None)
        except Exception:  # noqa: BLE001 - exotic objects with a raising __getattr__
            continue
        if _is_hamilton_name(mod):
            return True
    return False


def hamilton_nodes(modules: Iterable[types.ModuleType], config: Mapping[str, Any],
                   allow_module_overrides: bool = False) -> list[Node]:
    """Hamilton's nodes for ``modules`` under ``config``, as Ripple nodes (inputs left out).

    Functions are those each module defines itself (as Ripple reads any module), so a package and
    its submodules never contribute one function twice. A config key named like a node replaces the
    node, as in Hamilton. Hamilton's own errors (bad decorator use, incompatible types) become a
    ``GraphError`` naming the function.
    """
    from hamilton import graph as h_graph
    from hamilton.function_modifiers import base as fm_base
    from hamilton.lifecycle import base as lifecycle_base

    cfg = dict(config)
    functions: list[Callable[..., Any]] = []
    seen: set[int] = set()
    for module in modules:
        for _name, fn in h_graph.find_functions(module):
            if id(fn) not in seen and getattr(fn, "__module__", None) == module.__name__:
                seen.add(id(fn))
                functions.append(fn)
                if "__ripple__" in fn.__dict__ or "__ripple_mods__" in fn.__dict__:
                    raise GraphError(
                        f"{fn.__name__}() uses a decorator from engine in module {module.__name__}, which imports "
                        "hamilton and is therefore built by Hamilton; import its decorators all from hamilton "
                        "or all from engine.", **_where(fn))
    nodes: dict[str, Any] = {}
    for fn in functions:
        try:
            resolved = fm_base.resolve_nodes(fn, cfg)
        except Exception as exc:  # noqa: BLE001 - Hamilton's InvalidDecoratorException, ValueError, ...
            raise _error(fn, exc) from None
        for hn in resolved:
            if hn.name in cfg:
                continue
            if hn.name in nodes and not allow_module_overrides:
                other = _first_fn(nodes[hn.name])
                raise GraphError(
                    f"node {hn.name!r} is defined twice: here and at {_location(other)}; rename one of them "
                    "or make them alternatives with @config.when.", **_where(fn, hn.name))
            nodes[hn.name] = hn
    try:
        nodes = h_graph.update_dependencies(nodes, lifecycle_base.LifecycleAdapterSet(), reset_dependencies=False)
    except Exception as exc:  # noqa: BLE001 - Hamilton's type checks raise ValueError
        raise _error(_culprit(exc, functions), exc) from None
    digests = Digests()
    key = (tuple(m.__name__ for m in modules), cfg, allow_module_overrides)
    out = [to_ripple(hn, digests) for hn in nodes.values() if not hn.user_defined]
    for n in out:
        n.fn = _HamiltonCall(n.fn, (*key, n.name))
    return out


class _HamiltonCall:
    """A Hamilton node's callable (often a closure) that pickles by reference: a process or Dask
    worker rebuilds the node from its modules and config, as the parent did."""

    __slots__ = ("fn", "key")

    def __init__(self, fn: Callable[..., Any], key: tuple[Any, ...]) -> None:
        self.fn = fn
        self.key = key

    def __call__(self, **kwargs: Any) -> Any:
        return self.fn(**kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, self.key)


def _rebuilt(module_names: tuple[str, ...], config: dict[str, Any], overrides: bool, name: str) -> _HamiltonCall:
    import pickle

    return _callables(module_names, pickle.dumps(config), overrides)[name]


@functools.lru_cache(maxsize=4)
def _callables(module_names: tuple[str, ...], config: bytes, overrides: bool) -> dict[str, Any]:
    """One graph build per worker process and pipeline, not one per task."""
    import importlib
    import pickle

    modules = [importlib.import_module(m) for m in module_names]
    return {n.name: n.fn for n in hamilton_nodes(modules, pickle.loads(config), overrides)}  # noqa: S301


def to_ripple(hn: Any, digests: Digests | None = None) -> Node:
    """One Hamilton node as a Ripple node: same callable, inputs, types, tags and role."""
    from hamilton.node import DependencyType, NodeType

    digests = digests or Digests()
    fns = tuple(hn.originating_functions or (hn.callable,))
    origin = fns[0]
    inner = inspect.unwrap(origin)
    code = getattr(inner, "__code__", None)
    file, line = (code.co_filename, code.co_firstlineno) if code is not None else ("", 0)
    kind = {NodeType.EXPAND: "expand", NodeType.COLLECT: "collect"}.get(hn.node_role, "function")
    collect_param = hn.collect_dependency if kind == "collect" else None
    param_types: dict[str, Any] = {}
    optional = set()
    for param, (ptype, dep) in hn.input_types.items():
        if param == collect_param:
            ptype = (typing.get_args(ptype) or (Any,))[0]
        param_types[param] = ptype
        if dep == DependencyType.OPTIONAL:
            optional.add(param)
    typ = hn.type
    if kind == "expand":
        typ = (typing.get_args(typ) or (Any,))[0]
    tags = dict(hn.tags)
    return Node(
        name=hn.name,
        fn=hn.callable,
        deps={p: p for p in param_types},
        optional=frozenset(optional),
        type=typ,
        param_types=param_types,
        origin=origin,
        module=str(tags.get("module") or getattr(inner, "__module__", "")),
        file=file,
        line=line,
        doc=hn.documentation or "",
        tags=tags,
        behavior=tags.get("cache.behavior"),
        cache_format=tags.get("cache.format"),
        kind=kind,
        collect_param=collect_param,
        version_extra="hamilton|" + digests.of_node(fns),
    )


# ------------------------------------------------------------------------------------- errors
def _first_fn(hn: Any) -> Any:
    fns = hn.originating_functions or (hn.callable,)
    return fns[0]


def _where(fn: Any, node: str = "") -> dict[str, Any]:
    inner = inspect.unwrap(fn)
    code = getattr(inner, "__code__", None)
    if code is None:
        return {"node": node}
    return {"file": code.co_filename, "line": code.co_firstlineno, "node": node or inner.__name__}


def _location(fn: Any) -> str:
    w = _where(fn)
    return f"{w.get('file', '?')}:{w.get('line', 0)}"


def _culprit(exc: BaseException, functions: list[Callable[..., Any]]) -> Any:
    """The function the message names first (Hamilton's messages start with the offending node)."""
    text = str(exc)
    found = [(m.start(), i) for i, fn in enumerate(functions)
             if (m := re.search(rf"\b{re.escape(fn.__name__)}\b", text)) is not None]
    return functions[min(found)[1]] if found else (functions[0] if functions else None)


def _error(fn: Any, exc: BaseException) -> GraphError:
    detail = " ".join(str(exc).split())
    if len(detail) > 400:
        detail = detail[:399] + "…"
    where = _where(fn) if fn is not None else {}
    return GraphError(f"Hamilton rejected this pipeline ({type(exc).__name__}): {detail}", **where)
