"""``python -m engine.live --child|--worker``: the entry point of isolated runs and the warm worker
where ``fork`` is unavailable."""

from __future__ import annotations

import argparse
import json
import sys

from engine.live.child import child_entry
from engine.live.protocol import RunRequest
from engine.live.worker import worker_main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.live")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--child", action="store_true")
    mode.add_argument("--worker", action="store_true")
    p.add_argument("--fd", type=int, required=True)
    p.add_argument("--out-fd", type=int)
    p.add_argument("--request")
    p.add_argument("--preload", default="")
    p.add_argument("--cwd", default=None)
    args = p.parse_args(argv)
    if args.worker:
        return worker_main(args.fd, [m for m in args.preload.split(",") if m])
    return child_entry(RunRequest.from_dict(json.loads(args.request)), args.fd, args.out_fd)


if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
