"""Ripple's own versions of Hamilton's node-rewriting modifiers, and the protocol they share.

Here: ``pipe_input``/``pipe``/``pipe_output`` with ``step``, ``mutate``/``apply_to`` and
``hamilton_exclude``; ``rewrites``, ``materialize`` and ``subdag`` hold the others. They behave as
Hamilton's do, for projects that import their decorators from ``engine`` (no Hamilton needed).

Like ``decorators``, nothing here wraps the user's function: each decorator appends itself to
``fn.__ripple_mods__``; the graph builder first lets resolvers (``hamilton_exclude``, ``resolve``)
decide the function, builds its nodes, then lets each modifier rewrite that list of nodes (a pipe
adds step nodes and re-points a parameter, ``does`` swaps the callable...). Helper nodes take the
helper function as their ``origin``, so the helper's code is versioned transitively exactly like a
node's; what the decorators say is versioned through ``deco_digest``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from engine.core.decorators import NodeSpec, config_matches, source, value
from engine.core.graph import EMPTY, Node, _copy, _hints, _Partial
from engine.errors import GraphError

F = TypeVar("F", bound=Callable[..., Any])


def mods_of(fn: Callable[..., Any]) -> list[Any]:
    return fn.__dict__.setdefault("__ripple_mods__", [])


def _attach(fn: F, mod: Any) -> F:
    if not inspect.isfunction(fn):
        raise GraphError(f"@{type(mod).__name__} decorates functions only, not {type(fn).__name__}.")
    mods_of(fn).append(mod)
    return fn


def _split(bound: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """(param -> source name, param -> literal); a bare value counts as ``value(...)``, as in Hamilton."""
    sources: dict[str, str] = {}
    literals: dict[str, Any] = {}
    for p, b in bound.items():
        if isinstance(b, source):
            sources[p] = b.name
        elif isinstance(b, value):
            literals[p] = b.literal
        else:
            literals[p] = b
    return sources, literals


def _params(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())


def helper_node(name: str, fn: Callable[..., Any], deps: dict[str, str], literals: dict[str, Any], like: Node,
                type_: Any = EMPTY, doc: str = "", extra: str = "") -> Node:
    """A node computed by a helper function (a pipe step, a loader...): the helper is its origin."""
    inner = inspect.unwrap(fn)
    code = getattr(inner, "__code__", None)
    hints = _hints(inner) if code is not None else {}
    sig = {p.name: p for p in _params(fn)} if callable(fn) else {}
    optional = frozenset(p for p in deps if p in sig and sig[p].default is not inspect.Parameter.empty)
    return Node(
        name=name,
        fn=_Partial(fn, literals) if literals else fn,
        deps=deps,
        optional=optional,
        type=hints.get("return", EMPTY) if type_ is EMPTY else type_,
        param_types={p: hints.get(p, EMPTY) for p in deps},
        origin=fn,
        module=like.module,
        file=code.co_filename if code is not None else like.file,
        line=code.co_firstlineno if code is not None else like.line,
        doc=doc,
        tags=dict(like.tags),
        literals=dict(literals),
        version_extra=extra,
    )


def _primary(nodes: list[Node], fn: Callable[..., Any]) -> list[Node]:
    return [n for n in nodes if n.kind != "extract" and n.origin is fn]


# ------------------------------------------------------------------------------------- pipes
class step:  # noqa: N801 - Hamilton's name
    """One transformation of a pipe: ``step(_fn, k=value(1), other=source("node"))``; ``_fn``
    receives the piped value as its first parameter."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if not callable(fn):
            raise GraphError(f"step() takes a function first, got {fn!r}.")
        params = _params(fn)
        if args:
            extra = [p.name for p in params[1:1 + len(args)]]
            if len(extra) < len(args):
                raise GraphError(f"step({fn.__name__}, ...) got more positional arguments than it has parameters.")
            kwargs = {**dict(zip(extra, args, strict=True)), **kwargs}
        self.fn = fn
        self.kwargs = kwargs
        self.name: str | None = None
        self.namespace: Any = ...
        self.conds: list[tuple[str, dict[str, Any]]] = []
        self.target: Any = None

    def _clone(self, **changes: Any) -> step:
        new = step.__new__(step)
        new.__dict__.update(self.__dict__)
        new.conds = list(self.conds)
        new.__dict__.update(changes)
        return new

    def named(self, name: str, namespace: Any = ...) -> step:
        return self._clone(name=name, namespace=namespace)

    def on_input(self, target: Any) -> step:
        return self._clone(target=target)

    on_output = on_input

    def _cond(self, mode: str, kv: dict[str, Any]) -> step:
        new = self._clone()
        new.conds.append((mode, kv))
        return new

    def when(self, **kv: Any) -> step:
        return self._cond("when", kv)

    def when_not(self, **kv: Any) -> step:
        return self._cond("when_not", kv)

    def when_in(self, **kv: Any) -> step:
        return self._cond("when_in", kv)

    def when_not_in(self, **kv: Any) -> step:
        return self._cond("when_not_in", kv)

    def applies(self, cfg: Mapping[str, Any]) -> bool:
        return config_matches(NodeSpec(when=self.conds), cfg)

    def node_name(self, namespace: str | None) -> str:
        base = self.name or "with_" + self.fn.__name__.lstrip("_")
        ns = namespace if self.namespace is ... else self.namespace
        return f"{ns}.{base}" if ns else base


