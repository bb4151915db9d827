"""What a failure may say about sensitive data (``@tag(sensitive=True)``).

A node's error message and traceback are kept: in the run history, ``--json``, the dashboard and
OpenLineage ``errorMessage`` facets. A secret that a node interpolates into its exception
(``raise ValueError(f"bad token {token}")``) would be kept with them. So, at the one place every
consumer gets failures from (the run's ``node_failed`` record and event):

* a sensitive node, and every node that takes a sensitive node's value as an input, reports the
  exception *type* and *where* it was raised (file, line, function) only — no message, no source
  lines, no exception text;
* any other failure text has every ``str``/``repr`` of a sensitive value computed in this run
  replaced by ``<sensitive>`` (a node two steps downstream may still quote a derived secret; the
  scrub catches the values Ripple knows are sensitive, not what user code derives from them).

Also here: reading an exception safely. An exception whose ``__str__`` raises must still be
reported as that node's failure, not turn into an internal error of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["MARK", "error_info", "location_only", "real_interrupt", "safe_str", "scrub", "secret_texts"]

MARK = "<sensitive>"
#: texts shorter than this are not scrubbed: replacing every "1" or "ok" would garble the message
MIN_SECRET = 4
_HERE = os.path.dirname(__file__)


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or a note saying it could not be read; never raises."""
    try:
        text = str(exc)
    except BaseException as inner:  # noqa: BLE001 - a broken __str__ may raise anything
        return f"<{type(exc).__name__}.__str__ raised {type(inner).__name__}>"
    return text if isinstance(text, str) else repr(text)


def user_traceback(exc: BaseException) -> str:
    """The traceback from the user's frames on (Ripple's own frames are noise to the user)."""
    import traceback  # only when something failed

    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_HERE)]
        lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
        lines += traceback.format_exception_only(type(exc), exc)
        return "".join(lines)
    except BaseException:  # noqa: BLE001 - never let reporting a failure fail
        return f"{type(exc).__name__}: {safe_str(exc)}\n"


def error_info(exc: BaseException) -> tuple[str, str, str]:
    """``(type name, message, trimmed traceback)`` of a node's exception; never raises."""
    return type(exc).__name__, safe_str(exc) or type(exc).__name__, user_traceback(exc)


def location_only(exc: BaseException | None, etype: str) -> str:
    """A traceback with frames' file, line and function and nothing else (no source, no message)."""
    lines = ["Traceback (most recent call last):"]
    if exc is not None:
        import traceback

        try:
            for f in traceback.extract_tb(exc.__traceback__):
                if not f.filename.startswith(_HERE):
                    lines.append(f'  File "{f.filename}", line {f.lineno}, in {f.name}')
        except BaseException:  # noqa: BLE001
            pass
    lines.append(f"{etype} (message withheld: sensitive data)")
    return "\n".join(lines) + "\n"


def secret_texts(values: Iterable[Any]) -> list[str]:
    """The ``str`` and ``repr`` of each sensitive value, longest first (so a repr that contains the
    str is replaced whole)."""
    out: set[str] = set()
    for v in values:
        for render in (str, repr):
            try:
                text = render(v)
            except BaseException:  # noqa: BLE001
                continue
            if isinstance(text, str) and len(text) >= MIN_SECRET:
                out.add(text)
    return sorted(out, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s in text:
            text = text.replace(s, MARK)
    return text


def real_interrupt(exc: BaseException) -> bool:
    """Whether a ``KeyboardInterrupt`` that came out of a node is the user's Ctrl-C (cancel the run)
    rather than the node raising it (a failure of that node). Only a SIGINT handler that marks its
    interrupts (``ripple``'s own) can tell; under any other handler every interrupt is real."""
    import signal

    try:
        handler = signal.getsignal(signal.SIGINT)
    except (ValueError, OSError):
        return True
    if getattr(handler, "marks_interrupts", False):
        return bool(getattr(exc, "ripple_signal", False))
    return True
