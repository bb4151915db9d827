"""Resolve a pipeline named on the command line into imported modules.

A pipeline is a dotted module, a package (all its submodules), a ``.py`` path or a folder. Import
failures become a ``LoadError`` naming the user's file and line, never a traceback of Ripple.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine._records import ValueRecord
from engine.core.bytecode import ensure_checked_imports
from engine.errors import LoadError, RippleError, UsageError


@dataclass(slots=True, eq=False, repr=False)
class Pipeline(ValueRecord):
    """The modules of one pipeline and the folder its own code lives in."""

    name: str
    modules: list[types.ModuleType]
    root: Path

    @property
    def files(self) -> list[Path]:
        return [Path(m.__file__) for m in self.modules if getattr(m, "__file__", None)]


def package_root(path: Path) -> Path:
    """The folder that must be on ``sys.path`` to import ``path`` by its dotted name."""
    folder = path if path.is_dir() else path.parent
    while (folder / "__init__.py").exists():
        folder = folder.parent
    return folder


def dotted_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    parts = list(rel.parts)
    if parts[-1] == "__init__.py":
        parts.pop()
    elif parts[-1].endswith(".py"):
        parts[-1] = parts[-1][:-3]
    return ".".join(parts)


def _ensure_on_path(folder: Path) -> None:
    s = str(folder)
    if s not in sys.path:
        sys.path.insert(0, s)


def _import(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except RippleError:
        raise  # e.g. a bad decorator argument: it already names the node and its file:line
    except SyntaxError as exc:
        raise LoadError(
            f"syntax error in pipeline module {name}: {exc.msg}; fix it and save again.",
            file=exc.filename or "",
            line=exc.lineno or 0,
        ) from None
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == name or name.startswith(exc.name + ".")):
            raise UsageError(
                f"no pipeline module named {name!r}; give a dotted module, a package, a .py file or a folder."
            ) from None
        file, line = _user_frame(exc)
        if exc.name and exc.name.split(".")[0] == "hamilton":
            from engine.core.hamilton_graph import missing_hamilton_message

            raise LoadError(missing_hamilton_message(name), file=file, line=line) from None
        raise LoadError(f"importing {name} failed: {exc}; install the package or fix the import.", file=file, line=line) from None
    except SystemExit as exc:
        file, line = _user_frame(exc)
        raise LoadError(
            f"importing {name} called sys.exit({exc.code!r}); a pipeline module must not exit when imported, "
            "put that code under `if __name__ == \"__main__\":`.",
            file=file, line=line,
        ) from None
    except Exception as exc:  # noqa: BLE001 - anything the user's module raises at import
        file, line = _user_frame(exc)
        detail = " ".join(str(exc).split())
        if len(detail) > 300:
            detail = detail[:299] + "…"
        raise LoadError(
            f"importing {name} raised {type(exc).__name__}: {detail}; fix the module and run again.",
            file=file, line=line,
        ) from None


def _user_frame(exc: BaseException) -> tuple[str, int]:
    """The innermost frame outside Python's import machinery and Ripple itself."""
    import traceback  # a failed import only

    here = str(Path(__file__).parent)
    best = ("", 0)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(here) or "importlib" in frame.filename or frame.filename.startswith("<frozen"):
            continue
        best = (frame.filename, frame.lineno or 0)
    return best


