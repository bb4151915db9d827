"""The engine's records keep a dataclass's ``repr`` and ``==`` while inheriting them from
``engine._records`` instead of compiling them per class (``@dataclass(repr=False, eq=False)``)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from engine import event_types
from engine._records import Record, ValueRecord
from engine.caching.code_version import CodeVersion
from engine.caching.decisions import CacheStats, Decision
from engine.caching.explain import Previous
from engine.core.graph import External, Node
from engine.core.loading import Pipeline
from engine.core.plan import FanOut, Plan, Step
from engine.core.run_records import NodeRecord, RunResult
from engine.make import CommandLinePipeline
from engine.settings import StoreSettings
from engine.store.keys import StoreKey
from engine.store.records import Entry

#: the records every command loads (a warm run, ``ripple run``, the watch child)
RECORDS = [Node, External, Pipeline, Step, FanOut, Plan, NodeRecord, RunResult, StoreSettings, StoreKey, Entry,
           CodeVersion, Decision, CacheStats, Previous, CommandLinePipeline,
           *(c for c in vars(event_types).values() if isinstance(c, type) and issubclass(c, event_types.Event))]


def _generated(cls: type) -> type:
    """The same fields as a plain ``@dataclass`` (generated ``repr`` and ``==``)."""
    return dataclasses.make_dataclass(cls.__name__, [
        (f.name, object, dataclasses.field(repr=f.repr, compare=f.compare)) for f in dataclasses.fields(cls)])


def _values(cls: type, seed: int) -> dict[str, object]:
    return {f.name: [f"{f.name}-{seed}", seed, (seed, f.name), {f.name: seed}][i % 4]
            for i, f in enumerate(dataclasses.fields(cls))}


def _bare(cls: type, values: dict[str, object]) -> object:
    """An instance holding ``values`` whatever its ``__init__`` derives (frozen ones included)."""
    obj = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(obj, name, value)
    return obj


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_a_record_inherits_the_shared_methods_and_shows_and_compares_as_its_dataclass_would(cls: type) -> None:
    assert dataclasses.is_dataclass(cls)
    assert "__repr__" not in vars(cls) and cls.__repr__ is Record.__repr__
    plain = _generated(cls)
    values = _values(cls, 1)
    if cls is Entry:  # its JSON fields hold dicts (set through their descriptor)
        values.update(deps={"up": "dv"}, code_parts={}, files={"data.csv": "v1"})
    assert repr(_bare(cls, values)) == repr(plain(**values))
    if issubclass(cls, ValueRecord):
        assert "__eq__" not in vars(cls) and cls.__hash__ is None
        same, other = _bare(cls, dict(values)), _bare(cls, _values(cls, 2))
        assert (_bare(cls, values) == same) is (plain(**values) == plain(**values)) is True
        assert (_bare(cls, values) == other) is (plain(**values) == plain(**_values(cls, 2))) is False
        assert _bare(cls, values) != plain(**values)  # another class: never equal, as generated


@dataclasses.dataclass(repr=False, eq=False)
class _Shared(ValueRecord):
    a: float
    b: object = None
    hidden: int = dataclasses.field(default=0, repr=False)
    loose: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass
class _Plain:
    a: float
    b: object = None
    hidden: int = dataclasses.field(default=0, repr=False)
    loose: int = dataclasses.field(default=0, compare=False)


def test_the_shared_repr_and_eq_match_generated_ones_at_their_edges() -> None:
    nan = math.nan
    shared, plain = _Shared(nan, hidden=3, loose=1), _Plain(nan, hidden=3, loose=1)
    assert repr(shared).replace("_Shared", "_Plain") == repr(plain) == "_Plain(a=nan, b=None, loose=1)"
    # the same NaN object is equal to itself inside a tuple: the generated __eq__ compares tuples
    assert (shared == _Shared(nan, hidden=3, loose=2)) is (plain == _Plain(nan, hidden=3, loose=2)) is True
    assert (shared == _Shared(float("nan"))) is (plain == _Plain(float("nan"))) is False
    assert (shared == _Shared(nan, hidden=4)) is (plain == _Plain(nan, hidden=4)) is False
    loop, plain_loop = _Shared(1.0), _Plain(1.0)
    loop.b, plain_loop.b = loop, plain_loop
    assert repr(loop).replace("_Shared", "_Plain") == repr(plain_loop) == "_Plain(a=1.0, b=..., loose=0)"
    with pytest.raises(TypeError):
        hash(shared)


def test_a_run_compares_no_records(tmp_path, monkeypatch) -> None:
    """The shared ``==`` is slower per call than a generated one; a run, cold or warm, never calls it."""
    import engine

    (tmp_path / "compared_pipeline.py").write_text(
        "def a() -> int:\n    return 1\n\n\ndef b(a: int, x: int = 2) -> int:\n    return a + x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import compared_pipeline

    def never(self: object, other: object) -> bool:
        raise AssertionError(f"{type(self).__name__} compared during a run")

    monkeypatch.setattr(ValueRecord, "__eq__", never)
    for _ in range(2):
        dr = engine.Driver({}, compared_pipeline).with_cache(tmp_path / "store")
        assert dr.execute(["b"]) == {"b": 3}
