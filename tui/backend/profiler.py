"""Profiling a node for the dashboard: ``ripple profile --json`` in a fresh interpreter.

The dashboard never imports user code (a crashing node must not take it down, and a profile
must see the code as it is on disk), so the profile runs as a child process, the way a run
does. This module has no widgets; the app calls :func:`profile_in_child` from a thread worker
and posts the result back to the UI thread as a message.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

#: a profile runs the node once (twice with pyinstrument); longer than this is given up
TIMEOUT_SECONDS = 600.0


@dataclass(slots=True)
class ProfileResult:
    """Either ``doc`` (the ``--json`` document) or ``error`` (one sentence to show)."""

    node: str
    doc: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def hot_lines(self, file: str) -> dict[int, float]:
        import os

        real = os.path.realpath(file)
        return {int(h["line"]): float(h["share"]) for h in self.doc.get("lines", ())
                if os.path.realpath(h["file"]) == real}


def profile_command(settings: Any, node: str) -> list[str]:
    cmd = [sys.executable, "-m", "engine.cli", "profile", settings.pipeline, node, "--json"]
    for k, v in (getattr(settings, "config", None) or {}).items():
        cmd += ["--config", f"{k}={v}"]
    for k, v in (getattr(settings, "inputs", None) or {}).items():
        cmd += ["--input", f"{k}={v}"]
    if getattr(settings, "cache_dir", None):
        cmd += ["--cache-dir", settings.cache_dir]
    return cmd


def profile_in_child(settings: Any, node: str, timeout: float = TIMEOUT_SECONDS) -> ProfileResult:
    """Blocking: call it from a worker thread, never from the UI thread."""
    try:
        proc = subprocess.run(profile_command(settings, node), capture_output=True, text=True, timeout=timeout,
                              cwd=getattr(settings, "cwd", None) or None)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ProfileResult(node, error=f"could not profile {node}: {exc}")
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode == 0:
        try:
            return ProfileResult(node, doc=json.loads(last))
        except ValueError:
            pass
    err = [x for x in proc.stderr.strip().splitlines() if x.strip()]
    text = err[-1] if err else f"ripple profile exited with status {proc.returncode}"
    return ProfileResult(node, error=text.removeprefix("ripple: error: ").removeprefix("ripple: "))
