"""``ripple tui``: the live dashboard over the engine's event stream.

Data flow: the controller (threads, child processes, no widgets) pushes events into an
``EventBuffer``; while events arrive or a run is live the app drains it ~15 times a second, folds
everything into the ``RunModel`` and applies the result in one ``batch_update``. A failure wakes the
app at once with one small message. With nothing buffered and no run live there is nothing to
animate either, so the drain timer pauses (an idle dashboard then uses no CPU) and the buffer's next
push wakes it with the same message. State changes only in handlers on the UI thread, so nothing
here needs a lock.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Log, Sparkline, Static, TabbedContent, TabPane

from tui import profiling
from tui.backend.buffer import EventBuffer
from tui.backend.controller import Controller, RunController, Settings
from tui.backend.profiler import ProfileResult
from tui.navigation import TAB_KEYS_HELP, NavigableApp
from tui.profiling import ProfileDone
from tui.state.graph import GraphInfo
from tui.state.notices import ChangeDetected, GraphLoaded
from tui.state.run_model import ALL, RunModel
from tui.visuals import Visuals
from tui.widgets import panels
from tui.widgets.dag_pane import DagPane
from tui.widgets.dag_view import DagView
from tui.widgets.footer import CompactFooter
from tui.widgets.graph_view import GraphView
from tui.widgets.panel import Panel
from tui.widgets.timeline import DurationPlot, RunTrends, TimelineView

TICK_HZ = 15
#: log lines written per tick at most; a burst is summarised instead of flooding the widget
LOG_LINES_PER_TICK = 200
#: how often the heavier panels (bottlenecks table) are rebuilt while a run is live
SLOW_PANEL_SECONDS = 0.5



class Wake(Message):
    """Posted from an engine thread when something urgent (a failure) is in the buffer, or anything
    at all while the drain sleeps."""


class NodeCommands(Provider):
    """ctrl+p → type a node name → jump to it."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, RippleApp)
        matcher = self.matcher(query)
        for name in app.model.graph.order:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), lambda n=name: app.jump_to(n), help="jump to node")

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, RippleApp)
        for name in app.model.graph.order[:200]:
            yield DiscoveryHit(name, lambda n=name: app.jump_to(n), help="jump to node")


