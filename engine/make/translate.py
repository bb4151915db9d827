"""Write a readable Ripple pipeline module from what GNU make says a Makefile means.

One node per target (pattern rules are already expanded by make to the files they apply to), one
parameter per prerequisite: targets by node name, source files as ``File`` defaults (so their
content versions are inputs), order-only prerequisites by existence only. The Makefile's own text —
each rule as written, the variables — stays beside the generated code as comments, so a reader sees
both; constructs that cannot be translated faithfully are listed at the top and in one warning.
"""

from __future__ import annotations

import keyword
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.make.database import SPECIAL_TARGETS, Database, Rule, read_database
from engine.make.recipes import normalize_command

__all__ = ["Translation", "node_name", "translate", "translate_makefile"]

_RESERVED = frozenset({"makefile", "File", "cache", "tag", "Makefile"})


@dataclass
class Translation:
    """The generated module's text plus what the CLI needs to run or explain it."""

    source: str
    database: Database
    nodes: dict[str, str]  # target -> node name
    default_goal: str | None  # node name of make's default goal
    warnings: list[str] = field(default_factory=list)
    folders: set[str] = field(default_factory=set)  # order-only targets, checked for existence each run


def node_name(target: str, taken: set[str]) -> str:
    """A Python identifier for a target: ``build/main.o`` -> ``build_main_o`` (unique in ``taken``)."""
    base = re.sub(r"[^0-9A-Za-z]+", "_", target).strip("_") or "target"
    if base[0].isdigit():
        base = "t_" + base
    if keyword.iskeyword(base) or base in _RESERVED:
        base += "_"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _targets(db: Database) -> list[str]:
    """Targets reachable from the goals, prerequisites first, in the order make visits them."""
    out: list[str] = []
    seen: set[str] = set()

    def visit(t: str) -> None:
        stack = [(t, False)]
        while stack:
            name, done = stack.pop()
            if done:
                out.append(name)
                continue
            if name in seen or name not in db.rules or name in SPECIAL_TARGETS or "%" in name:
                continue
            seen.add(name)
            stack.append((name, True))
            r = db.rules[name]
            for p in reversed([*r.order_only, *r.prerequisites]):
                stack.append((p, False))

    for g in db.goals:
        visit(g)
    return out


def _makefile_text(db: Database) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {}
    for name in {db.makefile.name, *(r.file for r in db.rules.values() if r.file)}:
        p = db.directory / name
        try:
            texts[name] = p.read_text(errors="replace").split("\n")
        except OSError:
            texts[name] = []
    return texts


def _rule_text(rule: Rule, texts: dict[str, list[str]]) -> list[str]:
    """The rule as the Makefile writes it: its header line and recipe (our light parser's only job)."""
    lines = texts.get(rule.file) or []
    if not rule.line or rule.line > len(lines):
        return _header_only(rule.target, texts)
    i = rule.line - 1
    while i > 0 and (lines[i].startswith("\t") or not lines[i].strip()):
        i -= 1
    j = rule.line - 1
    while j + 1 < len(lines) and (lines[j + 1].startswith("\t") or (lines[j].endswith("\\") and lines[j + 1].strip())):
        j += 1
    return lines[i:j + 1]


def _header_only(target: str, texts: dict[str, list[str]]) -> list[str]:
    """A rule without a recipe: its header line(s) where the Makefile names the target."""
    rx = re.compile(r"^(?:[^:#=\t]*\s)?" + re.escape(target) + r"(?:\s[^:#=]*)?\s*::?(?!=)")
    return [f"{name}: {line}" for name, lines in sorted(texts.items()) for line in lines if rx.match(line)][:3]


_UNSUPPORTED = [
    (re.compile(r"\$[({]shell\b"), "$(shell ...) ran once, when the Makefile was read for the translation; "
                                   "its output is baked into the code below and is not re-run"),
    (re.compile(r"\$[({]MAKE[)}]|^\t.*\bmake\s+-C\b"), "recursive make: the sub-make runs as one opaque command, "
                                                       "its own targets are not nodes"),
    (re.compile(r"\$[({]eval\b"), "$(eval ...) was evaluated by make during the translation; the rules it "
                                  "created are translated, the eval itself is not re-evaluated"),
    (re.compile(r"^\s*(?:export|unexport)\b"), "export: variables are not passed to the recipes' environment"),
    (re.compile(r"^\s*v?path\b|^\s*VPATH\s*[:+?]?="), "vpath/VPATH search paths are resolved once, at translation"),
    (re.compile(r"\$[({]MAKECMDGOALS[)}]"), "$(MAKECMDGOALS) had the value of the translation's goals"),
    (re.compile(r"^\t[@\s-]*\+"), "a `+` line runs even under `make -n`, so it also runs whenever the Makefile is read for a translation"),
]


