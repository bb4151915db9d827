"""Explanations compare with the node's previous run (edit, revert, edit) and name that run."""

from __future__ import annotations


def test_edit_revert_edit_explains_against_the_previous_run(project) -> None:
    project.run()                                          # A
    project.edit("return base * 2", "return base * 5")     # B
    project.run()
    project.edit("return base * 5", "return base * 2")     # back to A: a hit on A's entry
    r3 = project.run()
    assert r3.records["doubled"].status == "cached"
    project.edit("return base * 2", "return base * 7")     # C
    dr = project.driver()
    r4 = dr.run(["label", "other"], inputs={"x": 1})
    assert r4.records["doubled"].status == "ran"
    text = dr.cache.explain("doubled")
    assert "code changed" in text and f"since run {r3.run_id}" in text
    assert "-    return base * 2" in text and "+    return base * 7" in text
    assert "base * 5" not in text  # not the newest entry's version, two edits back
    assert dr.cache.decision("doubled").against_run == r3.run_id
    assert dr.cache.explain("items") == f"items: ran — upstream doubled changed (since run {r3.run_id})"
    # the history keeps what each run used, so the next explanation has it too
    rec = dr.cache.store.node_history("doubled")[0]
    assert rec.run_id == r4.run_id and rec.deps == {"base": dr.cache.store.node_history("base")[0].data_version}


def test_an_input_change_names_the_input_and_the_run(project) -> None:
    r1 = project.run(x=1)
    dr = project.driver()
    dr.run(["label", "other"], inputs={"x": 2})
    assert dr.cache.explain("base") == f"base: ran — input x changed (since run {r1.run_id})"


def test_without_history_the_newest_entry_still_explains(project) -> None:
    project.run()
    store = project.driver().cache.store
    store.trim_history(0)
    store.commit()
    project.edit("return base * 2", "return base * 3")
    dr = project.driver()
    dr.run(["label"], inputs={"x": 1})
    text = dr.cache.explain("doubled")
    assert "code changed" in text and "since run" not in text and "+    return base * 3" in text


def test_profile_refuses_a_node_that_runs_per_fan_out_item(project) -> None:
    import pytest

    from engine.analysis.profile import profile_node
    from engine.errors import UsageError

    project.run()
    with pytest.raises(UsageError, match="runs once per fan-out item"):
        profile_node(project.driver(), "sq", {"x": 1})
    prof = profile_node(project.driver(), "total", {"x": 1}, pyinstrument=False)  # the gatherer: its input is cached
    assert prof.node == "total" and prof.functions
