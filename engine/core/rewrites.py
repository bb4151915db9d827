"""Ripple's own versions of Hamilton's modifiers that reshape one function's nodes: ``does``,
``inject``/``group``, ``unpack_fields``, ``schema``, ``check_output_custom`` and ``resolve``.

They follow the protocol of ``modifiers``: each decorator appends itself to ``fn.__ripple_mods__``
and rewrites the function's nodes when the graph is built (``resolve`` chooses the decorator from
config first). Nothing wraps the user's function, so inspection, pickling and versioning see it.
"""

from __future__ import annotations

import enum
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from engine.core.decorators import source, value
from engine.core.graph import Node, _Partial
from engine.core.modifiers import _attach, _params, _primary
from engine.errors import GraphError

F = TypeVar("F", bound=Callable[..., Any])


# ------------------------------------------------------------------------------------- replace
class _Does:
    """Calls the replacing function with the decorated function's parameters, renamed; a parameter
    not supplied gets the decorated function's default (as Hamilton)."""

    __slots__ = ("fn", "rename", "defaults")

    def __init__(self, fn: Callable[..., Any], rename: dict[str, str], defaults: dict[str, Any]) -> None:
        self.fn = fn
        self.rename = rename
        self.defaults = defaults

    def __call__(self, **kwargs: Any) -> Any:
        return self.fn(**{self.rename.get(k, k): v for k, v in {**self.defaults, **kwargs}.items()})

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Does, (self.fn, self.rename, self.defaults))


class does:  # noqa: N801 - Hamilton's name
    """The node's value is ``replacing_function(**params)``; the decorated body is not run.
    ``argument_mapping`` maps a parameter of the replacing function to one of the decorated one."""

    def __init__(self, replacing_function: Callable[..., Any], **argument_mapping: str) -> None:
        if not callable(replacing_function):
            raise GraphError(f"@does takes a function, got {replacing_function!r}.")
        self.fn = replacing_function
        self.mapping = argument_mapping

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        rename = {mine: theirs for theirs, mine in self.mapping.items()}
        for n in _primary(nodes, fn):
            inner = n.fn.fn if isinstance(n.fn, _Partial) else None
            defaults = {p.name: p.default for p in _params(fn) if p.default is not inspect.Parameter.empty}
            call = _Does(self.fn, rename, defaults)
            n.fn = _Partial(call, n.fn.bound) if inner is not None else call
        return nodes


class _Injected:
    """Assembles grouped parameters (lists/dicts of upstream values) before calling the function."""

    __slots__ = ("fn", "groups")

    def __init__(self, fn: Callable[..., Any], groups: dict[str, tuple[str, Any]]) -> None:
        self.fn = fn
        self.groups = groups

    def __call__(self, **kwargs: Any) -> Any:
        for param, (shape, keys) in self.groups.items():
            if shape == "list":
                kwargs[param] = [kwargs.pop(k) if isinstance(k, str) else k.literal for k in keys]
            else:
                kwargs[param] = {name: kwargs.pop(k) if isinstance(k, str) else k.literal for name, k in keys.items()}
        return self.fn(**kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Injected, (self.fn, self.groups))


class group:  # noqa: N801 - Hamilton's name
    """Several sources/values as one list (``group(source("a"), source("b"))``) or dict (keywords)."""

    def __init__(self, *items: Any, **named: Any) -> None:
        if items and named:
            raise GraphError("group() takes either positional items (a list) or keywords (a dict), not both.")
        self.items = items
        self.named = named


