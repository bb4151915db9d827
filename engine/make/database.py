"""What GNU make itself says a Makefile means: its rules, variables and fully expanded recipes.

Why make and not a parser of our own: every "Makefile to X" converter that re-implements make's
expansion (recursive vs simple variables, substitution references, pattern search, automatic
variables, ``include``, ``.ONESHELL``) gets some corner wrong. ``make -pn`` prints make's own
database after reading the Makefile, and ``make -n -B --trace`` prints every recipe line exactly as
it would run, in build order, each block headed by the target it belongs to. Nothing runs: ``-n``.
Built-in rules and variables stay on (no ``-rR``): a Makefile that relies on ``$(CC)`` or on the
built-in ``%.o: %.c`` rule means what plain ``make`` makes of it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import UsageError

__all__ = ["Database", "Rule", "Variable", "read_database", "SPECIAL_TARGETS"]

SPECIAL_TARGETS = frozenset({
    ".PHONY", ".SUFFIXES", ".DEFAULT", ".PRECIOUS", ".INTERMEDIATE", ".NOTINTERMEDIATE", ".SECONDARY",
    ".SECONDEXPANSION", ".DELETE_ON_ERROR", ".IGNORE", ".LOW_RESOLUTION_TIME", ".SILENT",
    ".EXPORT_ALL_VARIABLES", ".NOTPARALLEL", ".ONESHELL", ".POSIX", ".WAIT", ".EXTRA_PREREQS",
})

_NOOP = ".ripple-noop"
_TRACE = re.compile(r"^(?P<file>.+?)(?::(?P<line>\d+))?: (?:update )?target '(?P<target>.+?)' "
                    r"(?:does not exist|due to:|is )")
_CHATTER = re.compile(r"^make(?:\[\d+\])?: (?:'.*' is up to date\.|Nothing to be done for '.*'\.)$")
_TARGET_VAR = re.compile(r"^[^#\t].*?: (?:override |export |private )*[^\s:=#]+ (?::{1,3}=|\+=|\?=|!=|=)(?: |$)")
_SUBMAKE = re.compile(r"^(?:# )?make\[\d+\]: (Entering|Leaving) directory ")
_RULE = re.compile(r"^(?P<target>[^#\t].*?)(?P<colons>::?)(?: (?P<rest>.*))?$")
_ORIGIN = re.compile(r"^# (?P<origin>makefile|override|command line|environment|default|automatic)"
                     r"(?: \(from '(?P<file>.+)', line (?P<line>\d+)\))?")
_VAR = re.compile(r"^(?P<name>[^\s:#=]+) (?P<op>:=|::=|=|\?=|\+=) ?(?P<value>.*)$")


@dataclass
class Variable:
    """A variable as make holds it after reading the Makefile (value unexpanded for ``=``)."""

    name: str
    flavor: str  # "recursive" (=) or "simple" (:=)
    value: str
    file: str = ""
    line: int = 0


@dataclass
class Rule:
    """One target after make's own rule search (pattern rules already applied)."""

    target: str
    prerequisites: list[str] = field(default_factory=list)
    order_only: list[str] = field(default_factory=list)
    phony: bool = False
    double_colon: bool = False
    stem: str | None = None  # set when a pattern or static pattern rule supplied the recipe
    builtin: bool = False  # the recipe is one of make's built-in rules (e.g. %.o: %.c)
    recipe: list[str] = field(default_factory=list)  # the recipe's logical lines, unexpanded, prefixes kept
    file: str = ""
    line: int = 0
    commands: list[str] = field(default_factory=list)  # expanded by make, prefixes stripped
    silent: list[bool] = field(default_factory=list)  # per command: make would not echo it (@, $(Q), .SILENT)
    ignore: list[bool] = field(default_factory=list)  # per command: a failure is ignored (-)

    @property
    def has_recipe(self) -> bool:
        return bool(self.recipe)