class HelpScreen(ModalScreen[None]):
    """The keys, in one place; escape or ? closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        text = (
            "[b]Ripple dashboard[/b]\n\n"
            "[b]r[/b]  run the pipeline (cached nodes hit)\n"
            "[b]R[/b]  resume the failed run (enabled only after a failure)\n"
            "[b]s[/b]  stop the running run\n"
            "[b]w[/b]  toggle watch mode (re-run what each save affects)\n"
            "[b]x[/b]  recompute the selected node (and what depends on it)\n"
            "[b]e[/b]  open the selected node in $EDITOR at its line\n"
            "[b]/[/b]  filter: a name substring, or state:failed (state:ran,cached …)\n"
            "[b]f[/b], enter on a module row  fold / unfold the module\n"
            "[b]↑ ↓ PgUp PgDn Home End[/b]  move; ▲ ancestors, ▼ descendants of the selection\n"
            "[b]ctrl+p[/b]  command palette: jump to a node\n"
            "[b]g[/b]  the DAG as a graph (shift+arrows pan, enter selects)  [b]t[/b]  wall time, hit rate of last runs\n"
            "[b]p[/b]  profile the selected node on its cached inputs (Bottlenecks tab; hot lines in Details)\n"
            "[b]q[/b]  quit\n" + TAB_KEYS_HELP + "\n\n"
            "glyphs: ○ pending  ⠋ running  ● cached  ✔ ran  ✖ failed  ⊘ skipped  ◌ stale"
        )
        with Vertical(id="help"):
            yield Static(text)


class RippleApp(NavigableApp):
    """One screen: header, DAG list, side panel with tabs, footer."""

    CSS_PATH = "ripple.tcss"
    TITLE = "Ripple"
    COMMANDS = App.COMMANDS | {NodeCommands}
    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("R", "resume", "Resume"),
        Binding("s", "stop", "Stop"),
        Binding("w", "toggle_watch", "Watch"),
        Binding("x", "recompute", "Recompute"),
        Binding("e", "edit", "Edit"),
        Binding("p", "profile", "Profile"),
        Binding("slash", "filter", "Filter"),
        Binding("question_mark", "help", "Help"),
        Binding("t", "toggle_trends", "Trends", show=False),
        Binding("q", "quit", "Quit"),
    ]

    can_resume: reactive[bool] = reactive(False, bindings=True)
    busy: reactive[bool] = reactive(False, bindings=True)
    watching: reactive[bool] = reactive(False, bindings=True)

    def __init__(self, pipeline: str, controller: Controller, *, clock: Callable[[], float] = time.monotonic,
                 graph: GraphInfo | None = None, tick_hz: float = TICK_HZ, animations: bool = True) -> None:
        super().__init__()
        self.controller = controller
        self.clock = clock
        self.model = RunModel(pipeline, graph)
        self.visuals = Visuals(self)
        self.tick_hz = tick_hz
        self._slow_at = 0.0
        self._details_for: str | None = None
        self._source_for: tuple[str | None, int] = (None, -1)
        self.ticks = 0
        self._drain_timer: Any = None
        self._draining = False  # from when every pane (the tabbed ones mount late) exists until exit
        #: the drain timer is paused: nothing was buffered and no run was live at the last tick
        self.drain_paused = False
        if not animations:
            self.animation_level = "none"

    # ---------------------------------------------------------------- composition
    def compose(self) -> ComposeResult:
        yield Panel(id="status")
        yield RunTrends(id="run-trends")
        with Horizontal(id="main"):
            with DagPane(id="left"):
                yield DagView(self.model, clock=self.clock, id="dag")
                yield GraphView(self.model, clock=self.clock, id="graph")
                yield Input(placeholder="filter: name or state:failed  (esc clears)", id="filter")
            with TabbedContent(id="side", initial="tab-details"):
                with TabPane("Details", id="tab-details"):
                    with VerticalScroll(id="details-scroll"):
                        yield Panel(id="details")
                        yield Sparkline([], id="spark")
                        yield DurationPlot(id="durations")
                        yield Panel(id="source")
                with TabPane("Bottlenecks", id="tab-bottlenecks"):
                    with VerticalScroll():
                        yield Panel(id="bottlenecks")
                        yield TimelineView(id="timeline")
                with TabPane("Failure", id="tab-failure"):
                    with VerticalScroll():
                        yield Panel(id="failure")
                        yield Button("Resume", id="resume", variant="success", disabled=True)
                with TabPane("Log", id="tab-log"):
                    yield Log(max_lines=2000, id="log", auto_scroll=True)
        yield CompactFooter()

    def on_mount(self) -> None:
        box = self.query_one("#filter", Input)
        box.cursor_blink = False
        box.display = False
        self.query_one(DagView).focus()
        # TabbedContent mounts its panes a moment later; start once the whole screen exists
        self.call_after_refresh(self._start_dashboard)

    def _start_dashboard(self) -> None:
        self.query_one("#spark", Sparkline).display = False
        self.visuals.start()
        dag = self.query_one(DagView)
        dag.rebuild()
        if self.model.graph.order:
            dag.select(self.model.graph.order[0])
        self._refresh_static(force=True)
        self.refresh_bindings()  # the Footer may have subscribed after the first binding update
        self._draining = True
        self.controller.buffer.set_waker(self._wake)
        self._drain_timer = self.set_interval(1 / self.tick_hz, self._tick, name="drain")
        self.controller.start()

    def exit(self, *args: Any, **kwargs: Any) -> None:
        """Stop draining first: Textual then prunes the screen widget by widget, and a tick landing
        in between must not reach for widgets already gone."""
        self._stop_drain()
        super().exit(*args, **kwargs)

    def on_unmount(self) -> None:
        self._stop_drain()
        self.controller.close()

    def _stop_drain(self) -> None:
        self._draining = False
        if self._drain_timer is not None:
            self._drain_timer.stop()
            self._drain_timer = None
        self.drain_paused = False
        self.controller.buffer.set_waker(None)

    def _wake(self) -> None:
        """Runs on an engine thread: post_message is the one thread-safe way in."""
        self.post_message(Wake())

    def on_wake(self, _: Wake) -> None:
        self._resume_drain()
        self._tick()

    def _pause_drain(self) -> None:
        """Idle: the next ticks would find nothing to fold and nothing to animate. The buffer agrees
        under its lock that it is empty and will wake us (``on_wake``) at its next push."""
        if self._drain_timer is not None and not self.drain_paused and self.controller.buffer.sleep():
            self._drain_timer.pause()
            self.drain_paused = True

    def _resume_drain(self) -> None:
        """Back to ticking; ``reset`` (not ``resume``) so the first tick comes an interval after the
        wake-up's own drain, not at once with nothing left to drain."""
        if self._drain_timer is not None and self.drain_paused:
            self.drain_paused = False
            self._drain_timer.reset()

    # ---------------------------------------------------------------- the drain loop
    def _tick(self) -> None:
        """Fold everything buffered since the last tick into the model and repaint only what changed."""
        if not self._draining or not self.is_running:
            return  # events wait in the buffer until the whole screen is mounted; none after exit
        try:
            dag = self.query_one("#dag", DagView)  # the main screen's, even under a modal
        except NoMatches:
            return  # shutting down
        self.ticks += 1
        items = self.controller.buffer.drain()
        now = self.clock()
        if not items:
            if self.model.running:
                with self.batch_update():
                    dag.tick_spinners()
                    self.visuals.tick()
                    self._refresh_static()
            else:
                self._pause_drain()
            return
        model = self.model
        graph_before = model.graph
        failure_before = model.failure
        log: list[str] = []
        dirty: set[str] = set()
        changed_source = False
        for item in items:
            d = model.apply(item, now, log)
            self.visuals.apply(item, now)
            if d:
                dirty.update(d)
            if isinstance(item, ChangeDetected | GraphLoaded):
                changed_source = True
        with self.batch_update():
            if model.graph is not graph_before:
                dag.rebuild()
                if dag.selected is None and model.graph.order:
                    dag.select(model.graph.order[0])
            dag.refresh_nodes(dirty)
            self.visuals.refresh(items, dirty, model.graph is not graph_before)
            if log:
                self._write_log(log)
            if model.failure is not None and model.failure is not failure_before:
                self._show_failure()
            sel = dag.selected
            if sel is not None and (ALL in dirty or sel in dirty or changed_source):
                self._show_details(sel, source=changed_source)
            self._refresh_static(force=ALL in dirty)

    def _write_log(self, lines: list[str]) -> None:
        log = self.query_one("#log", Log)
        if len(lines) > LOG_LINES_PER_TICK:
            skipped = len(lines) - LOG_LINES_PER_TICK
            lines = [f"… {skipped} more events", *lines[-LOG_LINES_PER_TICK:]]
        log.write_lines(lines)

    def _refresh_static(self, force: bool = False) -> None:
        """Header every tick (it is one Static); the bottlenecks table at most every half second."""
        now = self.clock()
        model = self.model
        self.query_one("#status", Static).update(
            panels.header_text(model, now, watch_available=self.controller.watch_available, width=self.size.width))
        self.busy = model.running
        self.can_resume = model.last_failed and not model.running
        self.watching = model.watching
        if force or now - self._slow_at >= SLOW_PANEL_SECONDS:
            self._slow_at = now
            self.query_one("#bottlenecks", Static).update(panels.bottlenecks(model, now))
            self.visuals.slow(now)
            if model.failure is None:
                self.query_one("#failure", Static).update(panels.failure(model))

    def _show_failure(self) -> None:
        f = self.model.failure
        self.query_one("#failure", Static).update(panels.failure(self.model))
        if f is not None:
            self.query_one("#side", TabbedContent).active = "tab-failure"
            if f.node in self.model.graph.nodes:
                self.query_one(DagView).select(f.node)

    def _show_details(self, name: str, *, source: bool = True) -> None:
        now = self.clock()
        self.query_one("#details", Static).update(panels.details(self.model, name, now))
        hist = list(self.model.history.get(name, ()))
        spark = self.query_one("#spark", Sparkline)
        spark.data = hist
        spark.display = not self.visuals.show_node(name) and len(hist) > 1
        key = (name, self.model.version if source else self._source_for[1])
        if source or self._source_for[0] != name:
            self._source_for = key
            self.query_one("#source", Static).update(panels.source(self.model, name))

    # ---------------------------------------------------------------- messages
    @on(DagView.NodeSelected)
    def _selected(self, message: DagView.NodeSelected) -> None:
        self._details_for = message.name
        try:
            self._show_details(message.name)
        except NoMatches:
            pass  # a selection still queued while the app shuts down

    @on(Input.Changed, "#filter")
    def _filter_changed(self, message: Input.Changed) -> None:
        self.query_one(DagView).set_filter(message.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, message: Input.Submitted) -> None:
        self.query_one(DagView).focus()

    @on(Button.Pressed, "#resume")
    def _resume_pressed(self) -> None:
        self.action_resume()

    def on_key(self, event: Any) -> None:
        if event.key == "escape":
            box = self.query_one("#filter", Input)
            if box.display:
                box.value = ""
                box.display = False
                self.query_one(DagView).set_filter("")
                self.query_one(DagView).focus()
                event.stop()

    def watch_can_resume(self, value: bool) -> None:
        try:
            self.query_one("#resume", Button).disabled = not value
        except Exception:  # noqa: BLE001 - before compose the button does not exist yet
            pass

    # ---------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """None shows the key greyed out in the footer: visible, but not now."""
        if action == "resume":
            return True if self.can_resume else None
        if action == "stop":
            return True if self.busy else None
        if action == "recompute":
            return True if self._selected_node() else None
        if action == "profile":
            return True if self._selected_node() and profiling.profiler_for(self) and not self.model.profiling else None
        if action == "toggle_watch":
            return True if self.controller.watch_available else None
        return True

    def _selected_node(self) -> str | None:
        try:
            return self.query_one(DagView).selected
        except Exception:  # noqa: BLE001 - no DAG on a modal screen
            return None

    def _start(self, starter: Callable[[], bool]) -> None:
        self._resume_drain()  # "starting" is live: the header ticks before the child's first event
        self.model.mark_starting()
        self.busy = True
        self.can_resume = False
        if not starter():
            self.model.run_state = "idle"
        self._refresh_static(force=True)

    def action_run(self) -> None:
        self._start(lambda: self.controller.run())

    def action_resume(self) -> None:
        if not self.can_resume:
            return
        self._start(self.controller.resume)

    def action_stop(self) -> None:
        if self.busy:
            self.controller.stop()

    def action_toggle_watch(self) -> None:
        self.controller.set_watch(not self.controller.watching)

    def action_recompute(self) -> None:
        node = self._selected_node()
        if node:
            self._start(lambda: self.controller.run(recompute=[node]))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_trends(self) -> None:
        self.visuals.toggle_trends()

    def action_edit(self) -> None:
        node = self._selected_node()
        info = self.model.graph.nodes.get(node or "")
        if info is None or not info.file:
            self.notify("Select a node with a source file first.", severity="warning")
            return
        argv = editor_command(info.file, info.line)
        try:
            with self.suspend():
                subprocess.call(argv)
        except Exception as exc:  # noqa: BLE001 - headless or no editor: tell, don't crash
            self.notify(f"could not open the editor: {exc}", severity="error")

    #: ``node -> ProfileResult``, blocking (it runs in a worker thread); default: ``ripple profile`` in a child
    profiler: Callable[[str], ProfileResult] | None = None

    def action_profile(self) -> None:
        profiling.start(self)

    def on_profile_done(self, message: ProfileDone) -> None:
        profiling.done(self, message)

    def jump_to(self, name: str) -> None:
        dag = self.query_one(DagView)
        dag.select(name)
        dag.focus()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Run", "Run the pipeline (cached nodes hit)", self.action_run)
        if self.can_resume:
            yield SystemCommand("Resume", "Resume the failed run", self.action_resume)
        if self.busy:
            yield SystemCommand("Stop", "Stop the running run", self.action_stop)
        yield SystemCommand("Toggle watch", "Re-run what each save affects", self.action_toggle_watch)


def editor_command(file: str, line: int) -> list[str]:
    """$VISUAL/$EDITOR at the line; VS Code-style editors take ``-g file:line``, the rest ``+line file``."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    argv = shlex.split(editor)
    name = Path(argv[0]).name
    if name in ("code", "codium"):
        return [*argv, "-g", f"{file}:{line}"]
    if name in ("subl", "zed"):
        return [*argv, f"{file}:{line}"]
    return [*argv, f"+{line}", file]


def create_app(pipeline_or_graph: str | GraphInfo, *, controller: Controller | None = None,
               clock: Callable[[], float] = time.monotonic, settings: Settings | None = None,
               animations: bool = True, tick_hz: float = TICK_HZ) -> RippleApp:
    """The one way to build the app, shared by the CLI, the tests, the replay harness and the bench."""
    graph = pipeline_or_graph if isinstance(pipeline_or_graph, GraphInfo) else None
    pipeline = graph.pipeline if graph is not None else str(pipeline_or_graph)
    if controller is None:
        controller = RunController(settings or Settings(pipeline), EventBuffer())
    return RippleApp(pipeline, controller, clock=clock, graph=graph, animations=animations, tick_hz=tick_hz)
