"""The Python API: ``Driver(config, *modules)`` with Hamilton-compatible methods."""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine._gc import frozen_during, paused
from engine.core.building import build_graph
from engine.core.execute import execute_plan
from engine.core.graph import Graph, Node
from engine.core.loading import Pipeline, load_pipeline
from engine.core.plan import Plan, compile_plan
from engine.core.pool import Executor, make_executor
from engine.core.results import (
    PandasDataFrameResult,
    given_items,
    output_names,
    result_builder_of,
    ripple_executor,
    tag_matches,
)
from engine.core.run_records import RunResult
from engine.errors import NodeFailed, UsageError

if TYPE_CHECKING:
    from engine.core.variables import Variable

#: ``hook(driver)`` called before every run of every driver: how ``OpenLineageTracker.track_execution``
#: (engine.lineage, which builds on the driver) reaches the drivers run inside its block
RUN_HOOKS: list[Any] = []


class Driver:
    """Builds the graph once; executes any subset of it, any number of times.

    ``Driver(config, module_a, module_b)``: modules may be module objects, dotted names, or paths.
    """

    def __init__(self, config: Mapping[str, Any] | None = None, *modules: Any, executor: str | Executor | None = None,
                 pipeline_name: str | None = None, adapter: Any = None, allow_module_overrides: bool = False) -> None:
        if config is not None and not isinstance(config, Mapping):
            modules = (config, *modules)
            config = None
        if not modules:
            raise UsageError("Driver needs at least one pipeline module: Driver(config, module, ...).")
        loaded: list[types.ModuleType] = []
        roots: list[Path] = []
        names: list[str] = []
        for m in modules:
            p: Pipeline = load_pipeline(m)
            loaded.extend(mod for mod in p.modules if mod not in loaded)
            roots.append(p.root)
            names.append(p.name)
        self.modules = loaded
        self.project_root = roots[0]
        self.pipeline_name = pipeline_name or ",".join(names)
        self.config = dict(config or {})
        self.graph: Graph = build_graph(loaded, self.config, allow_module_overrides=allow_module_overrides)
        #: Hamilton's result builder (``build_result(**outputs)``) applied by ``execute``; None: a dict
        self.result_builder: Any = result_builder_of(adapter)
        self.executor: Executor = make_executor(executor)
        self.bus = ev.EventBus()
        self.cache: Any = None
        self.last_run: RunResult | None = None
        self._plans: dict[tuple[Any, ...], Plan] = {}
        #: emit a ``node_planned`` event per node before each run (the dashboard shows them); it costs
        #: one extra cache lookup per node, so consumers that don't read them turn it off
        self.plan_events = True
        #: after the first failure start no further node (``ripple run --fail-fast``); by default every
        #: node that does not depend on the failure still runs ("keep going")
        self.fail_fast = False

    # ---------------------------------------------------------------- configuration
    def with_cache(self, path: str | Path | None = None, *, behaviors: Mapping[str, str] | None = None,
                   default_behavior: str | None = None, max_size: int | str | None = None,
                   recompute: Iterable[str] | bool | None = None, disable: Iterable[str] | bool | None = None,
                   ignore: Iterable[str] | bool | None = None, default: Iterable[str] | bool | None = None,
                   history_limit: int | None = None) -> Driver:
        """Turn on the persistent cache; returns ``self`` so it chains."""
        merged = dict(behaviors or {})
        for behavior, names in (("recompute", recompute), ("disable", disable), ("ignore", ignore), ("default", default)):
            if names is True:
                default_behavior = behavior
            elif names:
                for n in names:
                    if n in merged and merged[n] != behavior:
                        raise UsageError(f"node {n!r} is given two cache behaviors: {merged[n]} and {behavior}.")
                    merged[n] = behavior
        with paused(promote=True):  # the cache's modules and what the store reads first: all meant to live
            from engine.caching.cache import Cache  # lazy: keeps `import engine` light

            self.cache = Cache.open(self.graph, self.project_root, path, pipeline=self.pipeline_name,
                                    emit=self.bus.emit, behaviors=merged, default_behavior=default_behavior,
                                    max_size=max_size, history_limit=history_limit)
        return self

    def with_executor(self, executor: str | Executor, **options: Any) -> Driver:
        """Run on ``executor`` (a name as for ``--executor``, or an ``Executor``); returns ``self``.

        ``with_executor("dask", address="tcp://scheduler:8786")`` runs on that Dask cluster (without
        an address, on a ``LocalCluster`` it starts); the cache directory must then be a path every
        worker can reach, because results are stored by the worker that computed them."""
        previous = self.executor
        self.executor = make_executor(executor, **options)
        if previous is not self.executor:
            getattr(previous, "shutdown", previous.close)()
        return self

    def with_lineage(self, tracker: Any) -> Driver:
        """Emit OpenLineage events for every run of this driver: ``tracker`` is an
        ``engine.lineage.OpenLineageTracker`` (or any run-event listener); returns ``self``."""
        attach = getattr(tracker, "attach", None)
        if attach is not None:
            attach(self)
        elif callable(tracker):
            self.add_listener(tracker)
        else:
            raise UsageError("with_lineage takes an OpenLineageTracker, e.g. "
                             "dr.with_lineage(OpenLineageTracker('my_pipeline', 'console')) "
                             "(from engine.lineage import OpenLineageTracker).")
        return self

    def add_listener(self, listener: ev.Listener, kinds: Iterable[str] | None = None) -> None:
        """Receive every event of every run (see ``engine.events``), or only those of ``kinds``
        (``Event.kind`` names, e.g. ``"node_failed"``): events no listener takes are not built."""
        self.bus.add(listener, kinds)

    def remove_listener(self, listener: ev.Listener) -> None:
        self.bus.remove(listener)

    # ---------------------------------------------------------------- execution
    def plan_for(self, final_vars: Iterable[str], provided: Iterable[str] = (), overrides: Iterable[str] = ()) -> Plan:
        final = list(final_vars)
        prov = set(provided) | set(self.config)
        ovr = set(overrides)
        key = (tuple(final), frozenset(prov), frozenset(ovr))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = compile_plan(self.graph, final, prov | ovr, ovr)
        return plan

    def run(self, final_vars: Iterable[str], inputs: Mapping[str, Any] | None = None,
            overrides: Mapping[str, Any] | None = None, *, run_id: str | None = None) -> RunResult:
        """Execute and return the full ``RunResult`` (records and status) without raising on node failure.

        During the run, objects that already exist (modules, the graph, prefetched cache entries) are
        frozen out of the garbage collector's view: a run allocates a few objects per node, which
        triggers collections that would otherwise rescan all of them — half the per-node cost of a
        fully cached run. New objects, the user's included, are collected as usual. Objects someone
        else froze (a forking server's ``gc.freeze()``) stay frozen: see :mod:`engine._gc`.
        """
        with frozen_during() as freeze_more:
            return self._run(final_vars, inputs, overrides, run_id, freeze_more)

    def _run(self, final_vars: Iterable[str], inputs: Mapping[str, Any] | None,
             overrides: Mapping[str, Any] | None, run_id: str | None, freeze_more: Callable[[], None]) -> RunResult:
        final = list(final_vars)
        if isinstance(final_vars, str):
            raise UsageError("final_vars must be a list of names, e.g. ['report'].")
        inputs = dict(inputs or {})
        overrides = dict(overrides or {})
        for hook in list(RUN_HOOKS):
            hook(self)
        both = set(inputs) & set(self.config)
        if both:
            raise UsageError(f"{', '.join(sorted(both))} given both as config and as input; give each value once.")
        items_graph = self._items_graph(inputs, overrides)
        plan = self.plan_for(final, inputs, overrides) if items_graph is None else compile_plan(
            items_graph, final, set(inputs) | set(self.config) | set(overrides), set(overrides))
        values: dict[Any, Any] = {**self.config, **inputs, **overrides}
        run_id = run_id or os.urandom(6).hex()
        session = self.cache.session(run_id, plan, values, overrides) if self.cache is not None else None
        freeze_more()  # the prefetched entries too
        if self.bus.wants("run_started"):
            self.bus.emit(ev.RunStarted(run_id, _now(), pipeline=self.pipeline_name, outputs=final, nodes=list(plan.order),
                                        executor=self.executor.name, cache=session is not None))
        if session is not None and self.plan_events and self.bus.wants("node_planned"):
            for name, will, why in session.predictions():
                self.bus.emit(ev.NodePlanned(run_id, _now(), node=name, will=will, why=why))
        try:
            result = execute_plan(plan, values, run_id=run_id, bus=self.bus, executor=self.executor,
                                  cache=session, checks=_apply_checks, fail_fast=self.fail_fast)
        except BaseException as exc:
            status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
            if session is not None:
                session.close(status, getattr(exc, "ripple_partial", None))
            if self.bus.wants("run_finished"):
                from engine.core.redact import safe_str  # failures only

                self.bus.emit(ev.RunFinished(run_id, _now(), status=status, error=f"{type(exc).__name__}: {safe_str(exc)}"))
            raise
        finally:
            self.executor.close()
        self.last_run = result
        if session is not None:
            session.close(result.status, result)
        if self.bus.wants("run_finished"):
            err = ""
            if result.error is not None:
                from engine.core.redact import safe_str

                rec = result.records.get(result.failed_node or "")
                # the record's text: sensitive data already withheld, a broken __str__ already read safely
                text = rec.error if rec is not None and rec.error_type else safe_str(result.error)
                err = f"{result.failed_node}: {type(result.error).__name__}: {text}"
            self.bus.emit(ev.RunFinished(run_id, _now(), status=result.status, seconds=result.seconds,
                                         ran=result.count(ev.RAN), cached=result.count(ev.CACHED),
                                         failed=result.count(ev.FAILED), skipped=result.count(ev.SKIPPED), error=err))
        return result

    def _items_graph(self, inputs: dict[str, Any], overrides: dict[str, Any]) -> Graph | None:
        """Overriding a ``Parallelizable`` node gives its items: the node is swapped, for this run, for
        one that yields the override, which is fed as an input so the items are part of its key."""
        fanned = [k for k in overrides if k in self.graph.nodes and self.graph.nodes[k].kind == "expand"]
        if not fanned:
            return None
        import dataclasses

        nodes = dict(self.graph.nodes)
        for name in fanned:
            key = f"{name}.__override_items__"
            inputs[key] = overrides.pop(name)
            nodes[name] = dataclasses.replace(nodes[name], fn=given_items, deps={"items": key},
                                              optional=frozenset(), param_types={"items": Any})
        return Graph(nodes, self.config)

    def execute(self, final_vars: Iterable[Any], overrides: Mapping[str, Any] | None = None,
                display_graph: bool = False, inputs: Mapping[str, Any] | None = None) -> Any:
        """Compute ``final_vars`` (names, node functions or Variables); returns ``{name: value}``, or
        what the result builder makes of it. A failing node raises its own exception, with a note
        naming the node and its file:line (other branches still ran and were cached)."""
        outputs = self.raw_execute(final_vars, overrides, display_graph, inputs)
        return outputs if self.result_builder is None else self.result_builder.build_result(**outputs)

    def raw_execute(self, final_vars: Iterable[Any], overrides: Mapping[str, Any] | None = None,
                    display_graph: bool = False, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``execute`` without the result builder: always ``{name: value}``."""
        result = self.run(output_names(final_vars), inputs=inputs, overrides=overrides)
        if display_graph:
            self.display(result)
        if result.error is not None:
            node = self.graph.nodes.get(result.failed_node or "")
            exc = result.error
            where = f" at {node.location}" if node else ""
            note = f"ripple: raised by node {result.failed_node!r}{where}"
            if isinstance(exc, Exception) and note not in getattr(exc, "__notes__", []):
                exc.add_note(note)
                raise exc
            raise NodeFailed(f"node {result.failed_node} failed: {exc}", node=result.failed_node or "") from exc
        return result.outputs

    def display(self, result: RunResult | None = None) -> None:
        from engine.core.render import print_graph

        print_graph(self.graph, result or self.last_run)

    # ---------------------------------------------------------------- inspection
    def list_available_variables(self, *, tag_filter: Mapping[str, Any] | None = None) -> list[Variable]:
        """Nodes and inputs; ``tag_filter`` keeps those whose tags match every entry, as Hamilton:
        ``None`` (the tag is present), a value (equal) or a list (any of them)."""
        out = self._variables(None, self.graph.externals)
        if tag_filter:
            out = [v for v in out if all(tag_matches(v.tags, k, want) for k, want in tag_filter.items())]
        return out

    def _variables(self, nodes: Collection[str] | None, inputs: Iterable[str] = ()) -> list[Variable]:
        """``nodes`` (None: all) in graph order, then the ``inputs`` named, as Hamilton's records."""
        from engine.core.variables import Variable  # lazy: not a dataclass every import makes

        g = self.graph
        out = [Variable.of(g.nodes[n]) for n in g.order if nodes is None or n in nodes]
        for name in inputs:
            e = g.externals[name]
            out.append(Variable(e.name, e.type, {}, True, "", "", 0, e.required))
        return out

    def validate_execution(self, final_vars: Iterable[Any], overrides: Mapping[str, Any] | None = None,
                           inputs: Mapping[str, Any] | None = None) -> None:
        """Raise ``UsageError`` (unknown outputs, missing inputs) without running anything."""
        self.plan_for(output_names(final_vars), dict(inputs or {}), dict(overrides or {}))

    def display_all_functions(self, output_file_path: str | Path | None = None, **_: Any) -> str:
        """The whole graph as Graphviz dot text (written to ``output_file_path`` when given)."""
        return self._dot(None, output_file_path)

    def visualize_execution(self, final_vars: Iterable[Any], output_file_path: str | Path | None = None,
                            render_kwargs: Any = None, inputs: Mapping[str, Any] | None = None, **_: Any) -> str:
        """The part of the graph ``final_vars`` need, as Graphviz dot text (and to the file if given)."""
        return self._dot(output_names(final_vars), output_file_path)

    def _dot(self, final_vars: list[str] | None, path: str | Path | None) -> str:
        text = self.visualize("dot", final_vars)
        if path is not None:
            Path(path).write_text(text)
        return text

    def materialize(self, *materializers: Any, additional_vars: Iterable[Any] = (),
                    overrides: Mapping[str, Any] | None = None,
                    inputs: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Hamilton's ``materialize``: ``from_.FMT(target=..., path=...)`` loads a value in,
        ``to.FMT(id=..., dependencies=[...], path=...)`` saves computed values; returns
        ``({id: file metadata}, {additional var: value})``."""
        from engine.core.materialize import read, write

        inputs, overrides = dict(inputs or {}), dict(overrides or {})
        known = {**self.config, **inputs, **overrides}
        for m in (m for m in materializers if m.kind == "load"):
            data = read(m.fmt, **m.resolve(known))
            (overrides if m.target in self.graph.nodes else inputs)[m.target] = data
        savers = [m for m in materializers if m.kind == "save"]
        extra = output_names(additional_vars)
        wanted = list(dict.fromkeys([*(d for m in savers for d in m.dependencies), *extra]))
        values = self.raw_execute(wanted, overrides=overrides, inputs=inputs) if wanted else {}
        saved = {}
        for m in savers:
            deps = {d: values[d] for d in m.dependencies}
            data = next(iter(deps.values())) if len(deps) == 1 and m.combine is None else \
                (m.combine or PandasDataFrameResult()).build_result(**deps)
            args = m.resolve({**known, **values})
            saved[m.id] = write(m.fmt, data, args.pop("path"), **args)
        return saved, {k: values[k] for k in extra}

    def what_is_upstream_of(self, *names: str) -> list[Variable]:
        """As Hamilton: the named nodes, everything they need, and the inputs that feeds on."""
        self._known(names)
        ups = self.graph.upstream(names)
        fed = {src for n in ups for src in self.graph.nodes[n].deps.values() if src in self.graph.externals}
        return self._variables(ups, [e for e in self.graph.externals if e in fed])

    def what_is_downstream_of(self, *names: str) -> list[Variable]:
        """As Hamilton: the named nodes and everything that depends on them."""
        self._known(names)
        return self._variables(self.graph.downstream(names))

    def what_is_the_path_between(self, upstream: str, downstream: str) -> list[Variable]:
        self._known((upstream, downstream))
        return self._variables(self.graph.downstream([upstream]) & self.graph.upstream([downstream]))

    def _known(self, names: Iterable[str]) -> None:
        for n in names:
            if n not in self.graph.nodes:
                raise UsageError(f"unknown node {n!r}; list nodes with dr.list_available_variables().")

    def visualize(self, format: str = "text", final_vars: Iterable[str] | None = None) -> str:  # noqa: A002
        from engine.core.render import render_graph

        return render_graph(self.graph, format, final_vars)

    def plan(self, final_vars: Iterable[str], inputs: Mapping[str, Any] | None = None,
             overrides: Mapping[str, Any] | None = None) -> list[tuple[str, str, str]]:
        """Dry run: for each node, ``(name, "hit"|"run"|"may run", why)`` without executing anything
        ("may run": an upstream node runs first and early cutoff may still make it a hit)."""
        final = output_names(final_vars)
        plan = self.plan_for(final, dict(inputs or {}), dict(overrides or {}))
        if self.cache is None:
            return [(n, "run", "cache is off") for n in plan.order]
        values = {**self.config, **dict(inputs or {}), **dict(overrides or {})}
        return self.cache.predict(plan, values, dict(overrides or {}))


def _apply_checks(node: Node, value: Any) -> None:
    from engine.core.checks import run_checks

    run_checks(node, value)


def _now() -> float:
    import time

    return time.time()


class Builder:
    """Hamilton's ``driver.Builder`` shape, for code written against it."""

    def __init__(self) -> None:
        self._modules: list[Any] = []
        self._config: dict[str, Any] = {}
        self._cache: dict[str, Any] | None = None
        self._executor: Any = None
        self._adapters: list[Any] = []
        self._overrides = False

    def with_modules(self, *modules: Any) -> Builder:
        self._modules.extend(modules)
        return self

    def with_config(self, config: Mapping[str, Any]) -> Builder:
        self._config.update(config)
        return self

    def with_cache(self, path: str | Path | None = None, **kwargs: Any) -> Builder:
        self._cache = {"path": path, **kwargs}
        return self

    def with_local_executor(self, executor: Any) -> Builder:
        """A Ripple executor spec, or Hamilton's local executors mapped to Ripple's own."""
        self._executor = ripple_executor(executor)
        return self

    def with_adapters(self, *adapters: Any) -> Builder:
        """Hamilton result builders (``base.DictResult``, ``base.PandasDataFrameResult``); the default,
        as Hamilton's Builder, is a dict. Other adapters are refused with their name."""
        result_builder_of(list(adapters))
        self._adapters.extend(adapters)
        return self

    def allow_module_overrides(self) -> Builder:
        """A later module's node replaces an earlier module's node of the same name."""
        self._overrides = True
        return self

    def with_remote_executor(self, executor: Any) -> Builder:
        """Hamilton's name for where nodes run: ``"dask"``, ``"dask=ADDRESS"`` or an ``Executor``."""
        self._executor = executor
        return self

    def enable_dynamic_execution(self, *, allow_experimental_mode: bool = False) -> Builder:
        return self

    def build(self) -> Driver:
        dr = Driver(self._config, *self._modules, executor=self._executor, adapter=self._adapters[-1:] or None,
                    allow_module_overrides=self._overrides)
        if self._cache is not None:
            dr.with_cache(**self._cache)
        return dr

