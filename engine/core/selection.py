"""Node selection as dbt and Bazel users write it: ``--select`` and ``--exclude``.

A selection is a list of terms (one ``--select`` value may hold several, separated by spaces or
commas); the result is the union of what the terms match, minus the union of what the excluded
terms match. A term is

* ``NAME``: that node (``*`` and ``?`` glob: ``revenue_*``);
* ``tag:KEY=VALUE`` (nodes tagged so) or ``tag:KEY`` (nodes with that tag, any value);
* ``module:NAME``: nodes defined in module ``NAME``, given in full (``demo_pipeline.clean``) or by
  its last parts (``clean``);
* any of the above with ``+`` before it (also every ancestor: what it needs) and/or after it (also
  every descendant: what depends on it): ``+report``, ``sales+``, ``+tag:stage=model+``.

Pure: works on anything with ``nodes`` (name -> object with ``tags`` and ``module``), ``pred`` and
``succ`` (name -> neighbours), and ``order``, i.e. :class:`engine.core.graph.Graph`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine._text import did_you_mean, listing
from engine.errors import UsageError

SYNTAX = ("NAME, tag:KEY=VALUE, tag:KEY, module:NAME, with + before (and its ancestors) "
          "or after (and its descendants), e.g. +report, sales+, tag:stage=model")

_SPLIT = r"[\s,]+"  # compiled on first use (re caches it)


def hidden_hint(graph: Any, name: str) -> str:
    """`` (NAME is defined at ... but @config.when leaves it out ...; --config K=V enables it)`` for a
    node the config hides, else ``""``."""
    text = (getattr(graph, "hidden", None) or {}).get(name)
    return f" ({text})" if text else ""


def terms(specs: Iterable[str] | None) -> list[str]:
    """The terms of ``--select``/``--exclude`` values: each value split on spaces and commas."""
    out: list[str] = []
    for spec in specs or ():
        out.extend(t for t in re.split(_SPLIT, str(spec)) if t)
    return out


def _reach(starts: Iterable[str], adjacency: Mapping[str, Iterable[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(p for p in adjacency.get(n, ()) if p not in seen)
    return seen


def _module_matches(module: str, want: str) -> bool:
    return module == want or module.endswith("." + want) or fnmatch.fnmatchcase(module, want)


def _tag_matches(tags: Mapping[str, Any], key: str, value: str | None) -> bool:
    if key not in tags:
        return False
    if value is None:
        return True
    have = tags[key]
    if isinstance(have, list | tuple | set | frozenset):
        return any(str(v) == value for v in have)
    return str(have) == value


def _base(graph: Any, body: str, flag: str) -> set[str]:
    nodes = graph.nodes
    kind, sep, arg = body.partition(":")
    if sep and kind == "tag":
        key, eq, value = arg.partition("=")
        if not key:
            raise UsageError(f"{flag} {body!r}: give a tag as tag:KEY=VALUE or tag:KEY, e.g. tag:stage=model.")
        found = {n for n, node in nodes.items() if _tag_matches(getattr(node, "tags", {}) or {}, key, value if eq else None)}
        if not found:
            keys = sorted({k for node in nodes.values() for k in (getattr(node, "tags", {}) or {})})
            known = f"tags in use: {listing(keys)}" if keys else "no node has tags"
            raise UsageError(f"{flag} {body!r} matches no node{did_you_mean(key, keys) if key not in keys else ''}; "
                             f"{known}.")
        return found
    if sep and kind == "module":
        if not arg:
            raise UsageError(f"{flag} {body!r}: give a module, e.g. module:clean.")
        found = {n for n, node in nodes.items() if _module_matches(str(getattr(node, "module", "")), arg)}
        if not found:
            mods = sorted({str(getattr(node, "module", "")) for node in nodes.values()})
            raise UsageError(f"{flag} {body!r} matches no node{did_you_mean(arg, mods)}; modules: {listing(mods)}.")
        return found
    if sep:
        raise UsageError(f"{flag} {body!r}: unknown selector {kind!r}:{did_you_mean(kind, ('tag', 'module'))} "
                         f"write {SYNTAX}.")
    if any(c in body for c in "*?["):
        found = {n for n in nodes if fnmatch.fnmatchcase(n, body)}
        if not found:
            raise UsageError(f"{flag} {body!r} matches no node; nodes: {listing(nodes)}.")
        return found
    if body not in nodes:
        hint = hidden_hint(graph, body) or did_you_mean(body, nodes)
        raise UsageError(f"{flag} names unknown node {body!r}{hint}; nodes: {listing(nodes)}.")
    return {body}


def match(graph: Any, term: str, flag: str = "--select") -> set[str]:
    """The nodes one term selects (see the module docstring); an unknown name is a usage error."""
    body = term.strip()
    up = body.startswith("+")
    down = body.endswith("+") and len(body) > 1
    body = body[1 if up else 0: len(body) - 1 if down else len(body)]
    if not body:
        raise UsageError(f"{flag} {term!r} selects nothing; write {SYNTAX}.")
    found = _base(graph, body, flag)
    if up:
        found |= _reach(found, graph.pred)
    if down:
        found |= _reach(found, graph.succ)
    return found


def select(graph: Any, select: Sequence[str] | None = None, exclude: Sequence[str] | None = None) -> list[str]:
    """Selected node names in graph order: every node when ``select`` is empty, minus ``exclude``."""
    chosen: set[str] = set()
    picked = terms(select)
    if picked:
        for t in picked:
            chosen |= match(graph, t, "--select")
    else:
        chosen = set(graph.nodes)
    for t in terms(exclude):
        chosen -= match(graph, t, "--exclude")
    return [n for n in graph.order if n in chosen]


def requested(select_specs: Sequence[str] | None, exclude_specs: Sequence[str] | None) -> bool:
    """Whether either flag was given with at least one term."""
    return bool(terms(select_specs) or terms(exclude_specs))


def outputs_for(graph: Any, select_specs: Sequence[str] | None, exclude_specs: Sequence[str] | None) -> list[str]:
    """What a run of the selection computes: the selected nodes (their upstream comes along because
    they need it). An empty result is a usage error rather than a run of nothing."""
    names = select(graph, select_specs, exclude_specs)
    if not names:
        raise UsageError("--select/--exclude leave no node to run; loosen --exclude or widen --select.")
    return names
