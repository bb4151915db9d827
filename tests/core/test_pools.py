"""Thread and process pools: dependencies, ``max_workers``, and fan-out items cached per item exactly
as the sequential executor caches them; a 10,000-item fan-out runs in batches."""

from __future__ import annotations

import os
import re
import textwrap
import threading
from concurrent import futures as cf

import pytest

from engine import Driver
from engine.core.pool import ThreadExecutor

FANOUT = """
from engine import Collect, Parallelizable

def words(text: str) -> Parallelizable[str]:
    yield from text.split()

def shout(words: str, suffix: str = "!") -> str:
    return words.upper() + suffix

def length(shout: str) -> int:
    if shout == "BOOM!":
        raise ValueError("boom is not a word")
    return len(shout)

def total(length: Collect[int]) -> int:
    return sum(length)

def joined(shout: Collect[str]) -> str:
    return " ".join(shout)
"""

POOLS = ["threads", "processes:2"]


def _run(mod, executor, cache, text):
    dr = Driver({}, mod, executor=executor).with_cache(cache)
    try:
        result = dr.run(["total", "joined"], inputs={"text": text})
    finally:
        dr.cache.close()
    return result


def _summary(result):
    """Status and why per node, without the run ids a why may cite (each store has its own)."""
    return {name: (r.status, re.sub(r" \(since run \w+\)", "", r.why)) for name, r in result.records.items()
            if name in ("words", "shout", "length", "total", "joined")}


@pytest.mark.parametrize("executor", POOLS)
def test_fanout_items_are_cached_per_item_as_sequentially(make_module, tmp_path, executor):
    mod = make_module(FANOUT)
    texts = ["a bb ccc", "a bb ccc", "a bb cccc dd"]
    for text in texts:  # the same three runs on each executor, each with its own store
        seq = _run(mod, "sequential", tmp_path / "seq", text)
        pool = _run(mod, executor, tmp_path / "pool", text)
        assert pool.outputs == seq.outputs
        assert _summary(pool) == _summary(seq)
    # the last run: two items unchanged, one changed, one new
    assert _summary(pool)["shout"] == ("ran", "2 of 4 items ran")
    again = _run(mod, executor, tmp_path / "pool", texts[-1])
    assert again.records["shout"].status == again.records["length"].status == "cached"
    assert again.records["length"].why == "all 4 items cached"
    assert again.records["total"].status == "cached"


@pytest.mark.parametrize("executor", POOLS)
def test_failing_item_matches_sequential_and_the_rest_is_cached(make_module, tmp_path, executor):
    mod = make_module(FANOUT)
    seq = _run(mod, "sequential", tmp_path / "seq", "a boom cc")
    pool = _run(mod, executor, tmp_path / "pool", "a boom cc")
    assert _summary(pool) == _summary(seq)
    assert pool.records["length"].status == "failed" and "item 1: boom is not a word" in pool.records["length"].error
    assert pool.records["total"].status == "skipped"
    fixed = _run(mod, executor, tmp_path / "pool", "a cc")
    assert fixed.outputs == {"total": 5, "joined": "A! CC!"}
    assert fixed.records["shout"].why == "all 2 items cached"  # computed (and stored) in the failed run


def test_threads_honour_max_workers(make_module):
    mod = make_module(textwrap.dedent("""
        import threading

        def _who() -> str:
            return threading.current_thread().name

    """) + "".join(f"def n{i}() -> str:\n    return _who()\n\n" for i in range(8)))
    dr = Driver({}, mod, executor="threads:2")
    out = dr.execute([f"n{i}" for i in range(8)])
    assert len(set(out.values())) <= 2


def test_processes_honour_max_workers_and_dependencies(make_module):
    mod = make_module(textwrap.dedent("""
        import os

        def a() -> int:
            return os.getpid()

        def b(a: int) -> list:
            return [a, os.getpid()]

    """) + "".join(f"def p{i}(b: list) -> list:\n    return b + [os.getpid()]\n\n" for i in range(6)))
    dr = Driver({}, mod, executor="processes:2")
    out = dr.execute([f"p{i}" for i in range(6)])
    pids = {pid for v in out.values() for pid in v}
    assert len(pids) <= 2 and os.getpid() not in pids
    assert all(v[:2] == out["p0"][:2] for v in out.values())  # every dependent saw the one b


