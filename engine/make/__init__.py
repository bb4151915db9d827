"""Coming from Make: read a GNU Makefile through make itself and run it as a Ripple pipeline.

``ripple import-make`` writes the translation as a readable module; ``ripple run Makefile`` writes
it under the project's ``.ripple/make/`` folder and runs that module, so watch mode and the
dashboard, which run pipelines in child processes, only ever see a ``.py`` path. Imported by
``engine.cli`` only; submodules load lazily so ``import engine`` never pays for this room.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine._records import ValueRecord

if TYPE_CHECKING:
    from engine.make.translate import Translation

__all__ = ["TRANSLATED_MARK", "CommandLinePipeline", "command_line_pipeline", "generated_module", "is_makefile",
           "prepare", "summary_warning"]

TRANSLATED_MARK = '"""Ripple pipeline translated from '
"""How every module ``ripple import-make`` writes begins (so it is known again, and never
overwritten by mistake when it is not one)."""
_GOAL = re.compile(r"^DEFAULT_GOAL = '([A-Za-z_][A-Za-z0-9_]*)'$", re.M)


@dataclass(eq=False, repr=False)
class CommandLinePipeline(ValueRecord):
    """What the CLI loads for a PIPELINE argument that is a Makefile or a translated module."""

    pipeline: str  # the .py module to load
    default_outputs: str | None  # make's default goal, as a node name
    cache_dir: str | None  # the Makefile's .ripple/ (None: the module's own default applies)
    warning: str | None = None
    #: watch mode: the Makefile is the source; this argv translates it again (see ``RunRequest``)
    sources: list[str] = field(default_factory=list)
    regenerate: list[str] = field(default_factory=list)


#: how watch mode translates a saved Makefile again, in a child (the live room never imports this one)
_REGENERATE = ("import sys\nfrom engine.errors import RippleError\nfrom engine.make import prepare\n"
               "try:\n    prepare(sys.argv[1])\nexcept RippleError as exc:\n    sys.exit(str(exc))\n")


def command_line_pipeline(spec: str) -> CommandLinePipeline | None:
    """A Makefile is translated (see :func:`prepare`); a module ``ripple import-make`` wrote keeps
    make's default goal as its default outputs, since every final node would include ``clean``.
    ``None`` for any other pipeline argument."""
    if is_makefile(spec) and os.path.isfile(spec):
        module, t = prepare(spec)
        makefile = os.path.abspath(spec)
        return CommandLinePipeline(str(module), t.default_goal, os.path.join(os.path.dirname(makefile), ".ripple"),
                                   summary_warning(t), [makefile], [sys.executable, "-c", _REGENERATE, makefile])
    if spec.endswith(".py") and os.path.isfile(spec):
        with open(spec, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
        if head.startswith(TRANSLATED_MARK):
            m = _GOAL.search(head)
            return CommandLinePipeline(spec, m[1] if m else None, None)
    return None


def is_makefile(path: str | os.PathLike[str]) -> bool:
    """``Makefile``, ``GNUmakefile``, ``makefile`` or ``*.mk``: names a pipeline argument may use
    to mean "this is a Makefile, translate it first"."""
    name = os.path.basename(os.fspath(path))
    return name in ("Makefile", "GNUmakefile", "makefile") or name.endswith((".mk", ".Makefile", "Makefile"))


def generated_module(makefile: str | os.PathLike[str]) -> Path:
    """Where ``ripple run Makefile`` keeps the translation: ``<Makefile's folder>/.ripple/make/``."""
    mk = Path(makefile).resolve()
    stem = "".join(c if c.isalnum() else "_" for c in mk.name)
    return mk.parent / ".ripple" / "make" / f"{stem}.py"


def prepare(makefile: str | os.PathLike[str], targets: list[str] | None = None) -> tuple[Path, Translation]:
    """Translate ``makefile`` into :func:`generated_module`, rewriting it only when the text changed
    (make's view of a Makefile also depends on the files its wildcards match, so it is re-read
    every time; an unchanged translation keeps every cached result)."""
    from engine.make.database import read_database
    from engine.make.translate import translate

    out = generated_module(makefile)
    db = read_database(makefile, targets)
    t = translate(db, module_dir=out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists() or out.read_text() != t.source:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(t.source)
        os.replace(tmp, out)
    return out, t


def summary_warning(t: Translation) -> str | None:
    """The one warning listing what could not be translated faithfully (``None`` when all was)."""
    if not t.warnings:
        return None
    items = "\n".join(f"  {w}" for w in t.warnings)
    return (f"warning: {len(t.warnings)} construct(s) in {t.database.makefile.name} are not translated "
            f"faithfully (kept as comments at the top of the generated module):\n{items}")
