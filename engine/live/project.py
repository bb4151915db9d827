"""Which files and folders are the project's: what a child run, the warm worker and the watcher look at."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from engine.files import folders, in_library

_INTERPRETER = (*folders((sys.prefix, sys.base_prefix)), *(os.path.join(p, "") for p in (sys.prefix, sys.base_prefix)))


def package_files(folder: Path) -> list[Path]:
    """The modules of a package: subfolders count only if they are packages (``data/`` is not)."""
    out = []
    for p in sorted(folder.rglob("*.py")):
        rel = p.relative_to(folder).parts[:-1]
        if "__pycache__" in rel or any(not (folder.joinpath(*rel[: i + 1]) / "__init__.py").exists()
                                       for i in range(len(rel))):
            continue
        out.append(p)
    return out


def project_dirs(pipeline: str, cwd: str) -> tuple[list[Path], Path]:
    """Source files of ``pipeline`` and its project root, found without importing anything."""
    from engine.core.loading import looks_dotted, package_root

    path = Path(cwd, pipeline)
    if pipeline.endswith(".py") or os.sep in pipeline or (path.is_dir() and not looks_dotted(pipeline)):
        path = path.resolve()
        if path.is_file():
            return [path], package_root(path)
        if path.is_dir() and (path / "__init__.py").exists():
            return package_files(path), package_root(path)
        if path.is_dir():
            return sorted(path.glob("*.py")), path
        return [], Path(cwd)
    parts = pipeline.split(".")
    for base in [cwd, *sys.path]:
        if not base:
            base = cwd
        cand = Path(base, *parts)
        if cand.is_dir() and (cand / "__init__.py").exists():
            return package_files(cand.resolve()), package_root(cand.resolve())
        if cand.with_suffix(".py").is_file():
            f = cand.with_suffix(".py").resolve()
            return [f], package_root(f)
    return [], Path(cwd)


def is_library(path: str) -> bool:
    return in_library(path) or path.startswith(_INTERPRETER)
