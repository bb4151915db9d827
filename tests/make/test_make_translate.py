"""What the translation writes: a readable module that keeps the Makefile's structure visible, and
says in one warning what it could not translate faithfully."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from makehelp import make, ripple

from engine.errors import UsageError
from engine.make import generated_module, is_makefile, prepare, summary_warning
from engine.make.database import read_database
from engine.make.explain import explain
from engine.make.recipes import normalize_command, undeclared_reads
from engine.make.translate import node_name, translate_makefile


def test_one_readable_node_per_target_with_the_rule_beside_it(project) -> None:
    folder = project("c_build")
    t = translate_makefile(folder / "Makefile", folder / "pipeline.py")
    src = (folder / "pipeline.py").read_text()
    ast.parse(src)
    assert t.nodes["build/main.o"] == "build_main_o" and t.default_goal == "all"
    assert "#   $(BUILD)/%.o: src/%.c include/mathx.h | $(BUILD)" in src  # the pattern rule as written
    assert "# Makefile:9: LIB_SRC := $(filter-out src/main.c,$(wildcard src/*.c))" in src
    assert "#     -> src/add.c src/mul.c" in src  # ...and what make made of it
    assert "'cc -O2 -Wall -Iinclude -c src/mul.c -o build/mul.o'," in src  # expanded by make itself
    assert "src_mul_c: File = makefile.source('src/mul.c')" in src
    assert "def build_libmathx_a(\n    build_add_o: File,\n    build_mul_o: File,\n) -> File:" in src
    assert "'@echo \"  CC      src/mul.c\"'" in src  # silent lines keep their @
    assert "@cache(behavior=\"disable\")  # phony" in src.split("def clean")[0].rsplit("# Makefile", 1)[1]
    assert "from engine import File, cache, tag\nfrom engine.make.recipes import Makefile\n" in src


def test_oneshell_shell_and_default_goal_are_carried_over(project) -> None:
    folder = project("latex_doc")
    _, t = prepare(folder / "Makefile")
    assert "Makefile.at(__file__, '../..', shell='/bin/bash', shellflags='-eu -o pipefail -c', oneshell=True)" in t.source
    assert "'@tmp=$$(mktemp)'" not in t.source and "'@tmp=$(mktemp)'," in t.source  # make's $$ is expanded
    assert t.default_goal == "all"
    assert prepare(project("includes_functions", "inc") / "Makefile")[1].default_goal == "report"


def test_untranslatable_constructs_are_listed_in_one_warning_and_kept_as_comments(project) -> None:
    folder = project("includes_functions")
    module, t = prepare(folder / "Makefile")
    warning = summary_warning(t)
    assert warning is not None and warning.count("\n") == 3
    assert "Makefile:10: STAMP    := $(shell date +%Y)" in warning and "recursive make" in warning
    assert "Makefile:11: $(foreach m,alpha beta,$(eval $(m)_FLAG := on))" in warning
    assert "# NOT TRANSLATED FAITHFULLY" in module.read_text()
    assert summary_warning(prepare(project("c_build", "c") / "Makefile")[1]) is None


def test_includes_and_functions_are_make_s_own_expansion(project) -> None:
    folder = project("includes_functions")
    db = read_database(folder / "Makefile")
    assert db.rules["build/beta.out"].commands == [
        "mkdir -p build/", "sed -e 's/NAME/ripple demo/' -e 's/LANG/en de/' lib/beta.in > build/beta.out",
        'echo "stem beta file beta.out flag on" >> build/beta.out']  # $*, $(@F), a variable made by $(eval)
    assert db.rules["build/gamma.out"].commands[-1] == 'echo "stem gamma file gamma.out flag " >> build/gamma.out'
    assert db.rules["report"].prerequisites == ["build/alpha.out", "build/beta.out", "build/gamma.out", "build/index.txt"]
    assert db.rules["build/alpha.out"].silent == [True, False, False]


def test_target_specific_variables_and_recursive_make_are_make_s_business(project) -> None:
    c = read_database(project("c_build", "c") / "Makefile")
    assert c.rules["bin/app"].commands == ["cc -o bin/app build/main.o -Lbuild -lmathx"]  # bin/app: LDLIBS := ...
    folder, by_make = project("includes_functions"), project("includes_functions", "make")
    assert read_database(folder / "Makefile").rules["docs"].commands == [shutil.which("make") + " -C docs"]
    assert ripple(folder, "docs").ran() == {"docs"}  # $(MAKE) -C docs: one opaque command
    make(by_make, "docs")
    assert (folder / "docs/index.html").read_bytes() == (by_make / "docs/index.html").read_bytes() == b"docs built\n"


def test_make_s_built_in_rules_apply_as_in_plain_make(tmp_path: Path) -> None:
    for name in ("make", "ripple"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Makefile").write_text("CFLAGS = -O1\nprog: prog.o util.o\nprog.o: util.h\n")
        (tmp_path / name / "prog.c").write_text('#include "util.h"\nint main(void) { return u(); }\n')
        (tmp_path / name / "util.c").write_text("int u(void) { return 0; }\n")
        (tmp_path / name / "util.h").write_text("int u(void);\n")
    make(tmp_path / "make")
    assert ripple(tmp_path / "ripple").ran() == {"prog.o", "util.o", "prog"}
    for f in ("prog.o", "util.o", "prog"):
        assert (tmp_path / "ripple" / f).read_bytes() == (tmp_path / "make" / f).read_bytes()
    src = prepare(tmp_path / "ripple" / "Makefile")[1].source
    assert "# Makefile  (make's built-in rule, stem 'util')" in src and "'cc -O1 -c -o util.o util.c'," in src
    assert "prerequisites=['prog.o', 'util.o']," in src


def test_targets_restrict_the_translation(project) -> None:
    t = translate_makefile(project("patterns") / "Makefile", targets=["out/doc03.sum"])
    assert set(t.nodes) == {"out", "out/doc03.sum"}


def test_a_missing_prerequisite_is_make_s_own_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("app: main.o\n\tcc -o $@ $^\n")
    with pytest.raises(UsageError, match=r"No rule to make target 'main.o', needed by 'app'"):
        read_database(tmp_path / "Makefile")
    with pytest.raises(UsageError, match="no such Makefile"):
        read_database(tmp_path / "nope" / "Makefile")
    with pytest.raises(UsageError, match="has no target 'ap'"):
        read_database(tmp_path / "Makefile", ["ap"])


def test_silent_lines_are_found_however_they_are_spelled(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("Q ?= @\nall:\n\t$(Q)echo quiet\n\techo loud\n\t@-false\n")
    r = read_database(tmp_path / "Makefile").rules["all"]
    assert r.commands == ["echo quiet", "echo loud", "false"]
    assert r.silent == [True, False, True] and r.ignore == [False, False, True]


def test_normalized_commands_keep_quotes_and_drop_layout() -> None:
    assert normalize_command("gcc  -c a.c \\\n\t    -o a.o  ") == "gcc -c a.c -o a.o"
    assert normalize_command("echo 'a   b'  \"c  \\\n d\"") == "echo 'a   b' \"c   d\""
    assert normalize_command("printf '%s\\n'   x") == "printf '%s\\n' x"
    assert normalize_command("cd out\n   echo  hi") == "cd out\necho hi"


def test_names_are_identifiers_and_unique() -> None:
    taken: set[str] = set()
    assert [node_name(t, taken) for t in ("build/a.o", "build_a.o", "2x", "class", "makefile")] == [
        "build_a_o", "build_a_o_2", "t_2x", "class_", "makefile_"]
    assert is_makefile("Makefile") and is_makefile("rules.mk") and is_makefile("x/GNUmakefile")
    assert not is_makefile("pipeline.py")
    assert generated_module("/p/Makefile") == Path("/p/.ripple/make/Makefile.py")


def test_undeclared_reads_are_named_files_and_compiler_headers(project) -> None:
    folder = project("c_build")
    found = undeclared_reads(str(folder), ["cc -O2 -Iinclude -c src/main.c -o build/main.o"],
                             ["src/main.c", "include/mathx.h", "build/main.o"])
    assert found == ["include/config.h"]
    assert undeclared_reads(str(folder), ["cat include/config.h src/none.c > out.txt"], []) == ["include/config.h"]


def test_explain_prints_the_dag_and_the_prerequisites_the_makefile_forgot(project, capsys) -> None:
    folder = project("c_build")
    module, t = prepare(folder / "Makefile")
    report = explain(t, module, cache_dir=folder / ".ripple").render("Makefile")
    assert "  bin/app <- build/main.o build/libmathx.a | bin    [node bin_app]" in report
    assert "  Makefile:20: build/main.o also reads include/config.h" in report
    assert report.count("also reads") == 1
    # a second explain runs nothing and still knows, from what the cache recorded
    assert ripple(folder).hits_only()
    assert "build/main.o also reads include/config.h" in explain(t, module, cache_dir=folder / ".ripple").render("M")
    latex = project("latex_doc", "latex")
    module, t = prepare(latex / "Makefile")
    report = explain(t, module, cache_dir=latex / ".ripple").render("Makefile")
    assert "out/paper.aux also reads tools/minitex" in report
    assert "out/paper.bbl also reads tools/minibib" in report