class inject:  # noqa: N801 - Hamilton's name
    """Bind parameters to ``source``/``value``/``group`` (like one-output ``parameterize``)."""

    def __init__(self, **bindings: Any) -> None:
        if not bindings:
            raise GraphError("@inject needs at least one parameter=source(...)|value(...)|group(...).")
        self.bindings = bindings

    def __call__(self, fn: F) -> F:
        names = {p.name for p in _params(fn)}
        missing = sorted(set(self.bindings) - names)
        if missing:
            raise GraphError(f"@inject binds {missing}, which {fn.__name__}() has no parameter named.")
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        for n in _primary(nodes, fn):
            literals: dict[str, Any] = {}
            groups: dict[str, tuple[str, Any]] = {}
            deps = dict(n.deps)
            for param, b in self.bindings.items():
                deps.pop(param, None)
                if isinstance(b, group):
                    shape = "list" if not b.named else "dict"
                    entries = list(enumerate(b.items)) if shape == "list" else list(b.named.items())
                    keys: dict[Any, Any] = {}
                    for k, item in entries:
                        if isinstance(item, source):
                            keys[k] = f"{param}__{k}"
                            deps[keys[k]] = item.name
                        else:
                            keys[k] = item if isinstance(item, value) else value(item)
                    groups[param] = (shape, list(keys.values()) if shape == "list" else keys)
                elif isinstance(b, source):
                    deps[param] = b.name
                else:
                    literals[param] = b.literal if isinstance(b, value) else b
            call: Any = _Injected(n.fn, groups) if groups else n.fn
            n.fn = _Partial(call, literals) if literals else call
            n.deps = deps
            n.optional = frozenset(p for p in n.optional if p in deps)
            n.literals = {**n.literals, **literals}
        return nodes


# ------------------------------------------------------------------------------------- shapes
class unpack_fields:  # noqa: N801 - Hamilton's name
    """The function returns a tuple; each named position also becomes a node."""

    def __init__(self, *fields: str) -> None:
        if not fields or not all(isinstance(f, str) and f.isidentifier() for f in fields):
            raise GraphError("@unpack_fields needs one or more field names as identifiers.")
        self.fields = fields

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        from engine.core.graph import _extracted

        out = list(nodes)
        for parent in _primary(nodes, fn):
            args = typing.get_args(parent.type)
            for i, name in enumerate(self.fields):
                typ = args[i] if i < len(args) and args[-1] is not Ellipsis else (args[0] if args else Any)
                node = _extracted(parent, name, typ, "field")
                node.fn = _Item(i)
                node.version_extra = f"unpack:{i}"
                out.append(node)
        return out


class _Item:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, parent: Any) -> Any:
        return parent[self.index]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Item, (self.index,))


class schema:  # noqa: N801 - Hamilton's name
    """Declare the output schema (``schema.output(("a", "int"), ...)``); recorded as Hamilton's tag."""

    TAG = "hamilton.internal.schema_output"

    @staticmethod
    def output(*fields: tuple[str, str], target_: Any = None) -> Callable[[F], F]:
        for f in fields:
            if not (isinstance(f, tuple) and len(f) == 2 and all(isinstance(x, str) for x in f)):
                raise GraphError(f"schema.output takes (name, type) pairs of strings, got {f!r}.")
        from engine.core.decorators import tag

        return tag(**{schema.TAG: ",".join(f"{n}={t}" for n, t in fields)})


class ValidationResult:
    """What a validator's ``validate`` returns (Hamilton's ``ValidationResult`` fields)."""

    def __init__(self, passes: bool, message: str = "", diagnostics: dict[str, Any] | None = None) -> None:
        self.passes = passes
        self.message = message
        self.diagnostics = diagnostics or {}


class DataValidator:
    """Base for ``check_output_custom`` validators (Hamilton's ``DataValidator`` shape):
    ``importance`` is ``"warn"`` (log) or ``"fail"`` (the node fails)."""

    def __init__(self, importance: str = "warn") -> None:
        self.importance = importance

    def applies_to(self, datatype: type) -> bool:
        return True

    def description(self) -> str:
        return type(self).__name__

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    def validate(self, dataset: Any) -> ValidationResult:
        raise NotImplementedError


