"""Loading and saving data as nodes: ``load_from``/``save_to``, ``dataloader``/``datasaver`` and the
``to``/``from_`` specs of ``Driver.materialize`` (csv, parquet, json, pickle), as in Hamilton.

Why nodes: a loader is a node like any other, so its file is a recorded read (Ripple's audit hooks
version what a node opens) and editing the file re-runs exactly its readers; a saver is a node that
depends on what it writes and returns metadata about the file, so it re-runs when its input changes.
pandas is imported only when a DataFrame format runs.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.core.decorators import source, value
from engine.core.graph import EMPTY, Node, _copy, _extracted
from engine.core.modifiers import _attach, _params, _primary, _split, helper_node
from engine.errors import GraphError

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("csv", "parquet", "json", "pickle")


def _is_frame_type(t: Any) -> bool:
    name = getattr(t, "__name__", "") or str(t)
    return "DataFrame" in name


def read(fmt: str, path: Any, as_frame: bool = True, **kwargs: Any) -> Any:
    """Read ``path`` in ``fmt``; json gives a DataFrame only when one is wanted."""
    if fmt == "pickle":
        import pickle

        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - the user's own file, as Hamilton's loader
    if fmt == "json" and not as_frame:
        import json

        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    import pandas as pd

    reader = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[fmt]
    if fmt != "json":
        kwargs.setdefault("dtype_backend", "numpy_nullable")  # Hamilton's csv/parquet readers' default
    return reader(path, **kwargs)


def write(fmt: str, data: Any, path: Any, **kwargs: Any) -> dict[str, Any]:
    """Write ``data`` to ``path`` in ``fmt``; returns the file metadata a saver node produces."""
    if fmt == "pickle":
        import pickle

        with open(path, "wb") as fh:
            pickle.dump(data, fh)
    elif fmt == "json" and not hasattr(data, "to_json"):
        import json

        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, **kwargs)
    elif fmt == "csv":
        data.to_csv(path, **{"index": False, **kwargs})
    elif fmt == "parquet":
        data.to_parquet(path, **kwargs)
    else:
        data.to_json(path, **kwargs)
    st = os.stat(path)
    return {"path": os.fspath(path), "format": fmt, "size": st.st_size}


class _Loader:
    """A loader node's callable: picklable, named by format."""

    __slots__ = ("fmt", "as_frame")

    def __init__(self, fmt: str, as_frame: bool) -> None:
        self.fmt = fmt
        self.as_frame = as_frame

    def __call__(self, path: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        return read(self.fmt, path, self.as_frame, **kwargs), {"path": os.fspath(path), "format": self.fmt}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Loader, (self.fmt, self.as_frame))


class _Saver:
    __slots__ = ("fmt",)

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt

    def __call__(self, data: Any, path: Any, **kwargs: Any) -> dict[str, Any]:
        return write(self.fmt, data, path, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Saver, (self.fmt,))


def _format(fmt: str, what: str) -> str:
    if fmt not in FORMATS:
        raise GraphError(f"{what}.{fmt} is not a known format; use one of {', '.join(FORMATS)}.")
    return fmt


def _bound_node(name: str, call: Any, args: Mapping[str, Any], first: tuple[str, str] | None, like: Node,
                type_: Any, extra: str) -> Node:
    sources, literals = _split(args)
    deps = {p: s for p, s in sources.items()}
    if first is not None:
        deps = {first[0]: first[1], **deps}
    n = helper_node(name, call, deps, {}, like, type_=type_, extra=extra)
    n.fn = _Bound(call, literals) if literals else call
    n.literals = literals
    n.origin = like.origin
    n.file, n.line = like.file, like.line
    return n


class _Bound:
    __slots__ = ("fn", "bound")

    def __init__(self, fn: Any, bound: dict[str, Any]) -> None:
        self.fn = fn
        self.bound = bound

    def __call__(self, **kwargs: Any) -> Any:
        return self.fn(**kwargs, **self.bound)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Bound, (self.fn, self.bound))


@dataclass
class _LoadFrom:
    fmt: str
    args: dict[str, Any]
    inject: str | None

    def __call__(self, fn: F) -> F:
        if "path" not in self.args:
            raise GraphError(f"@load_from.{self.fmt} needs path=value(...) or path=source(...).")
        params = [p.name for p in _params(fn)]
        if self.inject is not None and self.inject not in params:
            raise GraphError(f"@load_from.{self.fmt}(inject_={self.inject!r}): {fn.__name__}() has no such parameter.")
        if self.inject is None and len(params) != 1:
            raise GraphError(f"@load_from.{self.fmt} on {fn.__name__}() with several parameters needs inject_=NAME.")
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        param = self.inject or _params(fn)[0].name
        out = list(nodes)
        for n in _primary(nodes, fn):
            wanted = n.param_types.get(param, EMPTY)
            as_frame = self.fmt != "json" or _is_frame_type(wanted)
            # as Hamilton: NODE.load_data.PARAM gives (data, metadata), NODE.select_data.PARAM the data
            loader = _bound_node(f"{n.name}.load_data.{param}", _Loader(self.fmt, as_frame), self.args, None, n,
                                 tuple, f"load_from:{self.fmt}")
            loader.tags["hamilton.data_loader"] = True
            select = _extracted(loader, f"{n.name}.select_data.{param}", wanted, "data")
            select.fn = _First()
            out[:0] = [loader, select]
            n.deps = {**n.deps, param: select.name}
        return out