@dataclass
class Database:
    """Everything the translation needs, as GNU make sees it."""

    makefile: Path
    directory: Path
    make_version: str
    variables: dict[str, Variable]
    rules: dict[str, Rule]
    default_goal: str
    goals: list[str]
    phony: set[str]
    shell: str = "/bin/sh"
    shellflags: str = "-c"
    oneshell: bool = False
    silent_all: bool = False
    delete_on_error: bool = False
    exported: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def make_program() -> str:
    """The GNU make to ask; a clear error when it is missing, since nothing can be read without it."""
    found = shutil.which(os.environ.get("RIPPLE_MAKE", "make"))
    if not found:
        raise UsageError("GNU make is not installed (needed to read the Makefile); install it, e.g. "
                         "`apt-get install make`, or point RIPPLE_MAKE at it.")
    return found


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES")}
    env["LC_ALL"] = "C"
    return env


def _make(makefile: Path, args: list[str], extra: str = "") -> subprocess.CompletedProcess[str]:
    """Run make in the Makefile's folder (recipes' paths are relative to it), with an optional extra
    makefile read after the user's one."""
    cmd = [make_program(), "-f", makefile.name]
    with tempfile.TemporaryDirectory(prefix="ripple-make-") as tmp:
        if extra:
            path = Path(tmp, "extra.mk")
            path.write_text(extra)
            cmd += ["-f", str(path)]
        return subprocess.run([*cmd, *args], cwd=makefile.parent, env=_env(), capture_output=True, text=True,
                              errors="surrogateescape", check=False)


def _first_error(stderr: str, makefile: Path) -> str:
    for line in stderr.splitlines():
        if "***" in line or "Error" in line:
            return line.strip()
    return stderr.strip().splitlines()[-1] if stderr.strip() else f"make failed reading {makefile}"


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.split("\n"):
        if line in ("# Variables", "# Files", "# Implicit Rules", "# Directories", "# VPATH Search Paths",
                    "# Pattern-specific Variable Values") or line.startswith("# Finished Make data base"):
            current = out.setdefault(line, [])
            continue
        if current is not None:
            current.append(line)
    return out


def _parse_variables(lines: list[str]) -> dict[str, Variable]:
    """Variables whose origin is the Makefile (or an override); environment and defaults are not
    part of the pipeline's structure."""
    out: dict[str, Variable] = {}
    i = 0
    while i < len(lines):
        m = _ORIGIN.match(lines[i])
        i += 1
        if not m or m["origin"] not in ("makefile", "override", "command line") or not m["file"] or i >= len(lines):
            continue
        line = lines[i]
        if line.startswith("define "):
            name = line.split(None, 1)[1].strip()
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != "endef":
                body.append(lines[i])
                i += 1
            out[name] = Variable(name, "recursive", "\n".join(body), m["file"] or "", int(m["line"] or 0))
            continue
        v = _VAR.match(line)
        if v:
            flavor = "simple" if v["op"] in (":=", "::=") else "recursive"
            out[v["name"]] = Variable(v["name"], flavor, v["value"], m["file"] or "", int(m["line"] or 0))
    return out


def _split_prereqs(rest: str) -> tuple[list[str], list[str]]:
    normal, _, order = rest.partition("|")
    return normal.split(), order.split()


def _logical(lines: list[str]) -> list[str]:
    """Recipe lines as make holds them: a line ending in a backslash continues on the next one."""
    out: list[str] = []
    cont = False
    for raw in lines:
        text = raw[1:] if raw.startswith("\t") else raw
        if cont:
            out[-1] += "\n" + text
        else:
            out.append(text)
        cont = text.endswith("\\") and not text.endswith("\\\\")
    return out


