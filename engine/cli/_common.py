from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from engine._text import did_you_mean, listing
from engine.cli._select import add_selection_args, lineage_hooks
from engine.core.inputs import check_known_names, parse_value, pipeline_label, typed_value
from engine.errors import UsageError

EPILOG = "Exit status: 0 success, 1 a node failed, 2 usage or graph errors."




def _kv(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--{what} {item!r} is not NAME=VALUE; write e.g. --{what} region=north.")
        out[key.strip()] = val
    return out








_EXECUTORS = ("sequential", "local", "inline", "threads", "thread", "processes", "process", "dask")


def _check_executor(spec: str | None) -> str | None:
    """Reject ``--executor`` values the engine would silently misread (``threads:0``, ``threads:abc``)."""
    if spec is None:
        return None
    if spec.strip().startswith("dask="):
        if not spec.strip()[5:]:
            raise UsageError(f"--executor {spec!r}: give the scheduler's address, e.g. dask=tcp://host:8786.")
        return spec.strip()
    name, sep, n = spec.strip().partition(":")
    if name not in _EXECUTORS:
        raise UsageError(f"unknown executor {spec!r}{did_you_mean(name, ('sequential', 'threads', 'processes', 'dask'))}; "
                         "use sequential, threads[:N], processes[:N] or dask[=ADDRESS].")
    if sep:
        if name in ("sequential", "local", "inline"):
            raise UsageError(f"--executor {spec!r}: the sequential executor takes no worker count; use sequential.")
        if not n.isdigit() or int(n) < 1:
            raise UsageError(f"--executor {spec!r}: the worker count must be a whole number ≥ 1, e.g. {name}:4.")
    return spec.strip()


def _print_dask_link(event: Any) -> None:
    """``ripple run --executor dask`` says where the cluster's dashboard is (watch and tui show it too)."""
    if event.kind == "message" and event.text.startswith("Dask dashboard:"):
        print(f"ripple: {event.text}", file=sys.stderr)


def _check_nonempty(driver: Any) -> None:
    if not driver.graph.nodes:
        files = [str(getattr(m, "__file__", "") or m.__name__) for m in driver.modules]
        raise UsageError(
            f"{pipeline_label(driver)} defines no nodes (no public top-level functions in "
            f"{listing(files, 3)}); point ripple at the module or folder that holds your pipeline functions."
        )


def _config(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, Any]]:
    raw = _kv(getattr(args, "config", None), "config")
    return raw, {k: parse_value(v) for k, v in raw.items()}


def _retype_config(dr: Any, raw: dict[str, str]) -> None:
    """A config value that feeds an annotated input is typed like ``--input`` (``--config n=abc`` for
    ``n: int`` is a usage error, not a TypeError inside the node)."""
    externals = dr.graph.externals
    for k, v in raw.items():
        ext = externals.get(k)
        if ext is not None and isinstance(ext.type, type):
            dr.config[k] = typed_value("config", k, v, ext.type)


def _driver(args: argparse.Namespace, *, cache: bool = True) -> Any:
    from engine.cli._select import apply_run_control
    from engine.driver import Driver

    apply_run_control(args)  # -j N
    executor = _check_executor(getattr(args, "executor", None))
    max_size = getattr(args, "max_size", None)
    if max_size is not None:
        _check_flag("--max-size", max_size, "parse_size")
    raw, config = _config(args)
    dr = Driver(config, args.pipeline, executor=executor)
    dr._cli_pipeline = args.pipeline
    dr.fail_fast = bool(getattr(args, "fail_fast", False))
    if executor and executor.startswith("dask") and not getattr(args, "json", False):
        dr.add_listener(_print_dask_link)
    _check_nonempty(dr)
    _retype_config(dr, raw)
    recompute = _split(getattr(args, "recompute", None))
    check_known_names(dr, recompute, "--recompute", allow_inputs=False)
    if cache and not getattr(args, "no_cache", False):
        behaviors = {n: "recompute" for n in recompute}
        dr.with_cache(getattr(args, "cache_dir", None), behaviors=behaviors, max_size=max_size)
    return dr


