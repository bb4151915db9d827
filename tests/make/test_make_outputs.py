"""The translated pipeline builds what GNU make builds, byte for byte, and a second run is all hits
exactly when make too would have nothing to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from makehelp import NAMES, PROJECTS, make, produced, ripple

# make deletes intermediate files of pattern-rule chains after the build; the pipeline keeps them
# (they are cached results: deleting them would re-run their nodes every time), so they may be
# extra in Ripple's tree, never different.
INTERMEDIATES = {
    "data_chain": {"data/raw/north.csv", "data/raw/south.csv", "data/raw/east.csv"},
    "patterns": {f"out/doc{i:02d}.upper" for i in range(1, 25)},
}


def test_six_projects_in_the_styles_of_real_ones() -> None:
    assert len(NAMES) >= 6
    assert {"c_build", "data_chain", "latex_doc", "patterns", "phony_aggregate", "includes_functions"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_outputs_match_gnu_make_byte_for_byte(name: str, project) -> None:
    by_make, by_ripple = project(name, "make"), project(name, "ripple")
    make(by_make)
    run = ripple(by_ripple)
    assert run.error is None, run.error
    want, got = produced(by_make, PROJECTS / name), produced(by_ripple, PROJECTS / name)
    assert want, "make built nothing: the fixture is broken"
    assert {k: v for k, v in got.items() if k in want} == want
    assert set(got) - set(want) <= INTERMEDIATES.get(name, set())


@pytest.mark.parametrize("name", NAMES)
def test_second_run_is_all_hits_where_make_has_nothing_to_do(name: str, project) -> None:
    folder = project(name)
    first = ripple(folder)
    assert first.error is None and first.ran()
    assert make(folder, "-q", check=False).returncode == 0, "make itself would still rebuild something"
    second = ripple(folder)
    assert second.hits_only(), second.status


def test_phony_targets_run_their_recipe_each_time_and_aggregate_without_one(project) -> None:
    folder = project("phony_aggregate")
    assert ripple(folder, "check").ran() == {"dist/tool-1.2.0/bin/tool", "dist/tool-1.2.0/share/tool/README",
                                             "build", "lint", "test", "check"}
    assert (folder / "dist/test.log").read_text() == "ok 1 - greets\n"
    again = ripple(folder, "check")
    # make runs a phony target's recipe every time, and so what depends on it; files stay cached
    assert again.ran() == {"lint", "test", "check"}
    assert ripple(folder, "clean").ran() == {"clean"}
    assert not (folder / "dist").exists()


def test_clean_then_build_rebuilds_everything_from_the_cache_key_up(project) -> None:
    folder: Path = project("c_build")
    ripple(folder)
    ripple(folder, "clean")
    assert not (folder / "build").exists()
    rebuilt = ripple(folder)
    assert rebuilt.error is None
    assert (folder / "bin/app").is_file() and rebuilt.ran() >= {"build/main.o", "bin/app"}


def test_targets_run_in_parallel_like_make_j(project) -> None:
    by_make, by_ripple = project("patterns", "make"), project("patterns", "ripple")
    make(by_make, "-j4")
    assert ripple(by_ripple, executor="threads:4").error is None
    want = produced(by_make, PROJECTS / "patterns")
    assert {k: v for k, v in produced(by_ripple, PROJECTS / "patterns").items() if k in want} == want