def _parse_files(lines: list[str]) -> tuple[dict[str, Rule], set[str]]:
    rules: dict[str, Rule] = {}
    phony: set[str] = set()
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line == "":
            blocks.append([])
        else:
            blocks[-1].append(line)
    for block in blocks:
        if not block or block[0] == "# Not a target:":
            continue
        # target-specific variables come first ("# makefile (from ...)" + "t: VAR := v"): make has
        # already applied them to the expanded recipes, so only the rule line matters here
        block = [line for line in block if not _TARGET_VAR.match(line)]
        while block and block[0].startswith("# "):
            block = block[1:]
        m = _RULE.match(block[0]) if block else None
        if not m:
            continue
        target = m["target"]
        normal, order = _split_prereqs(m["rest"] or "")
        rule = Rule(target, list(dict.fromkeys(normal)), list(dict.fromkeys(order)), double_colon=m["colons"] == "::")
        recipe: list[str] = []
        for line in block[1:]:
            if line.startswith("\t"):
                recipe.append(line)
            elif "Phony target" in line:
                rule.phony = True
            elif line.startswith("#  Implicit/static pattern stem:"):
                rule.stem = line.split(":", 1)[1].strip().strip("'") or None
            elif line.startswith("#  recipe to execute"):
                loc = re.search(r"from '(.+)', line (\d+)", line)
                if loc:
                    rule.file, rule.line = loc[1], int(loc[2])
                rule.builtin = "(built-in)" in line
        rule.recipe = _logical(recipe)
        if target == ".PHONY":
            phony.update(normal)
        rules[target] = rule
    for name in phony:
        if name in rules:
            rules[name].phony = True
    return rules, phony


def _parse_trace(text: str, targets: set[str]) -> dict[str, list[str]]:
    """Expanded commands per target from ``make -n --trace``; a command continues across lines
    that end in a backslash, as the shell will see it."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    cont = False
    depth = 0  # inside a sub-make's own output ($(MAKE) lines run even under -n): not our commands
    for line in text.split("\n"):
        sub = None if cont else _SUBMAKE.match(line)
        if sub:
            depth += 1 if sub[1] == "Entering" else -1
            continue
        if depth > 0 or (not cont and _CHATTER.match(line)):
            continue
        m = None if cont else _TRACE.match(line)
        if m and m["target"] in targets:
            current = out.setdefault(m["target"], [])
            continue
        if current is None:
            continue
        if cont:
            current[-1] += "\n" + line
        else:
            current.append(line)
        cont = line.endswith("\\") and not line.endswith("\\\\")
    for cmds in out.values():
        while cmds and cmds[-1] == "":
            cmds.pop()
    return out


def explicit_targets(rules: dict[str, Rule]) -> list[str]:
    """Targets the Makefile names itself (no patterns, no special targets), in Makefile order."""
    names = [t for t, r in rules.items() if "%" not in t and not t.startswith(".")]
    return sorted(names, key=lambda t: (rules[t].line or 1 << 30, names.index(t)))


def read_database(makefile: str | os.PathLike[str], goals: list[str] | None = None) -> Database:
    """Read ``makefile`` through GNU make: first its rules as written, then — for ``goals`` (default:
    the default goal and every explicit target) — the rules make would apply and their expanded
    recipes. Raises :class:`UsageError` with make's own message when make cannot read it."""
    path = Path(makefile).resolve()
    if not path.is_file():
        raise UsageError(f"{makefile}: no such Makefile; give the path of a Makefile.")
    first = _make(path, ["-pn", _NOOP], extra=f"{_NOOP}: ;\n.PHONY: {_NOOP}\n")
    if first.returncode != 0:
        raise UsageError(f"{path.name}: GNU make cannot read it: {_first_error(first.stderr, path)}")
    sections = _sections(first.stdout)
    rules, _ = _parse_files(sections.get("# Files", []))
    variables = _parse_variables(sections.get("# Variables", []))
    allvars = _all_variables(sections.get("# Variables", []))
    default_goal = allvars.get(".DEFAULT_GOAL", "").strip()
    wanted = list(goals) if goals else list(dict.fromkeys([g for g in [default_goal] if g] + explicit_targets(rules)))
    unknown = [g for g in wanted if g not in rules and not (path.parent / g).exists()]
    if unknown:
        raise UsageError(f"{path.name} has no target {unknown[0]!r}; its targets are: "
                         f"{', '.join(explicit_targets(rules)[:12]) or 'none'}.")
    # .SECONDARY: under -n, make would list the intermediate files it deletes after the build as if
    # they were commands of the last target; the pipeline keeps them (they are cached results).
    second = _make(path, ["-pn", "-B", "-k", "--trace", *wanted], extra=".SECONDARY:\n")
    db_at = second.stdout.rfind("\n# GNU Make ")  # the last one: sub-makes print theirs first
    trace, dbtext = (second.stdout[:db_at], second.stdout[db_at:]) if db_at >= 0 else (second.stdout, "")
    if second.returncode != 0:
        raise UsageError(f"{path.name}: {_first_error(second.stderr, path)}")
    sections = _sections(dbtext)
    rules, phony = _parse_files(sections.get("# Files", []))
    commands = _parse_trace(trace, set(rules))
    silence = _silence(path, wanted)
    oneshell = ".ONESHELL" in rules
    for name, cmds in commands.items():
        rules[name].commands = cmds
        quiet = silence.get(name, [])
        if oneshell and len(quiet) == 1:
            quiet = quiet * len(cmds)
        rules[name].silent = quiet if len(quiet) == len(cmds) else [False] * len(cmds)
        rules[name].ignore = _ignore_lines(rules[name].recipe, len(cmds))
    version = first.stdout.split("# GNU Make ", 1)[1].split("\n", 1)[0] if "# GNU Make " in first.stdout else "?"
    return Database(
        makefile=path, directory=path.parent, make_version=version, variables=variables, rules=rules,
        default_goal=default_goal, goals=wanted, phony=phony,
        shell=allvars.get("SHELL", "/bin/sh").strip() or "/bin/sh",
        shellflags=allvars.get(".SHELLFLAGS", "-c").strip() or "-c",
        oneshell=".ONESHELL" in rules, silent_all=".SILENT" in rules and not rules[".SILENT"].prerequisites,
        delete_on_error=".DELETE_ON_ERROR" in rules,
    )