def _chain(steps: tuple[step, ...], start: str, namespace: str | None, cfg: Mapping[str, Any], like: Node) -> list[Node]:
    """Step nodes fed one into the next, the first fed by ``start``."""
    out: list[Node] = []
    prev = start
    for s in steps:
        if not s.applies(cfg):
            continue
        params = _params(s.fn)
        if not params:
            raise GraphError(f"step({s.fn.__name__}) needs a first parameter to receive the piped value.",
                             file=like.file, line=like.line, node=like.name)
        sources, literals = _split(s.kwargs)
        deps = {params[0].name: prev}
        for p in params[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in literals:
                continue
            deps[p.name] = sources.get(p.name, p.name)
        n = helper_node(s.node_name(namespace), s.fn, deps, literals, like, extra=f"step:{sorted(sources.items())}")
        out.append(n)
        prev = n.name
    return out


class pipe_input:  # noqa: N801 - Hamilton's name
    """Run a parameter through ``step`` transformations before the function sees it."""

    def __init__(self, *steps: step, on_input: str | list[str] | None = None, namespace: Any = ...) -> None:
        if not steps or not all(isinstance(s, step) for s in steps):
            raise GraphError("@pipe_input needs one or more step(...) arguments.")
        self.steps = steps
        self.on_input = on_input
        self.namespace = namespace

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        targets = [self.on_input] if isinstance(self.on_input, str) else list(self.on_input or [])
        if not targets:
            targets = [p.name for p in _params(fn)[:1]]
        out: list[Node] = []
        for n in nodes:
            if n not in _primary(nodes, fn):
                out.append(n)
                continue
            for param in targets:
                if param not in n.deps:
                    continue
                ns = n.name if self.namespace is ... else self.namespace
                if len(targets) > 1 and ns:
                    ns = f"{ns}_{param}"
                chain = _chain(self._steps_for(param), n.deps[param], ns, cfg, n)
                if chain:
                    out += chain
                    n.deps = {**n.deps, param: chain[-1].name}
            out.append(n)
        return out

    def _steps_for(self, param: str) -> tuple[step, ...]:
        return tuple(s for s in self.steps if s.target is None or s.target == param
                     or isinstance(s.target, list | tuple) and param in s.target)


pipe = pipe_input


class pipe_output:  # noqa: N801 - Hamilton's name
    """Run the function's result through ``step`` transformations; the node keeps its name and the
    untransformed value is ``NAME.raw``."""

    def __init__(self, *steps: step, namespace: Any = ..., on_output: Any = None) -> None:
        if not all(isinstance(s, step) for s in steps):
            raise GraphError("@pipe_output takes step(...) arguments.")
        self.steps = steps
        self.namespace = namespace
        self.on_output = on_output

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        out: list[Node] = []
        for n in nodes:
            if n not in _primary(nodes, fn) or self.on_output and n.name not in _names(self.on_output):
                out.append(n)
                continue
            ns = n.name if self.namespace is ... else self.namespace
            raw = _copy(n, name=f"{n.name}.raw")
            chain = _chain(self.steps, raw.name, ns, cfg, n)
            if not chain:
                out.append(n)
                continue
            final = helper_node(n.name, _identity, {"value": chain[-1].name}, {}, n, type_=chain[-1].type, doc=n.doc,
                                extra="pipe_output")
            final.behavior = n.behavior
            final.checks = n.checks
            raw.checks = ()
            out += [raw, *chain, final]
        return out


def _names(target: Any) -> set[str]:
    return {target} if isinstance(target, str) else set(target)


def _identity(value: Any) -> Any:
    return value


class mutate:  # noqa: N801 - Hamilton's name
    """Decorates a helper: apply it to the output of each target function (a ``pipe_output`` step
    added from elsewhere). The helper itself is not a node."""

    def __init__(self, *targets: Any, **kwargs: Any) -> None:
        if not targets:
            raise GraphError("@mutate needs the target functions (or apply_to(...)) it transforms.")
        self.targets = targets
        self.kwargs = kwargs

    def __call__(self, fn: F) -> F:
        for t in self.targets:
            target, kwargs = (t.fn, {**self.kwargs, **t.kwargs}) if isinstance(t, apply_to) else (t, self.kwargs)
            if not inspect.isfunction(target):
                raise GraphError(f"@mutate target {target!r} is not a function.")
            s = step(fn, **kwargs)
            if isinstance(t, apply_to):
                s.conds, s.name, s.namespace = list(t.conds), t.name, t.namespace
            existing = [m for m in mods_of(target) if isinstance(m, pipe_output) and getattr(m, "_from_mutate", False)]
            if existing:
                existing[0].steps = (*existing[0].steps, s)
            else:
                po = pipe_output(s)
                po._from_mutate = True  # type: ignore[attr-defined]
                mods_of(target).append(po)
        mods_of(fn).append(hamilton_exclude)
        return fn


class apply_to:  # noqa: N801 - Hamilton's name
    """A ``mutate`` target with its own arguments / config conditions."""

    def __init__(self, fn: Callable[..., Any], **kwargs: Any) -> None:
        self.fn = fn
        self.kwargs = kwargs
        self.conds: list[tuple[str, dict[str, Any]]] = []
        self.name: str | None = None
        self.namespace: Any = ...

    def _cond(self, mode: str, kv: dict[str, Any]) -> apply_to:
        self.conds.append((mode, kv))
        return self

    def when(self, **kv: Any) -> apply_to:
        return self._cond("when", kv)

    def when_not(self, **kv: Any) -> apply_to:
        return self._cond("when_not", kv)

    def when_in(self, **kv: Any) -> apply_to:
        return self._cond("when_in", kv)

    def when_not_in(self, **kv: Any) -> apply_to:
        return self._cond("when_not_in", kv)

    def named(self, name: str, namespace: Any = ...) -> apply_to:
        self.name, self.namespace = name, namespace
        return self


# ------------------------------------------------------------------------------------- resolvers
class _Exclude:
    """``@hamilton_exclude``: a public function that is a helper, not a node."""

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def resolve(self, fn: Callable[..., Any], cfg: Mapping[str, Any]) -> Callable[..., Any] | None:
        return None


hamilton_exclude = _Exclude()


def resolve_function(fn: Callable[..., Any], cfg: Mapping[str, Any]) -> Callable[..., Any] | None:
    """The function to build nodes from under ``cfg``: None if a resolver excludes it."""
    for mod in list(fn.__dict__.get("__ripple_mods__", ())):
        resolver = getattr(mod, "resolve", None)
        if resolver is not None:
            got = resolver(fn, cfg)
            if got is None:
                return None
            if got is not fn:
                return resolve_function(got, cfg)
    return fn


def apply_modifiers(nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any],
                    digests: Any = None) -> list[Node]:
    """Let each modifier on ``fn`` rewrite its nodes (innermost decorator first); ``digests`` (a
    ``deco_digest.Digests``) is shared across one graph build so each file is parsed once."""
    mods = [m for m in fn.__dict__.get("__ripple_mods__", ()) if hasattr(m, "apply")]
    if not nodes or not mods:
        return nodes
    from engine.core.deco_digest import Digests

    for mod in mods:
        nodes = mod.apply(nodes, fn, cfg)
    origin = getattr(fn, "__ripple_twin_of__", fn)
    digest = (digests or Digests()).of_node((origin,))
    for n in nodes:
        n.version_extra = f"{n.version_extra}|mods:{digest}"
    return nodes
