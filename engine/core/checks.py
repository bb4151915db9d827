"""``@check_output`` validators, applied to a node's value right after it runs."""

from __future__ import annotations

import math
from typing import Any

from engine._log import log
from engine.core.graph import Node


class DataValidationError(ValueError):
    """A ``@check_output(importance="fail")`` validator rejected a node's value."""


def _values(value: Any) -> list[Any]:
    if hasattr(value, "tolist"):
        flat = value.tolist()
        return flat if isinstance(flat, list) else [flat]
    if isinstance(value, list | tuple | set):
        return list(value)
    return [value]


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v) or v is None


def _problems(check: dict[str, Any], value: Any) -> list[str]:
    out = []
    if "allow_none" in check and not check["allow_none"] and value is None:
        out.append("value is None")
    if "data_type" in check:
        want = check["data_type"]
        dtype = getattr(value, "dtype", None)
        if dtype is not None:
            import numpy as np

            if not np.issubdtype(dtype, want):
                out.append(f"dtype {dtype} is not {want}")
        elif isinstance(want, type) and not isinstance(value, want):
            out.append(f"type {type(value).__name__} is not {want.__name__}")
    items = None
    if any(k in check for k in ("range", "values_in", "allow_nans", "max_fraction_nans")):
        items = _values(value)
    if items is not None:
        nans = sum(1 for v in items if _is_nan(v))
        if check.get("allow_nans") is False and nans:
            out.append(f"{nans} NaN values")
        if "max_fraction_nans" in check and items and nans / len(items) > check["max_fraction_nans"]:
            out.append(f"{nans / len(items):.1%} NaN values (max {check['max_fraction_nans']:.1%})")
        if "range" in check:
            lo, hi = check["range"]
            bad = [v for v in items if not _is_nan(v) and not lo <= v <= hi]
            if bad:
                out.append(f"{len(bad)} values outside [{lo}, {hi}], e.g. {bad[0]!r}")
        if "values_in" in check:
            allowed = set(check["values_in"])
            bad = [v for v in items if v not in allowed]
            if bad:
                out.append(f"{len(bad)} values not in {sorted(allowed, key=repr)}, e.g. {bad[0]!r}")
    return out


def run_checks(node: Node, value: Any) -> None:
    check_value(node.name, node.location, node.checks, value)


class Checked:
    """A node function followed by its ``@check_output`` validators, picklable, so per-item nodes
    run in worker threads or processes are validated like the in-process ones."""

    __slots__ = ("fn", "name", "location", "checks")

    def __init__(self, fn: Any, node: Node) -> None:
        self.fn, self.name, self.location, self.checks = fn, node.name, node.location, node.checks

    def __call__(self, **kwargs: Any) -> Any:
        value = self.fn(**kwargs)
        check_value(self.name, self.location, self.checks, value)
        return value

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.fn, self.name, self.location, self.checks)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.fn, self.name, self.location, self.checks = state


def check_value(name: str, location: str, checks: list[dict[str, Any]], value: Any) -> None:
    for check in checks:
        problems = _problems(check, value)
        if not problems:
            continue
        message = f"check_output on {name} ({location}): " + "; ".join(problems)
        if check["importance"] == "fail":
            raise DataValidationError(message)
        log.warning(message)