def _check_flag(flag: str, value: str, parser: str) -> None:
    from engine import store

    try:
        getattr(store, parser)(value)
    except UsageError as exc:
        raise UsageError(f"{flag} {value!r}: {exc.message.split(': ', 1)[-1]}.") from None


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[IO[str]]:
    """While a ``--json`` command runs, what the pipeline prints (at import, in nodes, in forked
    ``--executor processes`` workers, which inherit ``sys.stdout``) goes to stderr, so stdout carries
    exactly one JSON document. Yields the real stdout to write that document to.

    Below Python too: when stdout is a real file descriptor, fd 1 itself points at stderr for the
    duration (``os.write(1, ...)``, C extensions and subprocesses that print would otherwise corrupt
    the document), and the document goes to a saved copy of the original fd 1.
    """
    real = sys.stdout
    with contextlib.suppress(Exception):
        real.flush()
    fd = saved = None
    with contextlib.suppress(Exception):
        fd = real.fileno()
        saved = os.dup(fd)
        sys.stderr.flush()
        os.dup2(sys.stderr.fileno(), fd)
    out: IO[str] = real if saved is None else os.fdopen(os.dup(saved), "w", encoding="utf-8", closefd=True)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield out
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        if saved is not None and fd is not None:
            with contextlib.suppress(Exception):
                out.flush()
                out.close()
            os.dup2(saved, fd)
            os.close(saved)