def _submodules(pkg: types.ModuleType) -> list[types.ModuleType]:
    import pkgutil  # a package only

    found = [pkg]
    for info in sorted(pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."), key=lambda i: i.name):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or leaf in ("tests", "test", "conftest"):
            continue
        found.append(_import(info.name))
    return found


def load_pipeline(spec: str | os.PathLike[str] | types.ModuleType) -> Pipeline:
    """Import the pipeline ``spec`` names; see the module docstring for the accepted forms."""
    if isinstance(spec, types.ModuleType):
        root = package_root(Path(spec.__file__)) if getattr(spec, "__file__", None) else Path.cwd()
        ensure_checked_imports(root)  # the modules it imports from now on (it is imported already)
        mods = _submodules(spec) if hasattr(spec, "__path__") else [spec]
        return Pipeline(spec.__name__, mods, root)
    text = os.fspath(spec)
    if not text.strip():
        raise UsageError("the pipeline name is empty; give a dotted module, a package, a .py file or a folder.")
    path = Path(text)
    if path.is_file() and path.suffix != ".py":
        raise UsageError(f"pipeline {text} is not a .py file; give a Python module (.py), a package, a folder "
                         "of .py files or a dotted module name.")
    # a folder without __init__.py is a folder pipeline however it is named (``shop``, ``proj/shop``,
    # ``.``): its modules import each other by their own names, never as a namespace package's parts
    if text.endswith(".py") or os.sep in text or (os.altsep and os.altsep in text) \
            or path.is_dir() and (not looks_dotted(text) or not (path / "__init__.py").exists()):
        path = path.resolve()
        if not path.exists():
            raise UsageError(f"pipeline path {text} does not exist; give a dotted module, a package, a .py file or a folder.")
        if path.is_file() and path.suffix != ".py":
            raise UsageError(f"pipeline {text} is not a .py file; give a Python module (.py), a package, a folder "
                             "of .py files or a dotted module name.")
        root = package_root(path)
        _ensure_on_path(root)
        ensure_checked_imports(root)  # bytecode always matches the source versioned
        drop_racy_pycs(_code_folders(path if path.is_dir() else path.parent))
        if path.is_file():
            module = _import(dotted_name(path, root))
            return Pipeline(module.__name__, [module], root)
        if (path / "__init__.py").exists():
            pkg = _import(dotted_name(path, root))
            return Pipeline(pkg.__name__, _submodules(pkg), root)
        _ensure_on_path(path)
        mods = [_import(p.stem) for p in sorted(path.glob("*.py")) if not p.name.startswith("_")]
        if not mods:
            raise UsageError(f"folder {text} holds no .py pipeline modules.")
        return Pipeline(path.name, mods, path)
    if not looks_dotted(text):
        raise UsageError(f"{text!r} is not a module name, a .py file or a folder.")
    _ensure_on_path(Path.cwd())
    if text.split(".")[0] not in sys.modules:
        folders = _folders_of_dotted(text)
        if folders:
            ensure_checked_imports(package_root(min(folders, key=lambda f: len(f.parts))))
        drop_racy_pycs(folders)
    module = _import(text)
    mods = _submodules(module) if hasattr(module, "__path__") else [module]
    file = getattr(module, "__file__", None)
    root = package_root(Path(file)) if file else Path.cwd()
    return Pipeline(text, mods, root)


def drop_racy_pycs(folders: Iterable[Path]) -> None:
    """Delete bytecode that cannot tell an edit from the source it was compiled from.

    A ``.pyc`` is validated by the source's mtime in whole seconds and its size, so an edit within
    the same second that keeps the size (``3.5`` -> ``3.0``) would silently run the old code while
    the versioner reads the new source — a stale result under a fresh key. A pyc written in the
    same second as its source's recorded mtime is "racy" (as git calls it) and is removed, so the
    import recompiles. Hash-based pycs validate by content and are kept.
    """
    for folder in folders:
        try:
            entries = list(os.scandir(folder / "__pycache__"))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith(".pyc"):
                continue
            try:
                with open(entry.path, "rb") as fh:
                    head = fh.read(16)
                if len(head) < 16 or int.from_bytes(head[4:8], "little") != 0:
                    continue
                recorded = int.from_bytes(head[8:12], "little")
                if entry.stat().st_mtime < recorded + 1.0:
                    os.unlink(entry.path)
            except OSError:
                continue


def _code_folders(path: Path) -> set[Path]:
    """``path``'s folder, or every folder of the package at ``path`` (for ``drop_racy_pycs``)."""
    if path.is_file():
        return {path.parent}
    out = {path}
    for dirpath, dirnames, _ in os.walk(path):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "__pycache__")) and d != "node_modules"]
        out.add(Path(dirpath))
    return out


def _folders_of_dotted(name: str) -> set[Path]:
    import importlib.util

    try:
        spec = importlib.util.find_spec(name.split(".")[0])
    except (ImportError, ValueError):
        return set()
    if spec is None or not spec.origin or not spec.has_location:
        return set()
    origin = Path(spec.origin)
    return _code_folders(origin.parent if origin.name == "__init__.py" else origin)


def looks_dotted(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))
