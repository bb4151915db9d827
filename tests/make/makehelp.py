"""Helpers for the Makefile tests: build a project with GNU make or with its translated pipeline,
and collect what a build produced, for byte-for-byte comparison."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECTS = Path(__file__).parent / "projects"
NAMES = sorted(p.name for p in PROJECTS.iterdir() if (p / "Makefile").exists())

@dataclass
class Run:
    """One Ripple run of a translated Makefile: node -> status ("ran", "cached", "failed", ...)."""

    status: dict[str, str]
    nodes: dict[str, str]  # target -> node
    folders: set[str]  # order-only folder targets: checked (and so "ran") on every run
    error: BaseException | None = None

    def ran(self) -> set[str]:
        """Targets whose node ran, folder checks left out."""
        by_node = {n: t for t, n in self.nodes.items()}
        return {by_node[n] for n, s in self.status.items() if s == "ran" and n in by_node} - self.folders

    def failed(self) -> set[str]:
        by_node = {n: t for t, n in self.nodes.items()}
        return {by_node[n] for n, s in self.status.items() if s == "failed" and n in by_node}

    def hits_only(self) -> bool:
        return not self.ran() and "failed" not in self.status.values()


def make(folder: Path, *goals: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    done = subprocess.run(["make", *goals], cwd=folder, capture_output=True, text=True, env=env, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"make {' '.join(goals)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def ripple(folder: Path, *goals: str, executor: str | None = None) -> Run:
    """Translate ``folder/Makefile`` (as ``ripple run Makefile`` does) and run it with a cache."""
    from engine import Driver
    from engine.make import prepare

    module, t = prepare(folder / "Makefile")
    sys.modules.pop(module.stem, None)
    importlib.invalidate_caches()
    dr = Driver({}, str(module), executor=executor).with_cache(folder / ".ripple")
    dr.plan_events = False
    wanted = [t.nodes[g] for g in goals] if goals else [t.default_goal]
    error = None
    try:
        dr.execute(wanted)
    except Exception as exc:  # noqa: BLE001 - a failed recipe is a result the tests look at
        error = exc
    finally:
        sys.modules.pop(module.stem, None)
    status = {name: rec.status for name, rec in dr.last_run.records.items()}
    return Run(status, dict(t.nodes), set(t.folders), error)


def produced(folder: Path, original: Path) -> dict[str, bytes]:
    """Files in ``folder`` that the build created or changed (relative path -> bytes)."""
    out = {}
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if rel.parts[0] == ".ripple" or not path.is_file():
            continue
        src = original / rel
        data = path.read_bytes()
        if not src.is_file() or src.read_bytes() != data:
            out[str(rel)] = data
    return out


