from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from engine._text import did_you_mean, listing
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








_EXECUTORS = ("sequential", "local", "inline", "threads", "thread", "processes", "process")


def _check_executor(spec: str | None) -> str | None:
    """Reject ``--executor`` values the engine would silently misread (``threads:0``, ``threads:abc``)."""
    if spec is None:
        return None
    name, sep, n = spec.strip().partition(":")
    if name not in _EXECUTORS:
        if name == "dask":
            return spec  # the engine explains that one itself
        raise UsageError(f"unknown executor {spec!r}{did_you_mean(name, ('sequential', 'threads', 'processes'))}; "
                         "use sequential, threads[:N] or processes[:N].")
    if sep:
        if name in ("sequential", "local", "inline"):
            raise UsageError(f"--executor {spec!r}: the sequential executor takes no worker count; use sequential.")
        if not n.isdigit() or int(n) < 1:
            raise UsageError(f"--executor {spec!r}: the worker count must be a whole number ≥ 1, e.g. {name}:4.")
    return spec.strip()


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
    from engine.driver import Driver

    executor = _check_executor(getattr(args, "executor", None))
    max_size = getattr(args, "max_size", None)
    if max_size is not None:
        _check_flag("--max-size", max_size, "parse_size")
    raw, config = _config(args)
    dr = Driver(config, args.pipeline, executor=executor)
    dr._cli_pipeline = args.pipeline
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

    Python-level on purpose: a logging handler the user pointed at stdout keeps writing there.
    """
    real = sys.stdout
    with contextlib.suppress(Exception):
        real.flush()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield real
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()


def _split(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def run_request(args: argparse.Namespace, **extra: Any) -> Any:
    """The ``RunRequest`` an isolated run (watch mode, the dashboard) gets from the command line,
    checked the way ``ripple run`` checks it; ``extra`` sets further fields."""
    from engine.live.protocol import RunRequest

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
        **extra,
    )


def _console() -> Any:
    """A rich console whose closed pipe (``ripple run ... | head``) ends the command with status 0 like
    every other write, instead of rich's own silent ``exit(1)`` (which reads as "a node failed")."""
    from rich.console import Console

    console = Console()

    def on_broken_pipe() -> None:
        raise BrokenPipeError

    console.on_broken_pipe = on_broken_pipe  # type: ignore[method-assign]
    return console


def _pipeline_args(p: argparse.ArgumentParser, *, run: bool = True, execute: bool = True) -> None:
    """``execute=False`` leaves out options the command cannot honour rather than ignoring them."""
    p.add_argument("pipeline", help="a dotted module or package (demo_pipeline), a .py file or a folder")
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
            p.add_argument("--executor", default=None, help="sequential (default), threads[:N] or processes[:N]")
        p.add_argument("--json", action="store_true",
                       help="print one JSON document on stdout instead of the table (pipeline prints go to stderr)")


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
