"""Authoring decorators (Hamilton-compatible names and semantics).

A decorator never wraps the user's function: it validates its arguments at decoration time (so a
mistake is reported at the function's own file:line) and records a spec on ``fn.__ripple__``.
The graph builder reads those specs. Keeping the original function object intact means
``inspect``, pickling by reference and code versioning all see the user's real function.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.core.markers import BEHAVIORS
from engine.errors import GraphError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class value:  # noqa: N801 - Hamilton's name
    """A literal bound to a parameter by ``parameterize``."""

    literal: Any


@dataclass(frozen=True, slots=True)
class source:  # noqa: N801 - Hamilton's name
    """A parameter of a ``parameterize``d function fed by another node or input."""

    name: str


@dataclass(slots=True)
class NodeSpec:
    """Everything the decorators said about one function."""

    tags: dict[str, Any] = field(default_factory=dict)
    when: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # ("when"/"when_not", kv)
    parameterize: dict[str, tuple[dict[str, value | source], str]] | None = None
    extract_columns: tuple[str, ...] | None = None
    extract_fields: dict[str, Any] | None = None
    cache_behavior: str | None = None
    cache_format: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    #: ``config.when(..., name="x")``: the node's name, instead of the function's before ``__``
    name: str | None = None


def _where(fn: Callable[..., Any]) -> dict[str, Any]:
    code = getattr(fn, "__code__", None)
    if code is None:
        return {}
    return {"file": code.co_filename, "line": code.co_firstlineno, "node": fn.__name__}


def spec_of(fn: Callable[..., Any]) -> NodeSpec:
    spec = fn.__dict__.get("__ripple__")
    if spec is None:
        spec = NodeSpec()
        fn.__ripple__ = spec  # type: ignore[attr-defined]
    return spec


def _bad(fn: Callable[..., Any], message: str) -> GraphError:
    return GraphError(message, **_where(fn))


def _located(factory: Callable[..., Any]) -> Callable[..., Any]:
    """Report a bad decorator argument when the decorator is applied, so the error names the
    decorated function and its file:line (at factory time the function is not known yet)."""

    @functools.wraps(factory)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return factory(*args, **kwargs)
        except GraphError as exc:
            if exc.file:
                raise
            message = exc.message

            def deco(fn: Callable[..., Any]) -> Any:
                raise _bad(fn, message)

            return deco

    return wrapper


def _require_function(fn: Any, deco: str) -> None:
    if not inspect.isfunction(fn):
        raise GraphError(f"@{deco} decorates functions only, not {type(fn).__name__}.")


@_located
def tag(*args: Any, target_: Any = None, **tags: Any) -> Callable[[F], F]:
    """Attach metadata; ``tag(sensitive=True)`` keeps a node's value off disk and out of lineage."""
    if args:
        where = _where(args[0]) if callable(args[0]) else {}
        raise GraphError("@tag takes keyword arguments: write @tag(key=value), with parentheses.", **where)
    for key, val in tags.items():
        if not key.replace(".", "_").isidentifier():
            raise GraphError(f"@tag key {key!r} is not an identifier; use letters, digits, '_' and '.'.")
        if not isinstance(val, str | bool | int | float | list | tuple):
            raise GraphError(f"@tag value for {key!r} must be a string or a list of strings, got {val!r}.")

    def deco(fn: F) -> F:
        _require_function(fn, "tag")
        spec_of(fn).tags.update(tags)
        return fn

    return deco


def tag_outputs(**per_output: Mapping[str, Any]) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        spec_of(fn).tags.setdefault("__per_output__", {}).update(per_output)
        return fn

    return deco


@_located
def cache(behavior: str | None = None, format: str | None = None, **_: Any) -> Callable[[F], F]:  # noqa: A002
    """Choose the cache behavior of a node: default, recompute, disable or ignore."""
    if behavior is not None and behavior not in BEHAVIORS:
        raise GraphError(f"@cache behavior {behavior!r} is not one of {', '.join(BEHAVIORS)}.")

    def deco(fn: F) -> F:
        _require_function(fn, "cache")
        spec = spec_of(fn)
        spec.cache_behavior = behavior
        spec.cache_format = format
        return fn

    return deco


@_located
def extract_columns(*columns: str) -> Callable[[F], F]:
    """The function returns a DataFrame; each named column also becomes a node."""
    if not columns or not all(isinstance(c, str) and c for c in columns):
        raise GraphError("@extract_columns needs one or more column names as strings.")
    if len(set(columns)) != len(columns):
        raise GraphError(f"@extract_columns lists a column twice: {columns!r}.")

    def deco(fn: F) -> F:
        _require_function(fn, "extract_columns")
        spec_of(fn).extract_columns = tuple(columns)
        return fn

    return deco


@_located
def extract_fields(fields: Mapping[str, Any]) -> Callable[[F], F]:
    """The function returns a dict; each named field (with its type) also becomes a node."""
    if not isinstance(fields, Mapping) or not fields:
        raise GraphError("@extract_fields needs a non-empty dict of field name -> type.")
    for name in fields:
        if not isinstance(name, str) or not name.isidentifier():
            raise GraphError(f"@extract_fields field name {name!r} is not a valid identifier.")

    def deco(fn: F) -> F:
        _require_function(fn, "extract_fields")
        spec_of(fn).extract_fields = dict(fields)
        return fn

    return deco


