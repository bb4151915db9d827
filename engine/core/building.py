"""Build the graph of pipeline modules: each module's functions through Ripple's decorators, or,
for modules that import ``hamilton``, through Hamilton's own graph resolution (``hamilton_graph``).

Why a module of its own: the front-ends (``modifiers``, ``hamilton_graph``) build ``graph.Node``s, so
the one function that picks a front-end per module sits above them, not inside ``graph``.

Why ``plain_node``: building the graph is part of every command's startup, and nearly every function
of a pipeline is plain (no decorator, annotations that are classes). For those it reads what
``nodes_from_function`` would, straight from the function object, at a fraction of the cost; for
anything else it declines and the general path decides, so behaviour and errors stay the general
path's (``tests/core/test_building.py`` holds both paths to the same nodes).
"""

from __future__ import annotations

import builtins
import inspect
import keyword
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Protocol

from engine._gc import paused
from engine.core.graph import (
    EMPTY,
    Graph,
    Node,
    _Awaited,
    _node_name,
    functions_of,
    node_doc,
    nodes_from_function,
)
from engine.core.markers import Parallelizable
from engine.errors import GraphError

_NOT_PLAIN_FLAGS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
#: ``def f[T](x: "T")`` (3.12+): a string annotation may name a type parameter, not a global
_TYPE_PARAMS = sys.version_info >= (3, 12)
_NONE_OPTIONAL: frozenset[str] = frozenset()


def build_graph(modules: Iterable[types.ModuleType], config: Mapping[str, Any] | None = None, *,
                allow_module_overrides: bool = False) -> Graph:
    """Collect the nodes of ``modules`` under ``config`` and validate the result; modules importing
    ``hamilton`` are resolved by Hamilton itself (``hamilton_graph``).

    The garbage collector is paused meanwhile, and what the build made then goes straight to the
    oldest generation: a build allocates several objects per node and frees almost none, so every
    collection it triggered rescanned a growing heap for nothing (~1 µs per node). Cyclic garbage
    made meanwhile waits for the next full collection instead."""
    with paused(promote=True):
        return _build(list(modules), dict(config or {}), allow_module_overrides)


def _build(modules: list[types.ModuleType], cfg: dict[str, Any], allow_module_overrides: bool) -> Graph:
    nodes: dict[str, Node] = {}
    hidden: dict[str, str] = {}
    via_hamilton = _hamilton_modules(modules)
    built: list[Node] = []
    if via_hamilton:
        from engine.core import hamilton_graph  # lazy: Hamilton and the digests cost ms to import

        built = hamilton_graph.hamilton_nodes(via_hamilton, cfg, allow_module_overrides)
    digests: Any = None  # one parse per file for the decorator digests of this build, made on first use
    named: dict[tuple[int, str], Any] = {}  # string annotations resolved in this build, per globals
    for module in modules:
        if module in via_hamilton:
            continue
        for fn in functions_of(module):
            node = plain_node(fn, named)
            if node is not None:
                built.append(node)
                continue
            _note_hidden(fn, cfg, hidden)
            from engine.core import modifiers  # lazy: a graph of plain functions never loads the decorators

            resolved = modifiers.resolve_function(fn, cfg)
            if resolved is None:
                continue
            if digests is None and resolved.__dict__.get("__ripple_mods__"):
                from engine.core.deco_digest import Digests  # lazy: hashlib and sysconfig, ms to import

                digests = Digests()
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


def _hamilton_modules(modules: list[types.ModuleType]) -> list[types.ModuleType]:
    """The modules Hamilton resolves. While no ``hamilton`` module was ever imported no module can
    hold anything of Hamilton's, so ``hamilton_graph`` (and what it imports) is not even loaded."""
    if "hamilton" not in sys.modules and not any(k.startswith("hamilton.") for k in list(sys.modules)):
        return []
    from engine.core import hamilton_graph

    return [m for m in modules if hamilton_graph.uses_hamilton(m)]