class check_output_custom:  # noqa: N801 - Hamilton's name
    """Validate the value with your own validators: objects with ``validate(value)`` (returning a
    result with ``passes``/``message``, or a bool) and an ``importance`` of ``warn`` or ``fail``."""

    def __init__(self, *validators: Any, target_: Any = None) -> None:
        if not validators or not all(callable(getattr(v, "validate", None)) for v in validators):
            raise GraphError("@check_output_custom needs validator objects with a validate(value) method.")
        self.validators = validators

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        for n in _primary(nodes, fn):
            n.fn = _Validated(n.fn, n.name, self.validators)
        return nodes


class _Validated:
    __slots__ = ("fn", "name", "validators")

    def __init__(self, fn: Callable[..., Any], name: str, validators: tuple[Any, ...]) -> None:
        self.fn = fn
        self.name = name
        self.validators = validators

    def __call__(self, **kwargs: Any) -> Any:
        from engine._log import log
        from engine.core.checks import DataValidationError

        result = self.fn(**kwargs)
        for v in self.validators:
            outcome = v.validate(result)
            passes = outcome if isinstance(outcome, bool) else bool(getattr(outcome, "passes", outcome))
            if passes:
                continue
            importance = getattr(v, "importance", "warn")
            importance = getattr(importance, "value", importance)
            message = f"{self.name}: {getattr(outcome, 'message', '') or type(v).__name__ + ' failed'}"
            if str(importance).lower() == "fail":
                raise DataValidationError(message)
            log.warning(message)
        return result

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Validated, (self.fn, self.name, self.validators))


class ResolveAt(enum.Enum):
    CONFIG_AVAILABLE = "config_available"


class resolve:  # noqa: N801 - Hamilton's name
    """Choose the decorator from config when the graph is built:
    ``@resolve(when=ResolveAt.CONFIG_AVAILABLE, decorate_with=lambda cols: extract_columns(*cols))``
    (the lambda's parameters name config keys)."""

    def __init__(self, *, when: ResolveAt, decorate_with: Callable[..., Any]) -> None:
        if when is not ResolveAt.CONFIG_AVAILABLE:
            raise GraphError("@resolve supports when=ResolveAt.CONFIG_AVAILABLE.")
        self.decorate_with = decorate_with

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def resolve(self, fn: Callable[..., Any], cfg: Mapping[str, Any]) -> Callable[..., Any] | None:
        params = _params(self.decorate_with)
        missing = [p.name for p in params if p.name not in cfg and p.default is inspect.Parameter.empty]
        if missing:
            raise GraphError(f"@resolve needs config {', '.join(missing)}; pass it with --config or Driver(config).",
                             file=fn.__code__.co_filename, line=fn.__code__.co_firstlineno, node=fn.__name__)
        decorator = self.decorate_with(**{p.name: cfg[p.name] for p in params if p.name in cfg})
        twin = _twin(fn, without=self)
        result = decorator(twin)
        return result if result is not None else twin


def _twin(fn: Any, without: Any) -> Any:
    """A copy of ``fn`` (same code, globals, defaults) whose decorator state can be extended at
    graph-build time without touching the module's function."""
    import copy
    import types

    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    twin.__kwdefaults__ = fn.__kwdefaults__
    twin.__dict__.update({k: v for k, v in fn.__dict__.items() if k not in ("__ripple__", "__ripple_mods__")})
    twin.__module__, twin.__qualname__, twin.__doc__ = fn.__module__, fn.__qualname__, fn.__doc__
    twin.__annotations__ = dict(fn.__annotations__)
    if "__ripple__" in fn.__dict__:
        twin.__ripple__ = copy.copy(fn.__dict__["__ripple__"])  # type: ignore[attr-defined]
    twin.__ripple_mods__ = [m for m in fn.__dict__.get("__ripple_mods__", []) if m is not without]  # type: ignore[attr-defined]
    twin.__ripple_twin_of__ = fn  # type: ignore[attr-defined]
    return twin