def _silence(path: Path, goals: list[str]) -> dict[str, list[bool]]:
    """Which commands make would not echo, per target: ``-n`` prints silent lines too, so this lets
    make "run" every recipe through a stand-in shell that only reports (target, command). A command
    make echoed just before it "ran" is not silent; ``@``, ``$(Q)``-style prefixes and ``.SILENT``
    all show up the same way. ``.SECONDARY`` keeps make from deleting intermediate files."""
    with tempfile.TemporaryDirectory(prefix="ripple-make-") as tmp:
        shell = Path(tmp, "report")
        shell.write_text("#!/bin/sh\nprintf '\\001%s\\001%s\\002\\n' \"$1\" \"$3\"\n")
        shell.chmod(0o700)
        extra = f"%: SHELL = {shell}\n%: .SHELLFLAGS = $@ -c\n.SECONDARY:\n"
        done = _make(path, ["-B", "-k", *goals], extra=extra)
    out: dict[str, list[bool]] = {}
    at = 0
    for m in re.finditer(r"\x01(.*?)\x01(.*?)\x02\n", done.stdout, re.S):
        echo = done.stdout[at:m.start()]
        at = m.end()
        out.setdefault(m[1], []).append(not echo.endswith(m[2] + "\n"))
    return out


def _ignore_lines(recipe: list[str], n: int) -> list[bool]:
    """``-`` prefixes as written; when one recipe line expanded to several commands (a canned
    recipe), the lines cannot be paired and no failure is ignored."""
    flags = [("-" in line[: len(line) - len(line.lstrip("@+- \t"))]) for line in recipe]
    return flags if len(flags) == n else [False] * n


def _all_variables(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        v = _VAR.match(line)
        if v and not line.startswith("#"):
            out[v["name"]] = v["value"]
    return out
