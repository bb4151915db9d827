"""Everyday flags shared by several commands: ``--select``/``--exclude``, the project's defaults from
``[tool.ripple]`` (a bare ``ripple run`` works in a project) and run control (``-j``,
``--fail-fast``/``--keep-going``, ``-q``, ``-o DIR``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from engine.errors import UsageError

SELECT_HELP = ("nodes to work on (repeatable; spaces or commas make a union): NAME, tag:KEY=VALUE, "
               "module:NAME, +NAME (with its ancestors), NAME+ (with its descendants)")


def add_selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--select", action="append", metavar="SEL", help=SELECT_HELP)
    p.add_argument("--exclude", action="append", metavar="SEL",
                   help="leave these out of the selection (same syntax as --select)")


def add_run_control_args(p: argparse.ArgumentParser, *, outputs_dir: bool = True) -> None:
    p.add_argument("-j", "--jobs", type=_jobs, metavar="N",
                   help="run up to N nodes at once (--executor threads:N), or on a Dask scheduler: -j tcp://host:8786")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--keep-going", dest="fail_fast", action="store_false", default=False,
                      help="after a node fails, still run every node that does not depend on it (the default)")
    mode.add_argument("--fail-fast", dest="fail_fast", action="store_true",
                      help="after the first failure, start no further node")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only the summary line and errors (no node table, no progress)")
    if outputs_dir:
        p.add_argument("-o", "--output-dir", metavar="DIR",
                       help="write each requested output to DIR (frames as .parquet or .csv, text as .txt, "
                            "JSON-able values as .json, anything else as .pickle)")


#: the targets ``engine.lineage.tracker.check_target`` accepts (here, so that defining the flag
#: does not import the lineage side)
TARGET_HELP = ("send OpenLineage events: console (JSON lines on stderr), file:PATH (JSON lines appended), "
               "an http(s) URL (a collector such as Marquez), or openlineage (the OpenLineage configuration); "
               "default: [tool.ripple] lineage")


def add_lineage_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lineage", metavar="TARGET", default=None, help=TARGET_HELP)


def lineage_hooks(args: argparse.Namespace) -> list[list[str]]:
    """``RunRequest.driver_hooks`` for ``--lineage``: the watch/tui child attaches the listener."""
    target = getattr(args, "lineage", None)
    if not target:
        return []
    from engine.lineage.tracker import check_target, require_client

    require_client()
    return [["engine.lineage.tracker:attach_spec", check_target(target)]]


def attach_lineage(dr: Any, args: argparse.Namespace) -> Any:
    """``ripple run --lineage TARGET``: a listener sending this run's OpenLineage events."""
    target = getattr(args, "lineage", None)
    if not target:
        return None
    from engine.lineage.tracker import attach, check_target

    return attach(dr, check_target(target))


def _jobs(text: str) -> int | str:
    """N threads, or a Dask scheduler to run on (``-j tcp://host:8786``, ``-j dask``, ``-j dask=ADDRESS``)."""
    if text.startswith(("dask", "tcp://", "tls://", "inproc://")):
        return text if text.startswith("dask") else f"dask={text}"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of jobs or a Dask scheduler address, "
                                         "e.g. -j 4 or -j tcp://scheduler:8786") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 or more jobs, e.g. -j 4")
    return n


def apply_run_control(args: argparse.Namespace) -> None:
    """``-j N`` becomes ``--executor threads:N`` (``-j 1``: sequential), ``-j ADDRESS`` the Dask executor
    on that scheduler; ``-j`` and ``--executor`` together are an error."""
    jobs = getattr(args, "jobs", None)
    if jobs is None:
        return
    if getattr(args, "executor", None):
        raise UsageError(f"-j {jobs} and --executor {args.executor} both choose the executor; give one of them.")
    args.executor = jobs if isinstance(jobs, str) else "sequential" if jobs == 1 else f"threads:{jobs}"


def selected_outputs(dr: Any, args: argparse.Namespace, *, allow_inputs: bool = True) -> list[str]:
    """The outputs of a command: ``--outputs`` and/or the ``--select``/``--exclude`` selection (a
    union of both when given together), else every final node."""
    from engine.core import selection
    from engine.core.inputs import resolve_outputs

    sel, exc = getattr(args, "select", None), getattr(args, "exclude", None)
    if not selection.requested(sel, exc):
        return resolve_outputs(dr, args.outputs, allow_inputs=allow_inputs)
    names = selection.outputs_for(dr.graph, sel, exc)
    if args.outputs:
        names = [*resolve_outputs(dr, args.outputs, allow_inputs=allow_inputs), *names]
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------------------- project defaults


def apply_project_defaults(args: argparse.Namespace, cwd: Path | None = None) -> None:
    """A command given no PIPELINE uses ``[tool.ripple] pipeline`` of the project it runs in (found
    from any folder inside it), with that table's ``outputs``, ``config`` and ``lineage`` as
    defaults the flags override."""
    if not getattr(args, "needs_pipeline", False):
        return
    from engine.settings import find_project_root, project_defaults

    root = find_project_root(cwd)
    defaults = project_defaults(root) if root is not None else {}
    if "lineage" in defaults and hasattr(args, "lineage") and args.lineage is None:
        args.lineage = defaults["lineage"]  # [tool.ripple] lineage: every run in the project emits
    if args.pipeline is None:
        if "pipeline" not in defaults:
            where = f"{root / 'pyproject.toml'} has no" if root is not None else "no pyproject.toml with"
            raise UsageError(f"`ripple {args.command}` needs a PIPELINE (e.g. `ripple {args.command} demo_pipeline`); "
                             f"{where} [tool.ripple] pipeline = \"...\" to use by default.")
        args.pipeline = _located(defaults["pipeline"], root, cwd or Path.cwd())
    elif root is None or args.pipeline != defaults.get("pipeline"):
        return  # another pipeline than the project's: its defaults do not apply
    _fill_defaults(args, defaults)


def _fill_defaults(args: argparse.Namespace, defaults: dict[str, Any]) -> None:
    from engine.core import selection

    picked = selection.requested(getattr(args, "select", None), getattr(args, "exclude", None))
    if "outputs" in defaults and getattr(args, "outputs", "") is None and not picked:
        args.outputs = ",".join(defaults["outputs"])
    if "config" in defaults and hasattr(args, "config"):
        import json

        given = {item.partition("=")[0].strip() for item in args.config or ()}
        extra = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in defaults["config"].items()
                 if k not in given]
        args.config = [*extra, *(args.config or [])]



def _located(spec: str, root: Path | None, cwd: Path) -> str:
    """``[tool.ripple] pipeline`` is relative to the project: from a subfolder, a module or path of
    the project is given by its path so it imports the same way."""
    if root is None or cwd.resolve() == root:
        return spec
    candidate = root / spec
    if candidate.exists():
        return str(candidate)
    dotted = root.joinpath(*spec.split("."))
    for path in (dotted, dotted.with_suffix(".py")):
        if path.exists():
            return str(path)
    return spec


def project_store_root(cwd: Path | None = None) -> Path:
    """Where ``runs``/``cache`` look for the store when given no pipeline: the project's folder
    (found from any folder inside it), else the current folder."""
    from engine.settings import find_project_root

    here = cwd or Path.cwd()
    return find_project_root(here) or here


def stdout_is_terminal() -> bool:
    import sys

    try:
        return sys.stdout.isatty() and not os.environ.get("CI")
    except (AttributeError, ValueError):
        return False