@_located
def parameterize(**outputs: Any) -> Callable[[F], F]:
    """One node per output name, each binding some parameters to ``value(...)`` or ``source(...)``."""
    if not outputs:
        raise GraphError("@parameterize needs at least one output=dict(param=value(...)|source(...)).")
    normalised: dict[str, tuple[dict[str, value | source], str]] = {}
    for out, spec in outputs.items():
        doc = ""
        if isinstance(spec, tuple):
            if len(spec) != 2 or not isinstance(spec[1], str):
                raise GraphError(f"@parameterize output {out!r}: use a dict or a (dict, docstring) pair.")
            spec, doc = spec
        if not isinstance(spec, Mapping):
            raise GraphError(f"@parameterize output {out!r} must map parameter names to value()/source().")
        for param, bound in spec.items():
            if not isinstance(bound, value | source):
                raise GraphError(
                    f"@parameterize output {out!r}: parameter {param!r} must be value(...) or source(...), "
                    f"got {bound!r}."
                )
        normalised[out] = (dict(spec), doc)

    def deco(fn: F) -> F:
        _require_function(fn, "parameterize")
        params = inspect.signature(fn).parameters
        for out, (bindings, _doc) in normalised.items():
            for param in bindings:
                if param not in params:
                    raise _bad(fn, f"@parameterize output {out!r} binds {param!r}, which {fn.__name__}() has no parameter named.")
        spec_of(fn).parameterize = normalised
        return fn

    return deco


def parameterize_values(parameter: str, assigned_output: Mapping[Any, Any]) -> Callable[[F], F]:
    """Hamilton shortcut: one output per value of ``parameter``. Keys may be names or (name, doc)."""
    outs: dict[str, Any] = {}
    for key, val in assigned_output.items():
        name, doc = (key if isinstance(key, tuple) else (key, ""))
        outs[name] = ({parameter: value(val)}, doc)
    return parameterize(**outs)


def parameterize_sources(**outputs: Mapping[str, str]) -> Callable[[F], F]:
    return parameterize(**{out: {p: source(s) for p, s in m.items()} for out, m in outputs.items()})


def parametrized_input(parameter: str, variable_inputs: Mapping[str, tuple[str, str]]) -> Callable[[F], F]:
    """Hamilton's deprecated spelling: ``{input_node: (output_name, doc)}`` feeding ``parameter``."""
    return parameterize(**{out: ({parameter: source(src)}, doc) for src, (out, doc) in variable_inputs.items()})


class config:  # noqa: N801 - Hamilton's name
    """Choose between implementations by config: ``@config.when(region="eu")`` on ``fn__eu``."""

    @staticmethod
    @_located
    def when(**kv: Any) -> Callable[[F], F]:
        return config._add("when", kv)

    @staticmethod
    @_located
    def when_not(**kv: Any) -> Callable[[F], F]:
        return config._add("when_not", kv)

    @staticmethod
    @_located
    def when_in(**kv: Any) -> Callable[[F], F]:
        return config._add("when_in", _options(kv, "when_in"))

    @staticmethod
    @_located
    def when_not_in(**kv: Any) -> Callable[[F], F]:
        return config._add("when_not_in", _options(kv, "when_not_in"))

    @staticmethod
    @_located
    def _add(mode: str, kv: dict[str, Any]) -> Callable[[F], F]:
        kv = dict(kv)
        name = kv.pop("name", None)
        if not kv:
            raise GraphError(f"@config.{mode}() needs at least one key=value condition.")

        def deco(fn: F) -> F:
            _require_function(fn, f"config.{mode}")
            spec = spec_of(fn)
            spec.when.append((mode, kv))
            spec.name = name or spec.name
            return fn

        return deco


def _options(kv: dict[str, Any], mode: str) -> dict[str, Any]:
    for key, options in kv.items():
        if key != "name" and not isinstance(options, list | tuple | set | frozenset):
            raise GraphError(f"@config.{mode}({key}=...) takes a list of values, got {options!r}.")
    return kv


def config_matches(spec: NodeSpec, cfg: Mapping[str, Any]) -> bool:
    for mode, kv in spec.when:
        for key, want in kv.items():
            have = cfg.get(key, _MISSING)
            if mode == "when" and have != want:
                return False
            if mode == "when_not" and have == want:
                return False
            if mode == "when_in" and have not in want:
                return False
            if mode == "when_not_in" and have in want:
                return False
    return True


_MISSING = object()

_CHECKS = {"data_type", "range", "values_in", "allow_nans", "allow_none", "max_fraction_nans"}


@_located
def check_output(importance: str = "warn", **checks: Any) -> Callable[[F], F]:
    """Validate a node's value after it runs: ``warn`` logs, ``fail`` fails the node."""
    if importance not in ("warn", "fail"):
        raise GraphError(f"@check_output importance must be 'warn' or 'fail', got {importance!r}.")
    unknown = set(checks) - _CHECKS
    if unknown:
        raise GraphError(f"@check_output does not know {sorted(unknown)}; use {sorted(_CHECKS)}.")
    if "range" in checks and (not isinstance(checks["range"], tuple) or len(checks["range"]) != 2):
        raise GraphError("@check_output range must be a (low, high) tuple.")

    def deco(fn: F) -> F:
        _require_function(fn, "check_output")
        spec_of(fn).checks.append({"importance": importance, **checks})
        return fn

    return deco