def plain_node(fn: Callable[..., Any], named: dict[tuple[int, str], Any] | None = None) -> Node | None:
    """The node ``nodes_from_function(fn, cfg)`` builds, for a function that no decorator touched
    (its ``__dict__`` is empty: no spec, no modifiers, no ``__wrapped__``, so no config can drop it),
    whose parameters are all named and whose annotations are classes or, as strings, names of
    classes; None otherwise. Every check is one the general path would make, skipped only where
    its answer is already known (no ``Parallelizable``/``Collect`` origin on a plain class).
    ``named`` memoises string annotations across one build (keyed by the globals' id: they stay alive)."""
    if fn.__dict__ or type(fn) is not types.FunctionType:
        return None
    code = fn.__code__
    if code.co_flags & _NOT_PLAIN_FLAGS or code.co_posonlyargcount or _TYPE_PARAMS and fn.__type_params__:
        return None
    hints = fn.__annotations__
    if hints:
        hints = _plain_hints(hints, fn.__globals__, {} if named is None else named)
        if hints is None:
            return None
    argcount = code.co_argcount
    names = code.co_varnames[: argcount + code.co_kwonlyargcount]
    defaults, kwdefaults = fn.__defaults__, fn.__kwdefaults__
    optional = _NONE_OPTIONAL
    if defaults or kwdefaults:
        optional = frozenset((names[argcount - len(defaults): argcount] if defaults else ()) + tuple(kwdefaults or ()))
    params = {p: hints.get(p, EMPTY) for p in names}
    module = fn.__module__
    return Node(
        name=fn.__name__,
        fn=_Awaited(fn) if code.co_flags & inspect.CO_COROUTINE else fn,
        deps={p: p for p in names},
        optional=optional,
        type=hints.get("return", EMPTY),
        param_types=params,
        origin=fn,
        module=module,
        file=code.co_filename, line=code.co_firstlineno,
        doc=node_doc(fn),
        tags={"module": module},
    )


def _plain_hints(raw: dict[str, Any], globalns: dict[str, Any], named: dict[tuple[int, str], Any]) -> dict[str, Any] | None:
    """``raw`` with string annotations resolved as ``typing.get_type_hints`` would (a name or a dotted
    name looked up in the function's globals, then its builtins), or None unless every annotation
    ends up a class without special meaning: then the general path decides. Special: a bare
    ``Parallelizable`` return fans out, and ``get_type_hints`` rejects a bare ``Generic``/``Protocol``
    (falling back to all-raw strings)."""
    resolved: dict[str, Any] | None = None
    for key, value in raw.items():
        if isinstance(value, str):
            memo = (id(globalns), value)
            if memo in named:
                value = named[memo]
            else:
                value = named[memo] = _named_class(value, globalns)
            if resolved is None:
                resolved = dict(raw)
            resolved[key] = value
        if not isinstance(value, type) or value is Parallelizable or value is Generic or value is Protocol:
            return None
    return raw if resolved is None else resolved


def _named_class(text: str, globalns: dict[str, Any]) -> Any:
    """What ``eval(text, globalns)`` gives for a (dotted) name, or None for any other expression or
    a failed look-up (the general path then raises or falls back exactly as it always did)."""
    head, *attrs = parts = text.split(".")
    for part in parts:
        if not part.isidentifier() or keyword.iskeyword(part):
            return None
    if head in globalns:
        obj = globalns[head]
    else:
        names = globalns.get("__builtins__", builtins)
        names = names if isinstance(names, dict) else vars(names)
        if head not in names:
            return None
        obj = names[head]
    for attr in attrs:
        try:
            obj = getattr(obj, attr)
        except Exception:  # noqa: BLE001 - whatever the look-up raises, the general path reports it
            return None
    return obj


def _note_hidden(fn: Any, cfg: Mapping[str, Any], hidden: dict[str, str]) -> None:
    """Record a function ``@config.when`` leaves out, with the ``--config`` that would enable it."""
    spec = fn.__dict__.get("__ripple__")
    if spec is None or not spec.when:
        return
    from engine.core.decorators import config_matches

    if config_matches(spec, cfg):
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
