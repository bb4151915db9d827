"""Data versions: collisions that peers shipped must be impossible here, and unhashable means None."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import os
import pickle
import subprocess
import sys
import threading
import time
import uuid
from collections import OrderedDict, namedtuple
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.caching import data_version as fpmod
from engine.caching.data_version import combine, fingerprint, fingerprint_bytes, register, try_fingerprint
from engine.files import MISSING_VERSION, File, FileVersions, file_version

ROOT = Path(__file__).resolve().parents[2]


def distinct(*values: object) -> None:
    fps = [fingerprint(v) for v in values]
    assert None not in fps, values
    assert len(set(fps)) == len(fps), [(v, f) for v, f in zip(values, fps)]


class Color(enum.Enum):
    RED = 1
    ONE = "1"


class Shade(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Point2:
    x: int
    y: int


NT = namedtuple("NT", "x y")


class Plain:
    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a: object, b: object) -> None:
        self.a, self.b = a, b


def test_shape() -> None:
    f = fingerprint({"a": [1, 2.5, "x"]})
    assert isinstance(f, str) and len(f) == 32 and int(f, 16) >= 0


def test_scalar_type_tags() -> None:
    distinct(1, "1", 1.0, True, b"1", bytearray(b"1"), None, "None", 0, False, 0.0, "", b"", -0.0, 1 + 0j,
             Decimal("1"), Fraction(1, 1), 2**70, -(2**70), "True")


def test_container_shapes() -> None:
    distinct([1, 2], (1, 2), {1, 2}, frozenset({1, 2}), [[1], 2], [1, [2]], ["ab"], ["a", "b"], [], (), {},
             set(), {"a": 1}, {"a": "1"}, [("a", 1)], range(3), [0, 1, 2], slice(1, 3), (1, 3))


def test_nested_string_boundaries() -> None:
    distinct(["ab", "c"], ["a", "bc"], ("a", "b", "c"), {"ab": "c"}, {"a": "bc"})


def test_dict_order_insensitive_list_order_sensitive() -> None:
    # a dict's insertion order is visible to dependents (list(d)), so it is part of its version
    assert fingerprint({"a": 1, "b": 2}) != fingerprint({"b": 2, "a": 1})
    assert fingerprint({1: "x", (2, 3): "y"}) != fingerprint({(2, 3): "y", 1: "x"})
    assert fingerprint({3, 1, 2}) == fingerprint({1, 2, 3})
    assert fingerprint({"a", 1, (2,)}) == fingerprint({(2,), "a", 1})
    assert fingerprint([1, 2]) != fingerprint([2, 1])
    assert fingerprint(OrderedDict(a=1, b=2)) != fingerprint(OrderedDict(b=2, a=1))


def test_dict_key_types_do_not_collide() -> None:
    distinct({1: "x"}, {True: "x"}, {"1": "x"}, {1.0: "x"})


def test_dict_key_plan_cache_is_type_safe() -> None:
    class S(enum.StrEnum):
        A = "a"

    assert fingerprint([{"a": 1}, {S.A: 1}]) != fingerprint([{"a": 1}, {"a": 1}])


def test_floats() -> None:
    assert fingerprint(float("nan")) == fingerprint(float("nan"))
    assert fingerprint([float("nan")]) == fingerprint([-float("nan")])
    distinct(0.1, 0.1 + 1e-16 * 2, float("inf"), float("-inf"), float("nan"))


def test_stdlib_values() -> None:
    utc = dt.UTC
    distinct(
        dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=utc),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.date(2024, 1, 1), dt.time(1, 2), dt.time(1, 2, tzinfo=utc), dt.timedelta(days=1), dt.timedelta(seconds=1),
        Decimal("1.0"), Decimal("1.00"), Fraction(1, 3), Fraction(2, 3),
        uuid.UUID(int=1), uuid.UUID(int=2), "2024-01-01",
    )
    assert fingerprint(dt.datetime(2024, 1, 1, 5)) == fingerprint(dt.datetime(2024, 1, 1, 5))


def test_enum_dataclass_namedtuple_objects() -> None:
    distinct(Color.RED, Shade.RED, 1, Color.ONE, "1")
    distinct(Point(1, 2), Point(2, 1), Point2(1, 2), NT(1, 2), (1, 2), {"x": 1, "y": 2})
    assert fingerprint(Point(1, 2)) == fingerprint(Point(1, 2))
    distinct(Plain(a=1), Plain(a=2), Plain(a=1, b=None), Slotted(1, 2), Slotted(2, 1))
    assert fingerprint(Plain(a=[1], b={"k": 2})) == fingerprint(Plain(b={"k": 2}, a=[1]))


def test_unhashable_values_are_none_even_nested() -> None:
    lock = threading.Lock()
    for value in (lambda: 1, len, print, (x for x in []), sys, lock, open(__file__, "rb")):
        fp, why = try_fingerprint(value)
        assert fp is None and why, value
        assert fingerprint([1, {"k": (value,)}]) is None
        assert fingerprint(Plain(inner=Plain(v=value))) is None
        assert fingerprint({"k": {"deeper": [value]}}) is None


def test_a_c_type_named_after_a_python_module_is_refused_not_hashed_as_empty() -> None:
    """``operator.itemgetter`` is a C heap type whose ``__module__`` is ``operator`` (a .py file):
    taken for a Python class, its state (the key) was never seen and every getter fingerprinted alike."""
    import operator

    for value in (operator.itemgetter("x"), operator.attrgetter("x"), operator.methodcaller("x", 1)):
        fp, why = try_fingerprint(value)
        assert fp is None and "C extension" in why, value
    distinct(Plain(a=1), Slotted(1, 2))  # classes made by a class statement are still objects


def test_depth_limit_makes_whole_value_unhashable() -> None:
    deep: list = []
    cur = deep
    for _ in range(fpmod.MAX_DEPTH + 5):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    assert fingerprint(deep) is None
    shallow = [[[1]]]
    assert fingerprint(shallow) is not None


def test_objects_differing_only_deep_down_differ() -> None:
    # Hamilton #1715: retrained models differing below depth 6 hashed alike.
    def nest(v: object, n: int) -> object:
        for _ in range(n):
            v = Plain(child=v)
        return v

    assert fingerprint(nest(1, 10)) != fingerprint(nest(2, 10))


def test_cycles_do_not_recurse_forever() -> None:
    a: list = [1]
    a.append(a)
    assert fingerprint(a) is None
    d: dict = {}
    d["self"] = d
    assert fingerprint(d) is None
    p = Plain()
    p.me = p
    assert fingerprint(p) is None
    shared = [1, 2]
    assert fingerprint([shared, shared]) == fingerprint([[1, 2], [1, 2]])  # a DAG is not a cycle


def test_extension_points() -> None:
    class Custom:
        def __init__(self, v: int) -> None:
            self.v = v

        def __ripple_fingerprint__(self) -> str:
            return f"custom:{self.v}"

    assert fingerprint(Custom(1)) == fingerprint(Custom(1)) != fingerprint(Custom(2))

    class Opaque:
        def __init__(self, tag: str) -> None:
            self.handle = threading.Lock()  # would make it unfingerprintable without the hook
            self.tag = tag

    register(Opaque, lambda o: o.tag)
    assert fingerprint(Opaque("a")) == fingerprint(Opaque("a")) != fingerprint(Opaque("b"))

    class Refuses:
        pass

    register(Refuses, lambda o: None)
    assert fingerprint([Refuses()]) is None


def test_public_helpers() -> None:
    assert fingerprint_bytes(b"abc") == fingerprint_bytes(b"abc") != fingerprint_bytes(b"abd")
    assert len(fingerprint_bytes(b"")) == 32
    assert combine("ab", "c") != combine("a", "bc")
    assert combine("a") != combine("a", "")
    assert combine("x", "y") == combine("x", "y")


# --------------------------------------------------------------------------------------------------
# numpy / pandas / pyarrow


def test_numpy_shape_dtype_layout() -> None:
    a = np.arange(6, dtype=np.int64)
    distinct(a, a.reshape(2, 3), a.reshape(3, 2), a.astype(np.int32), a.astype(np.float64), a.tolist(),
             np.asfortranarray(a.reshape(2, 3)), a.reshape(2, 3)[:, ::2])
    assert fingerprint(a) == fingerprint(np.arange(6, dtype=np.int64))
    b = a.copy()
    b[3] = 99
    assert fingerprint(a) != fingerprint(b)
    strided = np.arange(12).reshape(3, 4)[:, 1]
    assert fingerprint(np.arange(12).reshape(3, 4)[:, 1]) == fingerprint(strided)
    assert fingerprint(strided) != fingerprint(np.arange(12).reshape(3, 4)[:, 2])


def test_numpy_special_dtypes_and_scalars() -> None:
    distinct(np.array(["a", "b"]), np.array([b"a", b"b"]), np.array(["a", "b"], dtype=object),
             np.array([1, None, "a"], dtype=object), np.array([1, "1"], dtype=object))
    distinct(np.datetime64("2024-01-01"), np.datetime64("2024-01-02"), np.float64(1), np.float32(1), np.int64(1), 1.0, 1)
    assert fingerprint(np.array(["2024-01-01"], dtype="datetime64[ns]")) is not None
    rec = np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
    assert fingerprint(rec) is not None and fingerprint(rec) != fingerprint(np.array([(1, 2.0)], dtype=[("c", "i4"), ("b", "f8")]))
    assert fingerprint(np.array([lambda: 1], dtype=object)) is None
    m = np.ma.array([1, 2, 3], mask=[0, 1, 0])
    assert fingerprint(m) != fingerprint(np.ma.array([1, 2, 3], mask=[0, 0, 0]))


def test_pandas_frames() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert fingerprint(df) == fingerprint(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}))
    distinct(
        df,
        df.rename(columns={"a": "A"}),
        df.set_axis([10, 11]),
        df.astype({"a": "float32"}),
        df.assign(a=[1.0, 3.0]),
        df.assign(b=["x", "z"]),
        df.rename_axis("idx"),
        df[["b", "a"]],
        df.astype({"b": object}),
    )


def test_pandas_series_index_and_extension_types() -> None:
    s = pd.Series([1, 2, 3], name="s")
    distinct(s, s.rename("t"), s.astype("int32"), s.set_axis(["a", "b", "c"]), s.to_frame(), pd.Index([1, 2, 3]))
    cat = pd.Series(pd.Categorical(["a", "b", "a"]))
    distinct(cat, pd.Series(pd.Categorical(["a", "b", "a"], categories=["b", "a"])),
             pd.Series(pd.Categorical(["a", "b", "a"], ordered=True)), pd.Series(["a", "b", "a"]))
    ts = pd.Series(pd.date_range("2024-01-01", periods=3, tz="UTC"))
    distinct(ts, pd.Series(pd.date_range("2024-01-01", periods=3, tz="Europe/Paris")),
             pd.Series(pd.date_range("2024-01-01", periods=3)))
    distinct(pd.Series(pd.array([1, None, 3], dtype="Int64")), pd.Series(pd.array([1, 2, 3], dtype="Int64")))
    distinct(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-01", tz="UTC"),
             pd.Timedelta("1D"), pd.NaT, pd.NA, None)
    mi = pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    distinct(pd.Series([1, 2], index=mi), pd.Series([1, 2], index=mi.set_names(["k", "m"])))
    mixed = pd.Series([1, "1", None, 2.5], dtype=object)
    assert fingerprint(mixed) != fingerprint(pd.Series(["1", "1", None, 2.5], dtype=object))


def test_pyarrow() -> None:
    import pyarrow as pa
    t = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [[1], [2, 3], []]})
    assert fingerprint(t) == fingerprint(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [[1], [2, 3], []]}))
    distinct(t, t.rename_columns(["A", "b", "c"]), t.slice(1), t.slice(0, 2), t.column("a"), t.to_batches()[0])
    arr = pa.array([1, 2, 3, 4])
    distinct(arr.slice(0, 2), arr.slice(2, 2), pa.array([1, 2]).cast(pa.int32()))


def test_lazy_imports() -> None:
    code = ("import engine.caching.data_version, engine.files, sys; "
            "bad = [m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --------------------------------------------------------------------------------------------------
# files


def test_path_and_file_fingerprint_follow_content(tmp_path: Path) -> None:
    p = tmp_path / "data.csv"
    p.write_text("a,b\n1,2\n")
    before, before_file = fingerprint(p), fingerprint(File(p))
    assert before and before_file and before != before_file
    assert fingerprint(str(p)) != before
    p.write_text("a,b\n1,3\n")
    assert fingerprint(p) != before
    assert fingerprint(File(p)) != before_file
    assert fingerprint({"input": p}) == fingerprint({"input": Path(p)})
    missing = tmp_path / "nope.csv"
    assert fingerprint(missing) is not None and fingerprint(missing) != fingerprint(tmp_path / "nope2.csv")


def test_missing_then_created(tmp_path: Path) -> None:
    p = tmp_path / "later.txt"
    a = fingerprint(p)
    p.write_text("")
    assert fingerprint(p) != a


def test_file_type() -> None:
    f = File("data/x.csv")
    assert isinstance(f, os.PathLike) and os.fspath(f) == "data/x.csv" and f.path == Path("data/x.csv")
    assert f == File(Path("data/x.csv")) and f != File("data/y.csv") and hash(f) == hash(File("data/x.csv"))
    assert pickle.loads(pickle.dumps(f)) == f
    assert repr(f) == "File('data/x.csv')"


def test_file_version_and_directories(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_bytes(b"hello")
    (tmp_path / "d" / "sub" / "b.txt").write_bytes(b"world")
    assert file_version(tmp_path / "d" / "a.txt") == fingerprint_bytes(b"hello")
    v1 = file_version(tmp_path / "d")
    (tmp_path / "d" / "sub" / "b.txt").write_bytes(b"World")
    v2 = file_version(tmp_path / "d")
    (tmp_path / "d" / "sub" / "b.txt").rename(tmp_path / "d" / "sub" / "c.txt")
    v3 = file_version(tmp_path / "d")
    assert len({v1, v2, v3}) == 3
    assert file_version(tmp_path / "absent") == MISSING_VERSION
    big = tmp_path / "big.bin"
    data = os.urandom(3 * (1 << 20) + 17)
    big.write_bytes(data)
    assert file_version(big) == fingerprint_bytes(data)


def test_file_versions_memo_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "f.txt"
    p.write_text("one")
    old = time.time_ns() - 10_000_000_000
    os.utime(p, ns=(old, old))
    memo: dict[str, str] = {}
    fv = FileVersions(memo)
    v1 = fv.version(p)
    assert v1 == file_version(p) and all(isinstance(v, str) for v in memo.values())
    import engine.files as files_mod

    calls = []
    real = files_mod._hash_file
    monkeypatch.setattr(files_mod, "_hash_file", lambda path: calls.append(path) or real(path))
    assert FileVersions(memo).version(p) == v1
    assert calls == []  # same signature, old mtime: trusted
    # Same size and *restored* mtime after a content change: ctime betrays it.
    p.write_text("two")
    os.utime(p, ns=(old, old))
    assert FileVersions(memo).version(p) != v1
    assert calls


def test_file_versions_rehashes_racy_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "f.txt"
    p.write_text("one")
    memo: dict[str, str] = {}
    FileVersions(memo).version(p)
    import engine.files as files_mod

    calls = []
    real = files_mod._hash_file
    monkeypatch.setattr(files_mod, "_hash_file", lambda path: calls.append(path) or real(path))
    FileVersions(memo).version(p)
    assert calls, "a file modified within the racy window must be re-hashed"
    assert FileVersions(memo).version(tmp_path / "missing") == MISSING_VERSION


def test_file_version_hook(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("a")
    seen = []
    fp = fingerprint([p], file_version=lambda path: seen.append(path) or "fixed")
    assert seen == [p] and fp == fingerprint([p], file_version=lambda path: "fixed")
    assert fp != fingerprint([p], file_version=lambda path: "other")


# --------------------------------------------------------------------------------------------------
# adversarial data cases (regression guards) and the code_ref hook


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: int
    b: tuple = ()


def test_adversarial_scalars_and_containers() -> None:
    distinct(b"ab", bytearray(b"ab"), memoryview(b"ab"), "ab")
    distinct(2**63, 2**63 - 1, -(2**63) - 1, 2**64, 2**200, 2**200 + 1)
    distinct(Decimal("1"), Decimal("1.0"), Decimal("1.00"), 1, 1.0)
    distinct({1: "a"}, {1.0: "a"}, {True: "a"}, {"1": "a"}, {(1,): "a"})
    assert fingerprint({1: "a", (1, 2): "b"}) != fingerprint({(1, 2): "b", 1: "a"})  # insertion order counts
    assert fingerprint({(1, 2), (3, 4)}) == fingerprint({(3, 4), (1, 2)})
    distinct({(1, 2)}, {(2, 1)}, frozenset({(1, 2)}), [(1, 2)])
    assert fingerprint(Frozen(1, (2,))) == fingerprint(Frozen(1, (2,)))
    distinct(Frozen(1), Frozen(2), Frozen(1, (1,)), Point(1, 0))
    # Floats: NaN is one value whatever its payload; -0.0 is kept apart from 0.0 (1/x tells them
    # apart), the same way for Python floats, numpy arrays and object columns.
    assert fingerprint(float("nan")) == fingerprint(-float("nan"))
    distinct(0.0, -0.0)


def test_adversarial_numpy_pandas() -> None:
    distinct(np.array([0.0]), np.array([-0.0]))
    distinct(np.datetime64("2020-01-01", "D"), np.datetime64("2020-01-01", "s"), np.datetime64("2020-01-02", "D"))
    distinct(np.array(["2020-01-01"], dtype="datetime64[D]"), np.array(["2020-01-01"], dtype="datetime64[s]"))
    # Object columns with mixed types: 1, "1", 1.0, True and None are all different values.
    distinct(pd.Series([1, "x"], dtype=object), pd.Series(["1", "x"], dtype=object),
             pd.Series([1.0, "x"], dtype=object), pd.Series([True, "x"], dtype=object),
             pd.Series([None, "x"], dtype=object))
    a = pd.DataFrame({"a": [1, "1", 1.5, None]})
    assert fingerprint(a) == fingerprint(pd.DataFrame({"a": [1, "1", 1.5, None]}))
    assert fingerprint(a) != fingerprint(pd.DataFrame({"a": ["1", 1, 1.5, None]}))


def test_too_deep_is_none_never_a_placeholder() -> None:
    deep: list = []
    for _ in range(fpmod.MAX_DEPTH + 3):
        deep = [deep]
    t: tuple = (1,)
    for _ in range(fpmod.MAX_DEPTH + 3):
        t = (t,)
    for value in ([1, deep], {"k": deep}, {1.5: deep}, {t}, frozenset([t]), Frozen(1, t), Plain(x=deep)):
        assert fingerprint(value) is None, type(value)
    assert fingerprint(np.array([deep, 1], dtype=object)) is None
    assert fingerprint(pd.Series([deep, 1], dtype=object)) is None


def _f1(x: int) -> int:
    return x


def _f2(x: int) -> int:
    return x


def test_code_ref_hook_names_code_inside_values() -> None:
    seen: list[object] = []

    def ref(obj: object) -> str | None:
        if callable(obj) and not isinstance(obj, type):
            seen.append(obj)
            return getattr(obj, "__name__", "?")
        return None

    assert fingerprint({"a": _f1}) is None  # without the hook functions are not data
    one = fingerprint({"a": _f1, "b": [Point(1, 2)]}, code_ref=ref)
    two = fingerprint({"a": _f2, "b": [Point(1, 2)]}, code_ref=ref)
    assert one is not None and two is not None and one != two
    assert seen == [_f1, _f2]
    # Sets of functions are order-insensitive (hashed by per-item digests).
    assert fingerprint({_f1, _f2}, code_ref=ref) == fingerprint({_f2, _f1}, code_ref=ref)
    # Classes go through the hook when it answers, by name otherwise; a hook returning None for
    # a function keeps the value unfingerprintable.
    assert fingerprint([int], code_ref=lambda o: "X") != fingerprint([int])
    assert fingerprint([_f1], code_ref=lambda o: None) is None
    # A code name can never collide with a string holding the same text.
    assert fingerprint([_f1], code_ref=lambda o: "f") != fingerprint(["f"])


def test_directory_version_follows_symlinked_dirs_without_looping(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("1")
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("a")
    os.symlink(outside, d / "linked")
    os.symlink(d, d / "loop")  # a link back to an ancestor must not recurse
    v1 = file_version(d)
    assert FileVersions().version(d) == v1
    (outside / "x.txt").write_text("2")
    v2 = file_version(d)
    assert v2 != v1
    assert FileVersions().version(d) == v2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_are_not_read(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("a")
    os.mkfifo(d / "pipe")  # reading it would block forever
    assert file_version(d) == FileVersions().version(d)
    assert file_version(d / "pipe") not in (MISSING_VERSION, file_version(d / "a.txt"))