def _scan(db: Database, texts: dict[str, list[str]]) -> list[str]:
    notes: list[str] = []
    for name, lines in sorted(texts.items()):
        for no, line in enumerate(lines, 1):
            if line.lstrip().startswith("#"):
                continue
            for rx, why in _UNSUPPORTED:
                if rx.search(line):
                    notes.append(f"{name}:{no}: {line.strip()}  -- {why}")
    for r in db.rules.values():
        if r.double_colon:
            notes.append(f"{r.file or db.makefile.name}:{r.line}: {r.target}:: -- double-colon rules run as one recipe")
    return notes


def _commands(rule: Rule, oneshell: bool) -> list[str]:
    out = []
    for i, cmd in enumerate(rule.commands):
        silent = rule.silent[i] if i < len(rule.silent) else False
        ignore = rule.ignore[i] if i < len(rule.ignore) else False
        text = cmd if (oneshell and "<<" in cmd) else normalize_command(cmd)
        out.append(("@" if silent else "") + ("-" if ignore else "") + text)
    return out


def _existence_only(db: Database, targets: list[str]) -> set[str]:
    """Targets only ever used as order-only prerequisites (typically folders): make looks at their
    existence, never their content, and so do their nodes."""
    order = {p for t in targets for p in db.rules[t].order_only}
    normal = {p for t in targets for p in db.rules[t].prerequisites}
    return {t for t in order - normal if t in db.rules and not db.rules[t].phony}


def _phony(db: Database, rule: Rule) -> bool:
    if rule.phony:
        return True
    return not rule.has_recipe and not (db.directory / rule.target).exists()


def _node(db: Database, rule: Rule, names: dict[str, str], texts: dict[str, list[str]], existence: set[str]) -> str:
    name = names[rule.target]
    phony = _phony(db, rule)
    params: list[str] = []
    used = set(names.values())
    seen: set[str] = set()
    before: dict[str, list[str]] = {}
    sources: list[str] = []
    for p in rule.order_only:
        if p in existence:
            before[p] = _commands(db.rules[p], db.oneshell)
        elif p in names and names[p] not in seen:
            seen.add(names[p])
            params.append(f"    {names[p]}: Any,  # order-only: built first, its content is ignored")
    for p in rule.prerequisites:
        if p in names:
            if names[p] not in seen:
                seen.add(names[p])
                kind = "None" if _phony(db, db.rules[p]) else "str" if p in existence else "File"
                params.append(f"    {names[p]}: {kind},")
            continue
        pname = node_name(p, set())
        if pname in used or pname in seen:
            pname = node_name(p + "_file", used | seen)
        seen.add(pname)
        sources.append(f"    {pname}: File = makefile.source({p!r}),")
    params += sources  # parameters with defaults come last
    out: list[str] = []
    where = f"{rule.file}:{rule.line}" if rule.file else db.makefile.name
    text = _rule_text(rule, texts)
    kind = "make's built-in rule" if rule.builtin else "pattern rule"
    out.append(f"# {where}" + (f"  ({kind}, stem {rule.stem!r})" if rule.stem else ""))
    out += [("#   " + line.replace("\t", "    ", 1) if line.strip() else "#") for line in text]
    decorators = [f"@tag(make_target={rule.target!r}" + (", make_phony=True" if phony else "")
                  + ', subprocess_reads="declared")']
    if phony and rule.has_recipe:
        decorators.insert(0, '@cache(behavior="disable")  # phony: make runs its recipe every time')
    elif rule.target in existence:
        decorators.insert(0, '@cache(behavior="recompute")  # order-only: checked for existence on every run')
    out += decorators
    ret = "None" if phony else "str" if rule.target in existence else "File"
    sig = f"def {name}(" + ("\n" + "\n".join(params) + "\n" if params else "") + f") -> {ret}:"
    out.append(sig)
    cmds = _commands(rule, db.oneshell)
    declared = [*rule.prerequisites]
    if not rule.has_recipe and phony:
        out.append("    return None")
        return "\n".join(out)
    body: list[str] = []
    cmd_lines = "".join(f"            {c!r},\n" for c in cmds)
    extra = "".join(f"            {k!r}: {v!r},\n" for k, v in before.items())
    call = (f"makefile.run(\n        {rule.target!r},\n        [\n{cmd_lines}        ],\n"
            f"        prerequisites={declared!r},\n        at={where!r},"
            + ("\n        phony=True," if phony else "")
            + (f"\n        order_only={{\n{extra}        }}," if before else "") + "\n    )")
    if rule.target in existence:
        body.append(f"    return makefile.ensure({rule.target!r}, {cmds!r}, at={where!r})")
    elif phony:
        body.append(f"    {call}")
        body.append("    return None")
    else:
        body.append(f"    return {call}")
    out += body
    return "\n".join(out)


