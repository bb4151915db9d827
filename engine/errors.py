"""Errors users see. Each carries where the problem is and what to do, so the CLI can print one
sentence and the right exit status instead of a traceback of Ripple's internals."""

from __future__ import annotations


class RippleError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def __init__(self, message: str, *, file: str = "", line: int = 0, node: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.node = node

    @property
    def location(self) -> str:
        if not self.file:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        loc = self.location
        return f"{loc}: {self.message}" if loc else self.message


class UsageError(RippleError):
    """Bad command-line or API usage (unknown output, bad --input syntax, missing inputs)."""


class GraphError(RippleError):
    """The pipeline's functions do not form a valid graph (cycle, duplicate, type mismatch, ...)."""


class LoadError(RippleError):
    """A pipeline module could not be imported (syntax error, import error)."""


class NodeFailed(RippleError):
    """A node raised; ``__cause__`` is the user's exception."""

    exit_code = 1
