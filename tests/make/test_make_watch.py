"""``ripple watch Makefile`` / the dashboard: saving the Makefile translates it again, and exactly the
targets whose recipe changed (and what depends on them) re-run."""

from __future__ import annotations

import threading
from pathlib import Path

from engine import events as ev
from engine.cli import build_parser
from engine.cli._common import run_request
from engine.live.loop import WatchLoop

MAKEFILE = """\
all: out/a.txt out/b.txt

out/a.txt: a.in
\tmkdir -p out
\ttr a-z A-Z < a.in > out/a.txt

out/b.txt: b.in
\tmkdir -p out
\tcp b.in out/b.txt
"""


class Runs:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.finished: list[set[str]] = [set()]
        self.changes: list[str] = []

    def on_event(self, e: ev.Event) -> None:
        with self.cond:
            if isinstance(e, ev.NodeFinished):
                self.finished[-1].add(e.node)
            elif isinstance(e, ev.RunFinished):
                self.finished.append(set())
            elif isinstance(e, ev.Message) and e.run_id == "watch":
                self.changes.append(e.text)
            self.cond.notify_all()

    def wait_runs(self, n: int, timeout: float = 60) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.finished) > n, timeout), (self.finished, self.changes)


def test_saving_the_makefile_reruns_exactly_the_edited_target(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text(MAKEFILE)
    (tmp_path / "a.in").write_text("alpha\n")
    (tmp_path / "b.in").write_text("beta\n")
    args = build_parser().parse_args(["watch", str(tmp_path / "Makefile")])
    request = run_request(args)
    assert request.generated_from == [str(tmp_path / "Makefile")] and request.regenerate
    runs = Runs()
    loop = WatchLoop(request, runs.on_event, debounce=0.05)
    loop.start()
    try:
        runs.wait_runs(1)
        assert (tmp_path / "out" / "b.txt").read_text() == "beta\n"
        (tmp_path / "Makefile").write_text(MAKEFILE.replace("\tcp b.in out/b.txt", "\tsed s/beta/BETA/ b.in > out/b.txt"))
        runs.wait_runs(2)
    finally:
        loop.stop()
    again = runs.finished[1]
    assert any("b_txt" in n for n in again) and not any("a_txt" in n for n in again), (again, runs.changes)
    assert (tmp_path / "out" / "b.txt").read_text() == "BETA\n"
