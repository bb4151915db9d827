"""Where the pipeline and make differ on purpose: contents, not mtimes, decide what re-runs; recipe
text is code; a failed build resumes from what succeeded."""

from __future__ import annotations

import os
from pathlib import Path

from makehelp import make, ripple


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_touching_every_file_without_changing_it_reruns_nothing(project) -> None:
    folder = project("c_build")
    ripple(folder)
    make(folder)  # make is up to date too ...
    later = os.stat(folder / "bin/app").st_mtime + 10
    for path in folder.rglob("*"):
        if path.is_file() and ".ripple" not in path.parts and path.parent.name in ("src", "include", "c_build", "ripple"):
            os.utime(path, (later, later))
    assert make(folder, "-q", check=False).returncode == 1  # ... until a touch: make would rebuild all
    assert ripple(folder).hits_only()


def test_reformatting_a_recipes_whitespace_reruns_nothing(project) -> None:
    folder = project("c_build")
    ripple(folder)
    mk = folder / "Makefile"
    _edit(mk, "\t$(CC) $(CFLAGS) -c $< \\\n\t      -o $@", "\t$(CC)   $(CFLAGS) \\\n\t\t-c   $<   -o $@   ")
    _edit(mk, "\t$(AR) $(ARFLAGS) $@ $^", "\t$(AR)\t$(ARFLAGS)  $@  $^")
    assert ripple(folder).hits_only()


def test_editing_one_recipe_reruns_exactly_that_target_and_its_dependents(project) -> None:
    folder = project("data_chain")
    ripple(folder)
    _edit(folder / "Makefile", "awk -F, -f tools/bars.awk $< > $@", "awk -F, -f tools/bars.awk $< | sort -r > $@")
    assert ripple(folder).ran() == {"figures/totals.txt", "all"}
    _edit(folder / "Makefile", 'toupper($$1)', 'tolower($$1)')
    assert ripple(folder).ran() == {"data/clean/north.csv", "data/clean/south.csv", "data/clean/east.csv",
                                    "data/totals.csv", "figures/totals.txt", "all"}
    by_make = project("data_chain", "make")
    _edit(by_make / "Makefile", "awk -F, -f tools/bars.awk $< > $@", "awk -F, -f tools/bars.awk $< | sort -r > $@")
    _edit(by_make / "Makefile", 'toupper($$1)', 'tolower($$1)')
    make(by_make)
    assert (folder / "figures/totals.txt").read_bytes() == (by_make / "figures/totals.txt").read_bytes()


def test_editing_a_pattern_rule_reruns_the_files_it_applies_to_and_no_others(project) -> None:
    folder = project("patterns")
    ripple(folder)
    _edit(folder / "Makefile", "@printf '%s %s\\n'", "@printf '%s: %s\\n'")
    counts = {f"out/doc{i:02d}.count" for i in range(1, 25)}
    assert ripple(folder).ran() == counts | {"out/summary.txt", "all"}


def test_an_unchanged_output_stops_the_ripple(project) -> None:
    folder = project("c_build")
    ripple(folder)
    _edit(folder / "src/add.c", "int add(", "/* a comment the compiler drops */\nint add(")
    # add.o is rebuilt, comes out byte-identical, so the library and the binary are not relinked
    assert ripple(folder).ran() == {"build/add.o"}


def test_a_failed_recipe_resumes_from_what_succeeded(project) -> None:
    folder = project("c_build")
    good = (folder / "src/mul.c").read_text()
    (folder / "src/mul.c").write_text(good.replace("return a * b;", "return a * ;"))
    failed = ripple(folder)
    assert failed.failed() == {"build/mul.o"}
    assert {"build/main.o", "build/add.o"} <= failed.ran()  # independent branches still ran
    assert failed.status[failed.nodes["bin/app"]] == "skipped"
    assert "Error 1" in str(failed.error) and "Makefile:20" in str(failed.error)
    (folder / "src/mul.c").write_text(good)
    resumed = ripple(folder)
    assert resumed.ran() == {"build/mul.o", "build/libmathx.a", "bin/app", "all"}
    assert resumed.error is None


def test_a_header_the_makefile_forgot_still_invalidates_the_object(project) -> None:
    folder = project("c_build")
    ripple(folder)
    make(folder)
    _edit(folder / "include/config.h", '"sum"', '"total"')
    assert make(folder, "-q", check=False).returncode == 0  # make misses it: config.h is undeclared
    assert ripple(folder).ran() == {"build/main.o", "bin/app", "all"}


def test_changing_a_variable_reruns_the_targets_whose_expanded_recipe_changed(project) -> None:
    folder = project("c_build")
    ripple(folder)
    _edit(folder / "Makefile", "CFLAGS  := -O2 -Wall", "CFLAGS  := -O0 -Wall")
    assert ripple(folder).ran() == {"build/main.o", "build/add.o", "build/mul.o", "build/libmathx.a", "bin/app", "all"}


def test_recipe_lines_fail_like_make_s(tmp_path: Path) -> None:
    """Each line its own shell; the first failing line stops the target, ``-`` lines may fail,
    and with ``.DELETE_ON_ERROR`` the half-written target is removed; same result as make's."""
    text = (".DELETE_ON_ERROR:\nout.txt:\n\techo partial > $@\n\t-false\n\tcd / && false\n\techo never >> $@\n"
            "ok.txt:\n\tX=1; echo $$X > $@\n\ttest -f $@ && pwd > /dev/null\n")
    for name in ("make", "ripple"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Makefile").write_text(text)
    done = make(tmp_path / "make", "-k", "out.txt", "ok.txt", check=False)
    assert done.returncode == 2 and not (tmp_path / "make/out.txt").exists()
    run = ripple(tmp_path / "ripple", "out.txt", "ok.txt")
    assert run.failed() == {"out.txt"} and run.ran() == {"ok.txt"}
    assert "[Makefile:3: out.txt] Error 1" in str(run.error)
    assert not (tmp_path / "ripple/out.txt").exists()
    assert (tmp_path / "ripple/ok.txt").read_bytes() == (tmp_path / "make/ok.txt").read_bytes() == b"1\n"


def test_a_new_file_matched_by_a_wildcard_runs_only_its_own_targets(project) -> None:
    folder = project("patterns")
    ripple(folder)
    (folder / "text/doc25.txt").write_text("a new document\n")
    assert ripple(folder).ran() == {"out/doc25.upper", "out/doc25.count", "out/doc25.sum", "out/summary.txt", "all"}
    assert "first: doc01 last: doc25" in (folder / "out/summary.txt").read_text()