class _CountingThreads(ThreadExecutor):
    """A real thread pool that counts what is submitted to it."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.submitted = 0
        self.lock = threading.Lock()

    def pool(self) -> cf.Executor:
        pool = super().pool()
        submit = pool.submit
        outer = self

        def counted(*args, **kwargs):
            with outer.lock:
                outer.submitted += 1
            return submit(*args, **kwargs)

        pool.submit = counted  # type: ignore[method-assign]
        return pool


def test_ten_thousand_items_run_in_batches_and_hit_after(make_module, tmp_path):
    mod = make_module("""
        from engine import Collect, Parallelizable

        def item(n: int) -> Parallelizable[int]:
            yield from range(n)

        def plus_one(item: int) -> int:
            return item + 1

        def total(plus_one: Collect[int]) -> int:
            return sum(plus_one)
    """)
    ex = _CountingThreads(2)
    dr = Driver({}, mod, executor=ex).with_cache(tmp_path / "c")
    assert dr.execute(["total"], inputs={"n": 10_000}) == {"total": 50_005_000}
    assert ex.submitted <= 2 + 2 * 4  # expander, a few batches per worker, collector: not 10,000 tasks
    ex.submitted = 0
    again = dr.run(["total"], inputs={"n": 10_000})
    assert again.records["plus_one"].why == "all 10000 items cached"
    assert ex.submitted == 0  # hits never become tasks
    dr.cache.close()


@pytest.mark.parametrize("executor", ["sequential", *POOLS])
def test_a_failing_expander_skips_its_block_and_what_collects_it(make_module, tmp_path, executor):
    mod = make_module(FANOUT.replace("    yield from text.split()",
                                     "    if not text:\n        raise ValueError('no text')\n    yield from text.split()"))
    result = _run(mod, executor, tmp_path / "store", "")
    assert result.status == "failed"
    assert result.records["words"].status == "failed" and "no text" in result.records["words"].error
    for name in ("shout", "length", "total", "joined"):
        assert result.records[name].status == "skipped", name
        assert result.records[name].why in ("upstream words failed", "upstream shout failed",
                                            "upstream length failed"), name
    assert {result.records[n].why for n in ("shout", "length")} == {"upstream words failed"}


READING = """
from pathlib import Path

from engine import Collect, Parallelizable

FACTOR = Path(__file__).with_name("factor.txt")
MORE = Path(__file__).with_name("more.txt")

def items(n: int) -> Parallelizable[int]:
    yield from range(n + int(MORE.read_text()))

def scaled(items: int) -> int:
    return items * int(FACTOR.read_text())

def total(scaled: Collect[int]) -> int:
    return sum(scaled)
"""


@pytest.mark.parametrize("executor", ["sequential", *POOLS])
def test_a_file_a_fan_out_item_reads_is_recorded_with_its_entry(make_module, tmp_path, executor):
    """Each item's entry records what its run read, as a plain node's does, and the expander's
    entry what it read: when a file changes, what read it runs again instead of being served with
    the old contents."""
    mod = make_module(READING)
    factor = tmp_path / "factor.txt"
    factor.write_text("2")
    (tmp_path / "more.txt").write_text("0")

    def run():
        dr = Driver({}, mod, executor=executor).with_cache(tmp_path / "store")
        try:
            return dr.run(["total"], inputs={"n": 3})
        finally:
            dr.cache.close()

    assert run().outputs == {"total": 6}
    assert run().records["scaled"].status == "cached"
    factor.write_text("5")
    again = run()
    assert again.outputs == {"total": 15}
    assert (again.records["scaled"].status, again.records["scaled"].why) == ("ran", "3 items")
    assert run().records["scaled"].status == "cached"
    (tmp_path / "more.txt").write_text("1")  # read by the expander
    more = run()
    assert more.outputs == {"total": 30} and more.records["items"].status == "ran"
