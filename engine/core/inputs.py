from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine._json import loads as json_loads
from engine._text import did_you_mean, listing
from engine.errors import UsageError


def parse_value(text: str, annotation: Any = None) -> Any:
    """A command-line value typed by the parameter's annotation, else as a JSON literal, else text."""
    from pathlib import PurePath

    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise UsageError(f"{text!r} is not a boolean; use true or false.")
        if issubclass(annotation, int | float):
            try:
                return annotation(text)
            except ValueError:
                raise UsageError(f"{text!r} is not a valid {annotation.__name__}.") from None
        if issubclass(annotation, str):
            return text
        if issubclass(annotation, PurePath):
            return Path(text)
        if annotation.__name__ == "File":
            return annotation(text)
    try:
        return json_loads(text)
    except ValueError:
        return text


def typed_value(flag: str, name: str, text: str, annotation: Any) -> Any:
    try:
        return parse_value(text, annotation)
    except UsageError as exc:
        msg = exc.message.rstrip(".")
        hint = "" if ";" in msg else f"; give a {getattr(annotation, '__name__', 'valid')} value"
        raise UsageError(f"--{flag} {name}: {msg}{hint}.") from None


def typed_inputs(driver: Any, raw: dict[str, str]) -> dict[str, Any]:
    """``--input`` values typed by their annotation; a name that is not an input of the graph is an error."""
    graph = driver.graph
    externals = graph.externals
    for name in raw:
        if name in externals:
            continue
        where = pipeline_label(driver)
        if name in graph.nodes:
            node = graph.nodes[name]
            raise UsageError(
                f"--input {name}: {name} is a node computed by {where} ({node.location}), not an input; "
                f"inputs are: {listing(externals)}."
            )
        raise UsageError(
            f"--input {name}: {where} has no input named {name!r}{did_you_mean(name, externals)}; "
            f"inputs are: {listing(externals)} (config keys go in --config)."
        )
    return {k: typed_value("input", k, v, externals[k].type) for k, v in raw.items()}


def resolve_outputs(driver: Any, spec: str | None, *, allow_inputs: bool = True) -> list[str]:
    if spec is not None:
        names = [o.strip() for o in spec.split(",") if o.strip()]
        if not names:
            raise UsageError(f"--outputs {spec!r} names no node; give e.g. --outputs a,b "
                             f"or leave it out to compute every final node.")
        check_known_names(driver, names, "--outputs", allow_inputs=allow_inputs)
        return list(dict.fromkeys(names))
    g = driver.graph
    return [n for n in g.order if not g.succ[n]]


def check_known_names(driver: Any, names: Sequence[str], flag: str, *, allow_inputs: bool = True) -> None:
    graph = driver.graph
    options = set(graph.nodes) | (set(graph.externals) if allow_inputs else set())
    what = "output" if flag == "--outputs" else "node"
    from engine.core.selection import hidden_hint

    for name in names:
        if name not in options:
            raise UsageError(
                f"{flag} names unknown {what} {name!r}{hidden_hint(graph, name) or did_you_mean(name, options)}: "
                f"{pipeline_label(driver)} "
                f"has no such node; list the nodes with `ripple graph {pipeline_arg(driver)}`."
            )


def pipeline_label(driver: Any) -> str:
    return f"pipeline {getattr(driver, 'pipeline_name', '') or 'the pipeline'}"


def pipeline_arg(driver: Any) -> str:
    return str(getattr(driver, "_cli_pipeline", None) or getattr(driver, "pipeline_name", "PIPELINE"))
