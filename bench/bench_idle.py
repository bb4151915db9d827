"""What an idle ``ripple watch`` and an idle dashboard cost the machine while the user edits beside
them: the CPU time of the whole process tree (the command and the workers it keeps), as a share of
one core, once the first run is over and nothing changes.

Each command runs on a real pseudo-terminal (120x40, as a user's terminal) in a copy of
``demo_pipeline``; its output is read as a terminal would. It counts as settled after two quiet
seconds in a row (< 5% of a core each), then the tree's user+system time is read from ``/proc``
over ``--seconds``. Linux only (``/proc``).

    python bench/bench_idle.py                 # ripple watch and ripple tui, 10 s each
    python bench/bench_idle.py --seconds 30 --only tui
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
COMMANDS = {"watch": ["watch", "demo_pipeline"], "tui": ["tui", "demo_pipeline"]}


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system seconds) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def tree_seconds(root: int) -> tuple[float, int]:
    """CPU seconds the live process tree under ``root`` has used, and how many processes it has."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (got := _stat(int(entry))) is not None:
            stats[int(entry)] = got
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in stats.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return sum(stats[p][1] for p in members if p in stats), len(members)


def share(root: int, seconds: float) -> tuple[float, int]:
    """The tree's CPU use over ``seconds`` as a share of one core, and its size at the end."""
    before, _ = tree_seconds(root)
    t0 = time.monotonic()
    time.sleep(seconds)
    after, size = tree_seconds(root)
    return (after - before) / (time.monotonic() - t0), size


def measure(name: str, folder: Path, seconds: float, timeout: float = 120) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *COMMANDS[name]], cwd=folder, env=env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    drained = [0]

    def drain() -> None:  # a terminal reads what the program writes, or the program blocks
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            drained[0] += len(chunk)

    threading.Thread(target=drain, daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name}: exited ({proc.returncode}) or never settled in {timeout:g} s")
            quiet = quiet + 1 if share(proc.pid, 1.0)[0] < 0.05 else 0
        used, size = share(proc.pid, seconds)
        print(f"idle ripple {name:6s} {100 * used:5.2f}% of a core over {seconds:g} s "
              f"({size} processes; {drained[0] // 1024} KiB drawn in all)", flush=True)
    finally:
        with_group = os.getpgid(proc.pid)
        os.killpg(with_group, signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(with_group, signal.SIGKILL)
            proc.wait()
        os.close(master)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--only", choices=sorted(COMMANDS))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ripple-bench-idle-"))
    try:
        shutil.copytree(ROOT / "demo_pipeline", tmp / "demo_pipeline",
                        ignore=shutil.ignore_patterns("__pycache__", ".ripple"))
        for name in [args.only] if args.only else list(COMMANDS):
            measure(name, tmp, args.seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
