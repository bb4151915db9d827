"""Record a pipeline's real event stream to a file and play one back in the dashboard (the fixtures of
the snapshot tests and the bench), and read the screen as plain text.

``python -m tui.recording record PIPELINE OUT`` / ``python -m tui.recording play FILE``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tui.backend.replay import GRAPH_TYPE, ReplayController


def screen_text(app: Any) -> str:
    """The screen as plain text (for the README and for asserting on what a user would read)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip).rstrip() for strip in strips)


async def settle(pilot: Any) -> None:
    """Drive a replayed dashboard to rest (in Pilot tests and benches): wait for the controller to
    start, drain everything buffered, and let the screen reach its final layout."""
    app = pilot.app
    for _ in range(200):
        if ("start", None) in app.controller.calls:
            break
        await pilot.pause(0.01)
    for _ in range(50):
        if not len(app.controller.buffer):
            break
        app._tick()
        await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    app.screen.refresh(layout=True)  # auto-height panels updated in the last tick get their final size
    await pilot.pause()


def record(pipeline: str, out: str | Path, *, runs: int = 1, outputs: list[str] | None = None,
           cache_dir: str | None = None, config: dict[str, Any] | None = None) -> Path:
    """Run ``pipeline`` in-process ``runs`` times through the real engine and write what it emitted."""
    from engine.driver import Driver
    from tui.backend.controller import Settings, dump_graph

    dump = dump_graph(Settings(pipeline, config={k: str(v) for k, v in (config or {}).items()}, cache_dir=cache_dir))
    dr = Driver(dict(config or {}), pipeline)
    try:
        dr.with_cache(cache_dir)
    except ImportError:
        pass
    lines: list[str] = []
    dr.add_listener(lambda e: lines.append(e.to_json()))
    final = outputs or [n for n in dr.graph.order if not dr.graph.dag.succ[n]]
    for _ in range(runs):
        dr.run(final)
    path = Path(out)
    with path.open("w", encoding="utf-8") as fh:
        if dump.graph is not None:
            fh.write(json.dumps({"type": GRAPH_TYPE, **dump.graph.to_dict()}) + "\n")
        fh.writelines(line + "\n" for line in lines)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.recording")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("record")
    p.add_argument("pipeline")
    p.add_argument("out")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--cache-dir")
    p = sub.add_parser("play")
    p.add_argument("file")
    args = parser.parse_args(argv)
    if args.cmd == "record":
        print(record(args.pipeline, args.out, runs=args.runs, cache_dir=args.cache_dir))
        return 0
    from tui.app import create_app

    controller = ReplayController.from_file(args.file)
    app = create_app(controller.graph or controller.pipeline, controller=controller)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
