"""What Hamilton run scripts pass to a driver and get back, without Hamilton: output names given as
functions or Variables, tag filters, result builders (a dict, or one DataFrame as Hamilton's
``driver.Driver`` returns by default) and Hamilton's local executors mapped to Ripple's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.errors import UsageError


def output_names(final_vars: Iterable[Any]) -> list[str]:
    """Names from what Hamilton scripts pass as outputs: names, node functions or Variables."""
    if isinstance(final_vars, str):
        raise UsageError("final_vars must be a list of names, e.g. ['report'].")
    out = []
    for v in final_vars:
        if isinstance(getattr(v, "name", None), str) and hasattr(v, "is_external_input"):
            out.append(v.name)  # a Variable
        elif callable(v) and hasattr(v, "__name__"):
            name = v.__name__
            out.append(name[: name.rindex("__")] if "__" in name.strip("_") else name)
        else:
            out.append(v)
    return out


def given_items(items: Any) -> list[Any]:
    return list(items)


def tag_matches(tags: Mapping[str, Any], key: str, want: Any) -> bool:
    if key not in tags:
        return False
    have = tags[key]
    if want is None:
        return True
    haves = have if isinstance(have, list | tuple) else [have]
    wants = want if isinstance(want, list | tuple) else [want]
    return any(h in wants for h in haves)


class DictResult:
    """A result builder returning ``{name: value}`` (Hamilton's ``base.DictResult``)."""

    @staticmethod
    def build_result(**outputs: Any) -> dict[str, Any]:
        return outputs


class PandasDataFrameResult:
    """A result builder returning one DataFrame (Hamilton's ``base.PandasDataFrameResult``): Series
    and frames become columns, scalars are broadcast; only scalars give a one-row frame."""

    @staticmethod
    def build_result(**outputs: Any) -> Any:
        import pandas as pd

        shaped = {k: v for k, v in outputs.items() if isinstance(v, pd.Series | pd.DataFrame)}
        if not shaped:
            return pd.DataFrame([outputs])
        parts = [v.rename(k) if isinstance(v, pd.Series) else v for k, v in shaped.items()]
        frame = pd.concat(parts, axis=1)
        for k, v in outputs.items():
            if k not in shaped:
                frame[k] = v
        return frame


def result_builder_of(adapter: Any) -> Any:
    """The one result builder among Hamilton-style ``adapter``s; anything else is refused by name."""
    builder = None
    for a in adapter if isinstance(adapter, list | tuple) else ([adapter] if adapter is not None else []):
        if callable(getattr(a, "build_result", None)) and not hasattr(a, "execute_node"):
            builder = a
        else:
            raise UsageError(f"adapter {type(a).__module__}.{type(a).__qualname__} is not supported by Ripple; "
                             "pass a result builder (DictResult, PandasDataFrameResult) or use dr.add_listener(...) "
                             "for hooks.")
    return builder


def ripple_executor(executor: Any) -> Any:
    kind = type(executor).__name__
    if kind == "SynchronousLocalTaskExecutor":
        return "sequential"
    if kind in ("MultiThreadingExecutor", "MultiProcessingExecutor"):
        pool = getattr(executor, "pool", None)
        n = getattr(executor, "max_tasks", None) or getattr(pool, "_max_workers", None)
        return ("threads" if kind == "MultiThreadingExecutor" else "processes") + (f":{n}" if n else "")
    return executor
