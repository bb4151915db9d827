"""Execution semantics: what runs, what is skipped, how failures surface, and that every executor
computes the same values."""

from __future__ import annotations

import os
import sys

import pytest

from engine import Driver, UsageError

COUNTING = """
CALLS = []

def raw(seed: int) -> int:
    CALLS.append("raw")
    return seed

def cleaned(raw: int) -> int:
    CALLS.append("cleaned")
    return raw + 1

def features(cleaned: int) -> int:
    CALLS.append("features")
    return cleaned * 10

def report(features: int, title: str = "report") -> str:
    CALLS.append("report")
    return f"{title}: {features}"

def side_branch(raw: int) -> int:
    CALLS.append("side_branch")
    return -raw
"""


def test_only_needed_nodes_are_computed(make_module):
    mod = make_module(COUNTING)
    dr = Driver({}, mod)
    assert dr.execute(["cleaned"], inputs={"seed": 1}) == {"cleaned": 2}
    assert mod.CALLS == ["raw", "cleaned"]
    mod.CALLS.clear()
    assert dr.execute(["report"], inputs={"seed": 1}) == {"report": "report: 20"}
    assert sorted(mod.CALLS) == ["cleaned", "features", "raw", "report"]  # side_branch never ran
    result = dr.run(["report"], inputs={"seed": 1})
    assert list(result.records) == ["raw", "cleaned", "features", "report"]


def test_overrides_short_circuit_their_ancestors(make_module):
    mod = make_module(COUNTING)
    dr = Driver({}, mod)
    out = dr.execute(["report", "side_branch"], inputs={"seed": 5}, overrides={"features": 7})
    assert out == {"report": "report: 7", "side_branch": -5}
    assert "features" not in mod.CALLS and "cleaned" not in mod.CALLS  # ancestor of the override skipped
    assert mod.CALLS.count("raw") == 1  # still needed by side_branch
    mod.CALLS.clear()
    # no input needed once the override cuts the only path to it
    assert dr.execute(["report"], overrides={"features": 1}) == {"report": "report: 1"}
    assert mod.CALLS == ["report"]


def test_defaults_inputs_and_config(make_module):
    mod = make_module(COUNTING)
    dr = Driver({"title": "from config"}, mod)
    assert dr.execute(["report"], inputs={"seed": 0})["report"] == "from config: 10"
    dr = Driver({}, mod)
    assert dr.execute(["report"], inputs={"seed": 0})["report"] == "report: 10"  # default used
    assert dr.execute(["report"], inputs={"seed": 0, "title": "T"})["report"] == "T: 10"
    with pytest.raises(UsageError, match="both as config and as input"):
        Driver({"seed": 1}, mod).execute(["raw"], inputs={"seed": 2})


def test_requested_outputs_may_be_inputs_or_overrides(make_module):
    mod = make_module(COUNTING)
    out = Driver({}, mod).execute(["seed", "cleaned", "raw"], inputs={"seed": 4}, overrides={"raw": 9})
    assert out == {"seed": 4, "cleaned": 10, "raw": 9}


def test_final_vars_must_be_a_list(make_module):
    with pytest.raises(UsageError, match="must be a list"):
        Driver({}, make_module(COUNTING)).execute("raw", inputs={"seed": 1})


def test_repeated_runs_with_different_inputs_recompute(make_module):
    dr = Driver({}, make_module(COUNTING))
    assert [dr.execute(["features"], inputs={"seed": s})["features"] for s in (1, 2, 3)] == [20, 30, 40]


def test_ten_thousand_node_chain_at_default_recursion_limit(make_module):
    n = 10_000
    lines = ["def n0() -> int:\n    return 0\n"]
    lines += [f"def n{i}(n{i - 1}: int) -> int:\n    return n{i - 1} + 1\n" for i in range(1, n)]
    mod = make_module("\n".join(lines))
    assert sys.getrecursionlimit() <= 1000  # Python's default; Ripple must not raise it
    dr = Driver({}, mod)
    assert dr.execute([f"n{n - 1}"]) == {f"n{n - 1}": n - 1}
    assert len(dr.what_is_upstream_of(f"n{n - 1}")) == n  # the node itself too, as Hamilton


FAILING = """
def base(x: int) -> int:
    return x

def broken(base: int) -> int:
    raise ValueError(f"cannot handle {base}")

def after_broken(broken: int) -> int:
    return broken

def independent(base: int) -> int:
    return base * 2

def joined(after_broken: int, independent: int) -> int:
    return after_broken + independent
"""


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes"])
def test_failure_skips_dependents_and_keeps_independent_branches(make_module, executor):
    mod = make_module(FAILING)
    dr = Driver({}, mod, executor=executor)
    result = dr.run(["joined", "independent"], inputs={"x": 3})
    assert result.status == "failed" and result.failed_node == "broken"
    status = {n: r.status for n, r in result.records.items()}
    assert status == {"base": "ran", "broken": "failed", "after_broken": "skipped", "independent": "ran",
                      "joined": "skipped"}
    rec = result.records["broken"]
    assert rec.error_type == "ValueError" and rec.error == "cannot handle 3"
    assert "raise ValueError" in rec.traceback and "engine/execution.py" not in rec.traceback
    assert result.records["joined"].why == "upstream after_broken failed"
    assert result.outputs == {}


