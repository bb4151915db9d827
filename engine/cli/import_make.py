"""``ripple import-make``: translate a GNU Makefile into a readable pipeline module (or explain it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli._common import EPILOG
from engine.errors import UsageError
from engine.make import TRANSLATED_MARK


def _output(args: argparse.Namespace, makefile: Path) -> Path:
    out = Path(args.output) if args.output else makefile.parent / "pipeline.py"
    if out.exists() and not args.force and not out.read_text(errors="replace").startswith(TRANSLATED_MARK):
        raise UsageError(f"{out} exists and was not written by `ripple import-make`; choose another -o "
                         "or pass --force to overwrite it.")
    return out


def cmd_import_make(args: argparse.Namespace) -> int:
    from engine.make import prepare, summary_warning
    from engine.make.translate import translate_makefile

    makefile = Path(args.makefile)
    if makefile.is_dir():
        makefile = makefile / "Makefile"
    targets = [t for spec in args.target or () for t in spec.split(",") if t.strip()] or None
    if args.explain:
        from engine.make.explain import explain

        if args.output:
            module = _output(args, makefile)
            t = translate_makefile(makefile, module, targets)
        else:
            module, t = prepare(makefile, targets)
        warning = summary_warning(t)
        if warning:
            print(warning, file=sys.stderr)
        cache_dir = args.cache_dir or makefile.resolve().parent / ".ripple"
        goals = [t.nodes[g] for g in targets if g in t.nodes] if targets else None
        print(explain(t, module, cache_dir=cache_dir, goals=goals).render(makefile.name))
        return 0
    module = _output(args, makefile)
    t = translate_makefile(makefile, module, targets)
    warning = summary_warning(t)
    if warning:
        print(warning, file=sys.stderr)
    print(f"wrote {module}: {len(t.nodes)} nodes from {makefile} (make's default goal "
          f"{t.database.default_goal or '-'} is its default output); run it with: ripple run {module}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "import-make", epilog=EPILOG,
        help="translate a GNU Makefile into a Ripple pipeline module (--explain: its DAG and forgotten prerequisites)",
        description="Read MAKEFILE through GNU make itself and write a readable Ripple pipeline: one node per "
                    "target, prerequisites as parameters, recipes run with make's shell semantics. "
                    "`ripple run Makefile` does the same on the fly.")
    p.add_argument("makefile", nargs="?", default="Makefile", help="the Makefile (default: ./Makefile)")
    p.add_argument("-o", "--output", metavar="FILE", help="module to write (default: pipeline.py beside the Makefile)")
    p.add_argument("--target", action="append", metavar="T",
                   help="translate only T and what it needs (repeatable, comma lists; default: every target)")
    p.add_argument("--explain", action="store_true",
                   help="print the DAG and the files recipes read without declaring them (runs the "
                        "pipeline, cached, so every recipe's reads are known)")
    p.add_argument("--cache-dir", metavar="DIR", help="store used by --explain (default .ripple/ beside the Makefile)")
    p.add_argument("--force", action="store_true", help="overwrite an -o file that import-make did not write")
    p.set_defaults(func=cmd_import_make)