@dataclass
class _SaveTo:
    fmt: str
    args: dict[str, Any]
    output_name: str | None

    def __call__(self, fn: F) -> F:
        if "path" not in self.args:
            raise GraphError(f"@save_to.{self.fmt} needs path=value(...) or path=source(...).")
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        out = list(nodes)
        for n in _primary(nodes, fn):
            saver = _bound_node(self.output_name or f"save.{n.name}", _Saver(self.fmt), self.args, ("data", n.name), n,
                                dict, f"save_to:{self.fmt}")
            saver.tags["hamilton.data_saver"] = True
            out.append(saver)
        return out


class _Family:
    """``load_from.csv(...)`` / ``save_to.parquet(...)``: one attribute per format."""

    def __init__(self, kind: str) -> None:
        self._kind = kind

    def __getattr__(self, fmt: str) -> Callable[..., Any]:
        if fmt.startswith("_"):
            raise AttributeError(fmt)
        _format(fmt, self._kind)

        def make(**kwargs: Any) -> Any:
            if self._kind == "load_from":
                inject = kwargs.pop("inject_", None)
                return _LoadFrom(fmt, kwargs, inject)
            name = kwargs.pop("output_name_", None)
            return _SaveTo(fmt, kwargs, name)

        return make


load_from = _Family("load_from")
save_to = _Family("save_to")


class dataloader:  # noqa: N801 - Hamilton's name
    """The function returns ``(data, metadata)``; the node is the data, ``NAME.loader`` the pair."""

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        out: list[Node] = []
        for n in nodes:
            if n not in _primary(nodes, fn):
                out.append(n)
                continue
            args = typing.get_args(n.type)
            pair = _copy(n, name=f"{n.name}.loader")
            pair.tags["hamilton.data_loader"] = True
            data = _extracted(pair, n.name, args[0] if args else Any, "data")
            data.fn = _First()
            data.version_extra = "dataloader"
            out += [pair, data]
        return out


class _First:
    """Picks the data out of a loader's ``(data, metadata)`` pair."""

    def __call__(self, parent: Any) -> Any:
        return parent[0]


class datasaver:  # noqa: N801 - Hamilton's name
    """The function saves its inputs and returns a metadata dict; tagged as a saver."""

    def __call__(self, fn: F) -> F:
        return _attach(fn, self)

    def apply(self, nodes: list[Node], fn: Callable[..., Any], cfg: Mapping[str, Any]) -> list[Node]:
        for n in _primary(nodes, fn):
            n.tags["hamilton.data_saver"] = True
        return nodes


# ------------------------------------------------------------------------------------- materialize
@dataclass
class Materializer:
    """One ``to.FMT(...)`` (save) or ``from_.FMT(...)`` (load) request of ``Driver.materialize``."""

    kind: str
    fmt: str
    args: dict[str, Any]
    id: str = ""
    target: str = ""
    dependencies: list[str] = field(default_factory=list)
    combine: Any = None

    def resolve(self, values: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in self.args.items():
            if isinstance(v, source):
                out[k] = values[v.name]
            else:
                out[k] = v.literal if isinstance(v, value) else v
        return out


class _Specs:
    def __init__(self, kind: str) -> None:
        self._kind = kind

    def __getattr__(self, fmt: str) -> Callable[..., Materializer]:
        if fmt.startswith("_"):
            raise AttributeError(fmt)
        _format(fmt, "to" if self._kind == "save" else "from_")

        def make(**kwargs: Any) -> Materializer:
            if self._kind == "save":
                deps = kwargs.pop("dependencies", None)
                ident = kwargs.pop("id", None)
                if not ident or not deps:
                    raise GraphError(f"to.{fmt}(...) needs id=NAME and dependencies=[nodes].")
                return Materializer("save", fmt, kwargs, id=ident, dependencies=[getattr(d, "__name__", d) for d in deps],
                                    combine=kwargs.pop("combine", None))
            target = kwargs.pop("target", None)
            if not target:
                raise GraphError(f"from_.{fmt}(...) needs target=NAME, the input or node it provides.")
            return Materializer("load", fmt, kwargs, id=target, target=target)

        return make


to = _Specs("save")
from_ = _Specs("load")