def test_execute_reraises_the_node_exception_with_a_note(make_module):
    mod = make_module(FAILING)
    with pytest.raises(ValueError, match="cannot handle 3") as info:
        Driver({}, mod).execute(["joined"], inputs={"x": 3})
    assert info.value.__notes__ == [f"ripple: raised by node 'broken' at {mod.__file__}:5"]


FANOUT = """
import os
from engine import Collect, Parallelizable

def scale() -> int:
    return 3

def chunks(n: int) -> Parallelizable[int]:
    yield from range(n)

def squared(chunks: int, scale: int) -> int:
    return chunks * chunks * scale

def labelled(squared: int, chunks: int) -> str:
    return f"{chunks}:{squared}"

def total(squared: Collect[int]) -> int:
    return sum(squared)

def labels(labelled: Collect[str]) -> list:
    return list(labelled)

def summary(total: int, labels: list, scale: int) -> dict:
    return {"total": total, "labels": labels, "scale": scale}

def pid() -> int:
    return os.getpid()

def pid_after(pid: int, scale: int) -> int:
    return os.getpid()
"""


@pytest.mark.parametrize("n", [0, 1, 6])
def test_executors_give_identical_results(make_module, n):
    mod = make_module(FANOUT)
    results = {}
    for executor in ("sequential", "threads", "processes:2"):
        dr = Driver({}, mod, executor=executor)
        results[executor] = dr.execute(["summary", "total"], inputs={"n": n})
    assert results["sequential"]["summary"] == {
        "total": sum(i * i * 3 for i in range(n)),
        "labels": [f"{i}:{i * i * 3}" for i in range(n)],
        "scale": 3,
    }
    assert results["threads"] == results["sequential"] == results["processes:2"]


def test_process_executor_runs_nodes_in_other_processes(make_module):
    dr = Driver({}, make_module(FANOUT), executor="processes:2")
    out = dr.execute(["pid", "pid_after"])
    assert out["pid"] != os.getpid() and out["pid_after"] != os.getpid()
    assert Driver({}, make_module(FANOUT)).execute(["pid"])["pid"] == os.getpid()  # sequential is in-process


def test_unknown_executor_is_a_usage_error(make_module):
    with pytest.raises(UsageError, match="unknown executor"):
        Driver({}, make_module(FANOUT), executor="gpu")


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes:2"])
def test_failing_fan_out_item_skips_block_dependents_on_every_executor(make_module, executor):
    mod = make_module(
        """
        from engine import Collect, Parallelizable

        def items(n: int) -> Parallelizable[int]:
            yield from range(n)

        def parsed(items: int) -> int:
            if items == 2:
                raise ValueError("item two is corrupt")
            return items

        def enriched(parsed: int) -> int:
            return parsed * 10

        def total(enriched: Collect[int]) -> int:
            return sum(enriched)

        def side(n: int) -> int:
            return n
        """
    )
    result = Driver({}, mod, executor=executor).run(["total", "side"], inputs={"n": 4})
    status = {name: rec.status for name, rec in result.records.items()}
    assert status == {"items": "ran", "parsed": "failed", "enriched": "skipped", "total": "skipped", "side": "ran"}
    assert result.failed_node == "parsed" and result.records["parsed"].error == "item 2: item two is corrupt"


CHECKED_FANOUT = '''
from engine import Parallelizable, Collect, check_output

def items(n: int) -> Parallelizable[int]:
    yield from range(n)

@check_output(range=(0, 2), importance="fail")
def per(items: int) -> int:
    return items

def total(per: Collect[int]) -> int:
    return sum(per)
'''


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes"])
def test_check_output_applies_to_fan_out_items_on_every_executor(make_module, executor):
    mod = make_module(CHECKED_FANOUT)
    result = Driver({}, mod, executor=executor).run(["total"], inputs={"n": 5})
    assert result.status == "failed" and result.failed_node == "per"
    assert "outside [0, 2]" in result.records["per"].error
    ok = Driver({}, mod, executor=executor).run(["total"], inputs={"n": 3})
    assert ok.outputs["total"] == 3


ASYNC = '''
import asyncio

async def fetched(n: int) -> int:
    await asyncio.sleep(0)
    return n * 3

def total(fetched: int) -> int:
    return fetched + 1
'''


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes"])
def test_async_nodes_are_awaited(make_module, executor):
    result = Driver({}, make_module(ASYNC), executor=executor).execute(["total", "fetched"], inputs={"n": 2})
    assert result == {"total": 7, "fetched": 6}
