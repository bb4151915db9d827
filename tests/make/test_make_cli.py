"""``ripple import-make`` and ``ripple run Makefile`` from the command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from makehelp import PROJECTS, make, produced

from engine.cli import main


def _ripple(*argv: str, cwd: Path) -> int:
    sys.modules.pop("Makefile", None)  # every translation is a module named after its Makefile
    sys.modules.pop("pipeline", None)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return main(list(argv))
    finally:
        os.chdir(old)
        sys.modules.pop("Makefile", None)
        sys.modules.pop("pipeline", None)


def test_run_makefile_builds_the_default_goal_then_is_all_hits(project, capsys, caplog) -> None:
    folder, by_make = project("c_build"), project("c_build", "make")
    assert _ripple("run", "Makefile", cwd=folder) == 0
    make(by_make)
    assert produced(folder, PROJECTS / "c_build") == produced(by_make, PROJECTS / "c_build")
    assert (folder / ".ripple" / "make" / "Makefile.py").is_file()
    capsys.readouterr()
    said = [r.getMessage() for r in caplog.records if r.name == "engine"]
    # every target runs a shell: said once, with what counts as a recipe's inputs, not once per node
    assert sum("run in a shell, whose reads Ripple cannot see" in m for m in said) == 1
    assert not any("started a subprocess" in m for m in said)
    assert _ripple("run", "Makefile", "--json", cwd=folder) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {n["status"] for n in doc["nodes"]} == {"cached"} and "clean" not in {n["name"] for n in doc["nodes"]}
    assert _ripple("run", str(folder / "Makefile"), "--outputs", "clean", cwd=folder.parent) == 0
    assert not (folder / "bin").exists()


def test_a_failing_recipe_exits_1_with_make_s_message(project, capsys) -> None:
    folder = project("c_build")
    (folder / "src/mul.c").write_text("int mul(int a, int b) { return a * ; }\n")
    assert _ripple("run", "Makefile", cwd=folder) == 1
    err = capsys.readouterr()
    assert "make: *** [Makefile:20: build/mul.o] Error 1" in err.out + err.err
    assert "in _recipe" not in err.out + err.err and "in _line" not in err.out + err.err  # no runtime internals


def test_a_broken_makefile_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "Makefile").write_text("all: missing.txt\n\tcat $<\n")
    with pytest.raises(SystemExit) as exc:
        _ripple("run", "Makefile", cwd=tmp_path)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ripple: error: Makefile: make: *** No rule to make target 'missing.txt', needed by 'all'")
    assert err.count("\n") == 1
    assert _ripple("import-make", cwd=tmp_path) == 2


def test_import_make_writes_a_module_that_runs_like_the_makefile(project, capsys) -> None:
    folder, by_make = project("data_chain"), project("data_chain", "make")
    assert _ripple("import-make", "Makefile", "-o", "pipeline.py", cwd=folder) == 0
    out = capsys.readouterr().out
    assert "wrote pipeline.py: 9 nodes from Makefile" in out and "run it with: ripple run pipeline.py" in out
    assert _ripple("run", "pipeline.py", "--json", cwd=folder) == 0  # make's default goal, not every leaf
    assert {n["name"] for n in json.loads(capsys.readouterr().out)["nodes"]} >= {"figures_totals_txt", "all"}
    make(by_make)
    assert (folder / "figures/totals.txt").read_bytes() == (by_make / "figures/totals.txt").read_bytes()
    (folder / "mine.py").write_text("x = 1\n")
    assert _ripple("import-make", "-o", "mine.py", cwd=folder) == 2  # not ours: not overwritten
    assert (folder / "mine.py").read_text() == "x = 1\n"


def test_import_make_explain_and_targets(project, capsys) -> None:
    folder = project("c_build")
    assert _ripple("import-make", "--explain", cwd=folder) == 0
    out = capsys.readouterr().out
    assert out.startswith("DAG inferred from Makefile (10 targets, prerequisites first):\n")
    assert "Makefile:20: build/main.o also reads include/config.h" in out
    assert "cc -O2" not in out  # the recipes' own output went to stderr
    assert _ripple("import-make", "--target", "build/add.o", "-o", "one.py", cwd=folder) == 0
    assert "def build_add_o(" in (folder / "one.py").read_text() and "def bin_app(" not in (folder / "one.py").read_text()


def test_untranslatable_constructs_warn_once_on_the_command_line(project, capsys) -> None:
    folder = project("includes_functions")
    assert _ripple("run", "Makefile", cwd=folder) == 0
    err = capsys.readouterr().err
    assert err.count("not translated faithfully") == 1 and "$(shell date +%Y)" in err
    assert (folder / "report").is_file()


def test_watch_once_runs_a_makefile_in_a_child_process(project, capsys) -> None:
    folder = project("phony_aggregate")
    assert _ripple("watch", "Makefile", "--once", cwd=folder) == 0
    assert (folder / "dist/tool-1.2.0/bin/tool").is_file()


async def test_the_dashboard_runs_a_makefile(project, monkeypatch) -> None:
    """``ripple tui Makefile``: the request the CLI hands the dashboard names the generated module,
    make's default goal and the Makefile's store; the dashboard runs it in a child process."""
    import time

    from engine.cli import build_parser
    from engine.cli._common import run_request
    from tui.app import create_app
    from tui.backend.controller import Settings

    folder = project("phony_aggregate")
    monkeypatch.chdir(folder)
    request = run_request(build_parser().parse_args(["tui", "Makefile"]))
    assert request.pipeline == str(folder / ".ripple" / "make" / "Makefile.py") and request.outputs == ["all"]
    assert request.cache_dir == str(folder / ".ripple")
    app = create_app(request.pipeline, settings=Settings(**request.to_dict(), watch=False), animations=False)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 60
        while app.model.run_state != "ok":
            assert time.monotonic() < deadline and app.model.run_state != "failed", app.model.run_state
            await pilot.pause(0.05)
    assert (folder / "dist/tool-1.2.0/share/tool/README").read_text() == "tool version 1.2.0\nUsage: tool ARGS\n"


def test_any_mk_file_is_a_pipeline_and_plan_says_what_would_run(project, capsys) -> None:
    folder = project("data_chain")
    (folder / "Makefile").rename(folder / "chain.mk")
    assert _ripple("plan", "chain.mk", cwd=folder) == 0
    assert "9 will run, 0 cached" in capsys.readouterr().out.replace("\n", " ")
    assert _ripple("run", "chain.mk", cwd=folder) == 0
    assert (folder / ".ripple" / "make" / "chain_mk.py").is_file() and (folder / "figures/totals.txt").is_file()
    capsys.readouterr()
    assert _ripple("plan", "chain.mk", cwd=folder) == 0
    assert "0 will run, 9 cached" in capsys.readouterr().out.replace("\n", " ")


def test_a_written_module_runs_make_s_default_goal_not_every_final_node(project, capsys) -> None:
    folder = project("c_build")
    assert _ripple("import-make", "-o", "pipeline.py", cwd=folder) == 0
    capsys.readouterr()
    assert _ripple("run", "pipeline.py", "--json", cwd=folder) == 0
    names = {n["name"] for n in json.loads(capsys.readouterr().out)["nodes"]}
    assert "bin_app" in names and not names & {"clean", "test"}  # `clean` is a final node too
    assert (folder / "bin/app").is_file() and (folder / ".ripple").is_dir()
