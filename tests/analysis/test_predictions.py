"""Honest plans: a cached fan-out is a hit, early cutoff makes dependents "may run", and what
runs always lies between "will run" and "will run" plus "may run"."""

from __future__ import annotations

from engine.caching.predict import Counts, counts


def _split(plan: dict[str, tuple[str, str]]) -> tuple[set[str], set[str], set[str]]:
    will = {n for n, (w, _) in plan.items() if w == "run"}
    may = {n for n, (w, _) in plan.items() if w == "may run"}
    hit = {n for n, (w, _) in plan.items() if w == "hit"}
    return will, may, hit


def test_a_fully_cached_store_including_a_fan_out_predicts_nothing_to_run(project) -> None:
    assert project.ran() == {"base", "doubled", "items", "sq", "total", "label", "other"}
    will, may, _hit = _split(project.plan())
    assert will == set() and may == set()
    assert project.plan()["sq"] == ("hit", "all 4 items cached")
    assert project.ran() == set()


def test_early_cutoff_makes_dependents_may_run_and_the_run_stays_inside_the_plan(project) -> None:
    project.run(x=1)
    plan = project.plan(x=3)  # base(3) == base(1): its dependents will hit
    will, may, _ = _split(plan)
    assert will == {"base", "other"}
    assert may == {"doubled", "items", "sq", "total", "label"}
    assert "upstream base will run" in plan["doubled"][1] and "early cutoff" in plan["doubled"][1]
    ran = project.ran(x=3)
    assert will <= ran <= will | may
    assert ran == {"base", "other"}


def test_a_code_edit_is_certain_and_its_dependents_may_run(project) -> None:
    project.run()
    project.edit("return base * 2", "return base * 3")
    will, may, hit = _split(project.plan())
    assert will == {"doubled"} and hit == {"base", "other"}
    assert may == {"items", "sq", "total", "label"}
    ran = project.ran()
    assert will <= ran <= will | may


def test_a_node_inside_the_fan_out_whose_code_changed_will_run_per_item(project) -> None:
    project.run()
    project.edit("return items * items", "return items * items + 1")
    plan = project.plan()
    will, may, _ = _split(plan)
    assert will == {"sq"} and plan["sq"][1] == "4 of 4 items will run"
    assert may == {"total", "label"}
    ran = project.ran()
    assert will <= ran <= will | may and ran == {"sq", "total", "label"}


def test_a_new_node_downstream_of_a_running_one_will_run(project) -> None:
    project.run()
    project.edit("return f\"t={total}\"", "return f\"total={total}\"")
    project.edit("return base * 2", "return base * 3")
    plan = project.plan()
    assert plan["label"][0] == "run"  # no entry for its new code: it runs whatever total turns out to be
    assert plan["total"][0] == "may run"


def test_counts_summary() -> None:
    rows = [("a", "run", ""), ("b", "may run", ""), ("c", "hit", ""), ("d", "hit", "")]
    assert counts(rows) == Counts(1, 1, 2)
    assert str(counts(rows)) == "1 will run, 1 may run, 2 cached"
    assert str(Counts(0, 0, 3)) == "0 will run, 3 cached"
