from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from engine.cli._common import _CACHE_DIR_HELP, _STORE_HELP, EPILOG, _check_flag
from engine.errors import UsageError
from engine.settings import resolve
from engine.store import Entry, Store, parse_age, parse_size

if TYPE_CHECKING:
    pass


# ---------------------------------------------------------------------- CLI: ripple cache / ripple runs


def _store_for(args: argparse.Namespace) -> tuple[Store, Any]:
    from engine.cli._select import project_store_root

    driver = None
    root = project_store_root()  # the project's folder, from any folder inside it
    if getattr(args, "pipeline", None):
        from engine.driver import Driver

        driver = Driver({}, args.pipeline)
        root = driver.project_root
    settings = resolve(root, cache_dir=getattr(args, "cache_dir", None))
    args.store_max_size = settings.max_size  # [tool.ripple] max_size: what a bare prune enforces
    path = settings.cache_dir
    if not path.exists():
        raise UsageError(f"no cache at {path}; run a pipeline first or pass --cache-dir.")
    from engine.settings import project_settings, store_security
    from engine.store.keys import load_key

    key_file, _ = store_security(project_settings(root), root)  # the project's key, as runs use it
    return Store(path, history_limit=settings.history_limit, key=load_key(key_file)), driver


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def cache_command(args: argparse.Namespace) -> int:
    from rich.table import Table

    from engine.cli._common import _console

    store, driver = _store_for(args)
    console = _console()
    action = args.cache_command
    with store:
        if action == "stats":
            s = store.stats()
            runs = store.runs(limit=store.history_limit)
            done = sum(r.ran + r.cached for r in runs)
            doc = {"path": str(store.root), "entries": s.entries, "bytes": s.bytes, "inline_bytes": s.inline_bytes,
                   "file_bytes": s.file_bytes, "runs": s.runs,
                   "lifetime_hit_rate": (sum(r.cached for r in runs) / done) if done else None}
            if args.json:
                print(json.dumps(doc))
            else:
                rate = f"{doc['lifetime_hit_rate']:.0%}" if doc["lifetime_hit_rate"] is not None else "n/a"
                console.print(f"[b]{store.root}[/b]: {s.entries} entries, {_fmt_bytes(s.bytes)} "
                              f"({_fmt_bytes(s.file_bytes)} in files), {s.runs} runs in history, hit rate {rate}")
            return 0
        if action == "ls":
            entries = store.ls(getattr(args, "node", None))
            if args.json:
                print(json.dumps([{"key": e.key, "node": e.node, "data_version": e.data_version, "size": e.size,
                                   "compute_seconds": e.compute_seconds, "created": e.created,
                                   "last_used": e.last_used} for e in entries]))
                return 0
            table = Table(show_edge=False)
            for col in ("node", "size", "compute s", "last used", "key"):
                table.add_column(col)
            for e in sorted(entries, key=lambda e: (e.node, -e.created)):
                table.add_row(e.node, _fmt_bytes(e.size), f"{e.compute_seconds:.3f}",
                              time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used)), e.key[:12])
            console.print(table)
            return 0
        if action == "prune":
            store_max_size = getattr(args, "store_max_size", None)
            useless = None
            if driver is not None:
                current = {n: driver.with_cache(args.cache_dir).cache.code_version(node).digest
                           for n, node in driver.graph.nodes.items()}
                driver.cache.close()

                def useless(e: Entry) -> bool:
                    return current.get(e.node) != e.code_version

            max_size = parse_size(args.max_size) if args.max_size else store_max_size
            if max_size is None and not args.older_than and useless is None:
                raise UsageError("`ripple cache prune` needs something to prune by, and removed nothing: "
                                 "--max-size SIZE (evict until the store fits, e.g. 500MB), --older-than AGE "
                                 "(entries unused that long, e.g. 30d), or a PIPELINE (drop entries no current "
                                 "node can use); add --dry-run to see what would go.")
            report = store.prune(max_size=max_size, older_than=parse_age(args.older_than) if args.older_than else None,
                                 useless=useless, dry_run=args.dry_run)
            freed = report.freed_bytes + (0 if args.dry_run else store.gc().freed_bytes)
            if args.json:
                print(json.dumps({"removed": 0 if args.dry_run else report.removed, "freed_bytes": freed,
                                  **({"would_remove": report.removed, "dry_run": True,
                                      "nodes": sorted({e.node for e in store.ls() if e.key in set(report.keys)})}
                                     if args.dry_run else {})}))
            elif args.dry_run:
                doomed = set(report.keys)
                nodes = sorted({e.node for e in store.ls() if e.key in doomed})
                console.print(f"would remove {report.removed} entries, freeing {_fmt_bytes(freed)}"
                              + (f" ({', '.join(nodes)})" if nodes else "") + "; nothing removed (--dry-run)",
                              markup=False, highlight=False)
            else:
                console.print(f"removed {report.removed} entries, freed {_fmt_bytes(freed)}")
            return 0
        if action == "clear":
            n = store.stats().entries
            store.clear()
            console.print(f"cleared {n} entries and the run history") if not args.json else print(json.dumps({"removed": n}))
            return 0
    raise UsageError(f"unknown cache action {action!r}.")


def cmd_cache(args: argparse.Namespace) -> int:

    if getattr(args, "max_size", None) is not None:
        _check_flag("--max-size", args.max_size, "parse_size")
    if getattr(args, "older_than", None) is not None:
        _check_flag("--older-than", args.older_than, "parse_age")

    return cache_command(args)


def register(sub: Any) -> None:
    p = sub.add_parser("cache", help="inspect and maintain the store", epilog=EPILOG,
                       description="Inspect and maintain the cache store (default: .ripple/ in the current folder).")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    csub.required = True
    for name, help_ in (("stats", "entries, bytes, hit rates"), ("ls", "list entries"),
                        ("prune", "evict by size/age and drop entries no node can use"), ("clear", "remove everything")):
        cp = csub.add_parser(name, help=help_, epilog=EPILOG, description=f"ripple cache {name}: {help_}.")
        cp.add_argument("pipeline", nargs="?", help=_STORE_HELP)
        cp.add_argument("--cache-dir", metavar="DIR", help=_CACHE_DIR_HELP)
        cp.add_argument("--json", action="store_true", help="print JSON instead of a table")
        if name == "ls":
            cp.add_argument("--node", help="only entries of this node")
        if name == "prune":
            cp.add_argument("--max-size", metavar="SIZE", help="evict until the store fits, e.g. 500MB, 2G")
            cp.add_argument("--older-than", metavar="AGE", help="evict entries unused for AGE, e.g. 7d, 12h, 30m")
            cp.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    p.set_defaults(func=cmd_cache)
