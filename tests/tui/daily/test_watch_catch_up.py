"""Issue 14: turning watch back on picks up the saves made while it was off (the dashboard's ``w``
and the loop it drives), instead of taking the edited files as the new baseline."""

from __future__ import annotations

import time
from pathlib import Path

from engine import events as ev
from engine.live.loop import WatchLoop
from engine.live.protocol import RunRequest


def _wait(cond, timeout: float = 60.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_watch_back_on_runs_what_changed_while_off(tmp_path: Path) -> None:
    pipe = tmp_path / "nodes.py"
    pipe.write_text("def a() -> int:\n    return 1\n\n\ndef b(a: int) -> int:\n    return a + 1\n")
    messages: list[str] = []

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.Message):
            messages.append(e.text)

    loop = WatchLoop(RunRequest(pipeline=str(pipe), no_cache=True, cwd=str(tmp_path)), on_event, debounce=0.05)
    try:
        loop.start()
        assert _wait(lambda: len(loop.outcomes) == 1 and loop.wait_idle(0))
        loop.set_watch(False)
        pipe.write_text("def a() -> int:\n    return 1\n\n\ndef b(a: int) -> int:\n    return a + 2\n")
        time.sleep(0.3)
        assert len(loop.outcomes) == 1  # watch is off: nothing ran
        loop.set_watch(True)
        assert _wait(lambda: len(loop.outcomes) == 2 and loop.wait_idle(0)), messages
        assert any(m.startswith("while watch was off: nodes.py saved") for m in messages), messages
        # a comment-only edit while off runs nothing when watch comes back
        loop.set_watch(False)
        pipe.write_text(pipe.read_text() + "# a comment\n")
        loop.set_watch(True)
        time.sleep(0.5)
        assert len(loop.outcomes) == 2
    finally:
        loop.stop()
