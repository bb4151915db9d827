"""Lineage from every run: ``--lineage console|file:PATH|URL``, ``OpenLineageTracker`` and
``Driver(...).with_lineage(...)``.

A *target* says where the OpenLineage events go:

* ``console``: one JSON line per event on stderr (stdout keeps the command's own output);
* ``file:PATH``: appended to PATH, one JSON line per event;
* ``http://…`` or ``https://…``: POSTed to that collector (``/api/v1/lineage``, as Marquez expects);
* ``openlineage`` (or no target): the client configured the OpenLineage way (``openlineage.yml``,
  ``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``).

``OpenLineageTracker("my_pipeline")`` is the seed's usage::

    tracker = OpenLineageTracker("my_pipeline", "file:lineage.jsonl")
    with tracker.track_execution():
        dr.execute(["report"])            # every run of every driver in the block emits

    dr = Driver(config, module).with_lineage(tracker)    # or one driver, for good
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import UsageError
from engine.lineage.openlineage import LineageListener, PrintTransport, require_client

if TYPE_CHECKING:
    from engine.driver import Driver


def check_target(target: str) -> str:
    """``target`` if it is one of the forms above, else a usage error naming them."""
    t = target.strip()
    if t in ("console", "openlineage") or t.startswith(("http://", "https://")):
        return t
    if t.startswith("file:") and t[5:].strip():
        return t
    raise UsageError(f"--lineage {target!r}: use console, file:PATH, an http(s):// URL of a collector, "
                     "or openlineage (the OpenLineage configuration).")


class _AppendFile:
    """A text stream appending to a file, opened per write (several processes may share it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, text: str) -> int:
        with self.lock, self.path.open("a", encoding="utf-8") as f:
            return f.write(text)

    def flush(self) -> None:
        return None


def client_for(target: str | None) -> Any:
    """An ``OpenLineageClient`` sending to ``target`` (see the module docstring)."""
    require_client()
    from openlineage.client import OpenLineageClient

    if target is None or target.strip() == "openlineage":
        return OpenLineageClient()
    t = check_target(target)
    if t == "console":
        return OpenLineageClient(transport=PrintTransport(sys.stderr))
    if t.startswith("file:"):
        return OpenLineageClient(transport=PrintTransport(_AppendFile(Path(t[5:].strip()).expanduser())))
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    return OpenLineageClient(transport=HttpTransport(HttpConfig(url=t, timeout=5.0)))


def attach(driver: Driver, target: str | None, *, namespace: str = "ripple", job_prefix: str | None = None) -> Any:
    """A ``LineageListener`` sending ``driver``'s runs to ``target``, added to the driver."""
    listener = LineageListener(driver, client_for(target), namespace, job_prefix)
    driver.add_listener(listener)
    return listener


def attach_spec(driver: Driver, target: str) -> Any:
    """The watch/tui child's hook (``RunRequest.driver_hooks``): ``attach`` under a plain name."""
    return attach(driver, target)


class OpenLineageTracker:
    """OpenLineage for Python users: ``OpenLineageTracker(name, target)``; every run inside
    ``with tracker.track_execution():`` emits, and ``Driver(...).with_lineage(tracker)`` makes one
    driver emit for good. ``name`` is the job prefix (the pipeline's job name)."""

    def __init__(self, name: str | None = None, target: str | None = None, *, namespace: str = "ripple",
                 client: Any = None) -> None:
        require_client()
        self.name = name
        self.namespace = namespace
        self.client = client if client is not None else client_for(target)
        self.listeners: dict[int, LineageListener] = {}
        self._lock = threading.Lock()
        self._kept: set[int] = set()  # drivers given ``with_lineage(tracker)``: they keep emitting

    def listener(self, driver: Driver) -> LineageListener:
        """This tracker's listener on ``driver`` (added on first use)."""
        with self._lock:
            found = self.listeners.get(id(driver))
            if found is None or found.driver is not driver:
                found = LineageListener(driver, self.client, self.namespace, self.name)
                driver.add_listener(found)
                self.listeners[id(driver)] = found
            return found

    def attach(self, driver: Driver) -> None:
        """``Driver.with_lineage(tracker)`` calls this: the driver emits from now on."""
        self.listener(driver)
        self._kept.add(id(driver))

    def _hook(self, driver: Driver) -> None:
        self.listener(driver)

    @contextlib.contextmanager
    def track_execution(self) -> Iterator[OpenLineageTracker]:
        """Every driver run (``execute``, ``run``, ``materialize``) started in the block emits events."""
        from engine.driver import RUN_HOOKS

        RUN_HOOKS.append(self._hook)
        try:
            yield self
        finally:
            with contextlib.suppress(ValueError):
                RUN_HOOKS.remove(self._hook)
            with self._lock:  # drivers only the block tracked stop emitting
                for key in [k for k in self.listeners if k not in self._kept]:
                    listener = self.listeners.pop(key)
                    with contextlib.suppress(Exception):
                        listener.driver.remove_listener(listener)

    @property
    def sent(self) -> int:
        return sum(listener.sent for listener in self.listeners.values())