def _split(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def run_request(args: argparse.Namespace, **extra: Any) -> Any:
    """The ``RunRequest`` an isolated run (watch mode, the dashboard) gets from the command line,
    checked the way ``ripple run`` checks it; ``extra`` sets further fields."""
    from engine.cli._select import apply_run_control
    from engine.live.protocol import RunRequest

    apply_run_control(args)  # -j N
    spec = getattr(args, "outputs", None)
    outputs = _split([spec]) if spec is not None else None
    if spec is not None and not outputs:
        raise UsageError(f"--outputs {spec!r} names no node; give e.g. --outputs a,b "
                         "or leave it out to compute every final node.")
    return RunRequest(
        pipeline=args.pipeline,
        outputs=outputs,
        inputs=_kv(getattr(args, "input", None), "input"),
        config=_kv(getattr(args, "config", None), "config"),
        cache_dir=getattr(args, "cache_dir", None),
        no_cache=bool(getattr(args, "no_cache", False)),
        recompute=_split(getattr(args, "recompute", None)),
        cwd=os.getcwd(),
        executor=_check_executor(getattr(args, "executor", None)),
        max_size=getattr(args, "max_size", None),
        select=list(getattr(args, "select", None) or []),
        driver_hooks=lineage_hooks(args),
        exclude=list(getattr(args, "exclude", None) or []),
        generated_from=list(getattr(args, "generated_from", None) or []),
        regenerate=list(getattr(args, "regenerate", None) or []),
        **extra,
    )


def _console(*, stderr: bool = False, plain: bool = False) -> Any:
    """A rich console whose closed pipe (``ripple run ... | head``) ends the command with status 0 like
    every other write, instead of rich's own silent ``exit(1)`` (which reads as "a node failed").

    ``plain``: when rich would not style the stream anyway (not a terminal, nothing forcing one), a
    :class:`PlainConsole` instead: the same text without importing rich (~12 ms of a warm run)."""
    if plain and not _styled(sys.stderr if stderr else sys.stdout):
        return PlainConsole(stderr=stderr)
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = 10_000  # piped: lines are not wrapped at rich's default 80 columns

    def on_broken_pipe() -> None:
        raise BrokenPipeError

    console.on_broken_pipe = on_broken_pipe  # type: ignore[method-assign]
    return console


def _styled(stream: Any) -> bool:
    """Whether rich would treat ``stream`` as a terminal (its ``Console.is_terminal`` rules)."""
    env = os.environ
    if env.get("TTY_COMPATIBLE") in ("0", "1"):
        return env["TTY_COMPATIBLE"] == "1"
    if env.get("FORCE_COLOR") is not None:
        return env["FORCE_COLOR"] != ""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class PlainConsole:
    """What ``ripple run`` needs of a rich ``Console`` when the output is not a terminal: lines of
    plain text, unwrapped (as :func:`_console` sets rich up for a pipe), written to the stream of
    the moment (a redirect, pytest's capture)."""

    is_terminal = False
    plain = True

    def __init__(self, *, stderr: bool = False) -> None:
        self.stderr = stderr
        self.width = int(os.environ.get("COLUMNS") or 10_000)

    def print(self, *objects: Any, **_: Any) -> None:
        out = sys.stderr if self.stderr else sys.stdout
        out.write(" ".join(str(o) for o in objects) + "\n")


class _PipelineArg(argparse.Action):
    """PIPELINE as given, except a Makefile (``Makefile``, ``GNUmakefile``, ``*.mk``): that is
    translated first (``engine.make``) and every command loads the generated module under
    ``.ripple/make/`` beside it, so watch mode and the dashboard's child processes just get a .py
    path. Its default outputs become make's default goal (also for a module ``ripple import-make``
    wrote) and its store the Makefile's ``.ripple/``; flags on the command line still win."""

    def __init__(self, *args: Any, run: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.run = run

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from engine.make import command_line_pipeline

        if values is None:  # left out: [tool.ripple] pipeline, filled in by apply_project_defaults
            setattr(namespace, self.dest, None)
            return
        try:
            found = command_line_pipeline(str(values))
        except UsageError as exc:  # raised while argparse runs: report it the way main() does
            print(f"ripple: error: {_one_line(str(exc))}", file=sys.stderr)
            raise SystemExit(2) from None
        if found is None:
            setattr(namespace, self.dest, values)
            return
        if found.warning:
            print(found.warning, file=sys.stderr)
        if self.run and getattr(namespace, "outputs", "") is None and found.default_outputs:
            namespace.outputs = found.default_outputs
        if found.cache_dir and getattr(namespace, "cache_dir", "") is None and not os.environ.get("RIPPLE_CACHE_DIR"):
            namespace.cache_dir = found.cache_dir
        namespace.generated_from, namespace.regenerate = found.sources, found.regenerate
        setattr(namespace, self.dest, found.pipeline)


def _pipeline_args(p: argparse.ArgumentParser, *, run: bool = True, execute: bool = True,
                   select: bool = False) -> None:
    """``execute=False`` leaves out options the command cannot honour rather than ignoring them;
    ``select=True`` adds ``--select``/``--exclude`` (engine.core.selection)."""
    p.add_argument("pipeline", action=_PipelineArg, run=run, nargs="?", default=None,
                   help="a dotted module or package (demo_pipeline), a .py file or a folder, or a Makefile "
                        "(default: [tool.ripple] pipeline of the project's pyproject.toml)")
    p.add_argument("--config", action="append", metavar="K=V",
                   help="config value (repeatable); JSON literals are typed (3, true, [1,2]), anything else is text")
    if run:
        p.add_argument("--input", action="append", metavar="K=V",
                       help="value of an external input (repeatable); typed by the parameter's annotation")
        p.add_argument("--outputs", metavar="A,B", help="outputs to compute (default: every final node)")
        p.add_argument("--cache-dir", metavar="DIR", help="store location (default .ripple/ beside the pipeline; env RIPPLE_CACHE_DIR)")
        p.add_argument("--no-cache", action="store_true", help="run without reading or writing the cache")
        p.add_argument("--recompute", action="append", metavar="NODE", help="re-run NODE even if cached (repeatable, comma lists)")
        if execute:
            p.add_argument("--max-size", metavar="SIZE", help="cache size budget enforced after the run, e.g. 2G")
            p.add_argument("--executor", default=None,
                          help="sequential (default), threads[:N], processes[:N], dask[:N] (a local cluster) "
                               "or dask=ADDRESS (a running Dask scheduler)")
        p.add_argument("--json", action="store_true",
                       help="print one JSON document on stdout instead of the table (pipeline prints go to stderr)")
    if select:
        add_selection_args(p)
    p.set_defaults(needs_pipeline=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


_STORE_HELP = "pipeline whose store to use (default: the .ripple/ store of the current folder)"
_CACHE_DIR_HELP = "store location (default .ripple/; env RIPPLE_CACHE_DIR)"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