_ASSIGN = re.compile(r"^(?:override\s+|export\s+)?(?P<name>[A-Za-z0-9_.-]+)\s*(?::::?=|::?=|\?=|\+=|!=|=)")


def _variables(db: Database, texts: dict[str, list[str]]) -> list[str]:
    """Every assignment as the Makefile writes it (our light parser), with make's value for the
    ``:=`` ones when the text alone does not show it."""
    out = []
    for name in [db.makefile.name, *sorted(set(texts) - {db.makefile.name})]:
        for no, line in enumerate(texts.get(name, []), 1):
            m = _ASSIGN.match(line)
            if not m or line.startswith("\t"):
                continue
            out.append(f"# {name}:{no}: {line.strip()}")
            v = db.variables.get(m["name"])
            if v is not None and v.flavor == "simple" and (v.file, v.line) == (name, no) and not line.rstrip().endswith(v.value):
                out.append(f"#     -> {v.value}")
    return out


def translate(db: Database, *, module_dir: str | os.PathLike[str] | None = None) -> Translation:
    """The pipeline module for ``db``; ``module_dir`` is where it will be written (paths in it are
    relative to that folder, so the module and the Makefile can move together)."""
    targets = _targets(db)
    taken: set[str] = set()
    names = {t: node_name(t, taken) for t in targets}
    texts = _makefile_text(db)
    existence = _existence_only(db, targets)
    warnings = _scan(db, texts)
    rel = os.path.relpath(db.directory, module_dir) if module_dir is not None else "."
    options = [f"shell={db.shell!r}", f"shellflags={db.shellflags!r}"]
    if db.oneshell:
        options.append("oneshell=True")
    if db.delete_on_error:
        options.append("delete_on_error=True")
    goal = names.get(db.default_goal)
    head = [
        f'"""Ripple pipeline translated from {db.makefile.name} by `ripple import-make` (GNU Make {db.make_version}).',
        "",
        "One function per make target: its parameters are the target's prerequisites, its body runs the",
        "recipe with make's shell semantics, and a file target comes back as a File, so what re-runs is",
        "decided by file contents and recipe text, not by mtimes. Phony targets return nothing cacheable.",
        f"Make's default goal is {db.default_goal!r} (node {goal}): what `ripple run` on this module builds",
        "unless --outputs names other targets (every final node would include phony ones such as clean).",
        '"""',
        "",
        "from typing import Any",
        "",
        "from engine import File, cache, tag",
        "from engine.make.recipes import Makefile",
        "",
        f"makefile = Makefile.at(__file__, {rel!r}, {', '.join(options)})",
        f"DEFAULT_GOAL = {goal!r}",
        "",
    ]
    if warnings:
        head.append("# NOT TRANSLATED FAITHFULLY (also reported as a warning):")
        head += [f"#   {w}" for w in warnings]
        head.append("")
    vars_ = _variables(db, texts)
    if vars_:
        head.append("# Variables, as the Makefile writes them (the recipes below are expanded by make):")
        head += vars_
        head.append("")
    nodes = [_node(db, db.rules[t], names, texts, existence) for t in targets]
    source = "\n".join(head) + "\n\n" + "\n\n\n".join(nodes) + "\n"
    if "Any" not in "\n".join(nodes):
        source = source.replace("from typing import Any\n\n", "", 1)
    return Translation(source, db, names, goal, warnings, existence)


def translate_makefile(makefile: str | os.PathLike[str], output: str | os.PathLike[str] | None = None,
                       targets: list[str] | None = None) -> Translation:
    """Read ``makefile`` through GNU make and write the pipeline to ``output`` (if given)."""
    db = read_database(makefile, targets)
    out = Path(output).resolve() if output is not None else None
    t = translate(db, module_dir=out.parent if out is not None else db.directory)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(t.source)
        os.replace(tmp, out)
    return t
