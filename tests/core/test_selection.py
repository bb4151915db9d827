"""engine.core.selection on its own: --select/--exclude terms against a graph."""

from __future__ import annotations

import types

import pytest

from engine import Driver
from engine.core import selection
from engine.core.decorators import tag
from engine.errors import UsageError


def _graph():
    m = types.ModuleType("shop_clean")

    @tag(stage="ingest", owner="data-eng")
    def raw(path: str) -> int:
        return 1

    @tag(stage="clean")
    def clean(raw: int) -> int:
        return raw

    def other(path: str) -> int:
        return 2

    m.raw, m.clean, m.other = raw, clean, other
    for f in (raw, clean, other):
        f.__module__ = "shop_clean"
    r = types.ModuleType("shop.report")

    def report(clean: int, other: int) -> str:
        return "r"

    def extra(report: str) -> str:
        return report

    report.__module__ = extra.__module__ = "shop.report"
    r.report, r.extra = report, extra
    return Driver({}, m, r).graph


@pytest.fixture(scope="module")
def g():
    return _graph()


def test_names_and_union(g):
    assert selection.select(g, ["clean"]) == ["clean"]
    assert selection.select(g, ["clean,other"]) == ["clean", "other"]
    assert selection.select(g, ["clean other"]) == ["clean", "other"]
    assert selection.select(g, ["clean", "extra"]) == ["clean", "extra"]


def test_ancestors_and_descendants(g):
    assert set(selection.select(g, ["+report"])) == {"raw", "clean", "other", "report"}
    assert set(selection.select(g, ["clean+"])) == {"clean", "report", "extra"}
    assert set(selection.select(g, ["+clean+"])) == {"raw", "clean", "report", "extra"}


def test_tags_and_modules(g):
    assert selection.select(g, ["tag:stage=ingest"]) == ["raw"]
    assert selection.select(g, ["tag:stage"]) == [n for n in g.order if n in {"raw", "clean"}]
    assert set(selection.select(g, ["module:report"])) == {"report", "extra"}
    assert set(selection.select(g, ["module:shop.report"])) == {"report", "extra"}
    assert set(selection.select(g, ["tag:stage=clean+"])) == {"clean", "report", "extra"}


def test_exclude_and_default_everything(g):
    assert set(selection.select(g, None, ["extra"])) == set(g.nodes) - {"extra"}
    assert set(selection.select(g, ["+report"], ["tag:stage=ingest"])) == {"clean", "other", "report"}
    assert selection.select(g, ["r*"]) == [n for n in g.order if n in {"raw", "report"}]


def test_order_is_graph_order(g):
    assert selection.select(g, ["extra", "raw"]) == [n for n in g.order if n in {"raw", "extra"}]


def test_errors_name_the_problem(g):
    with pytest.raises(UsageError, match="did you mean 'clean'"):
        selection.select(g, ["claen"])
    with pytest.raises(UsageError, match="--exclude names unknown node"):
        selection.select(g, None, ["nope"])
    with pytest.raises(UsageError, match="tags in use: .*stage"):
        selection.select(g, ["tag:stgae=x"])
    with pytest.raises(UsageError, match="unknown selector 'tga'"):
        selection.select(g, ["tga:stage=x"])
    with pytest.raises(UsageError, match="modules:"):
        selection.select(g, ["module:nowhere"])
    with pytest.raises(UsageError, match="selects nothing"):
        selection.select(g, ["+"])
    with pytest.raises(UsageError, match="leave no node"):
        selection.outputs_for(g, ["raw"], ["raw"])


def test_requested_and_terms():
    assert not selection.requested(None, [])
    assert not selection.requested([" , "], None)
    assert selection.requested(["a"], None)
    assert selection.terms(["a,b  c", "d"]) == ["a", "b", "c", "d"]
