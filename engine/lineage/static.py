from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.lineage.openlineage import PRODUCER, _iso, _Naming, declared_files, require_client

if TYPE_CHECKING:
    from engine.driver import Driver


# ---------------------------------------------------------------------- static lineage


def static_job_events(driver: Driver, namespace: str = "ripple", job_prefix: str | None = None, *,
                      producer: str = PRODUCER) -> list[Any]:
    """JobEvents (no run) for the pipeline and every node: the graph's lineage before anything runs."""
    require_client()
    from openlineage.client.event_v2 import JobEvent

    names = _Naming(driver, namespace, job_prefix, producer)
    graph = driver.graph
    now = _iso()
    finals = [n for n in graph.order if not graph.succ[n]]
    files = sorted({p for n in graph.order for p in declared_files(graph.nodes[n])})
    from openlineage.client.event_v2 import InputDataset

    out = [JobEvent(eventTime=now, producer=producer, job=names.job(None),
                    inputs=[InputDataset(namespace="file", name=p) for p in files],
                    outputs=[names.output(n, None) for n in finals])]
    for n in graph.order:
        out.append(JobEvent(eventTime=now, producer=producer, job=names.job(n), inputs=names.inputs(n, {}),
                            outputs=[names.output(n, None)]))
    return out
