"""Records ``fixtures/demo_runs.jsonl``: the demo pipeline run twice through the real engine with
four threads (a cold run whose bars overlap, then an all-cached one). Regenerate with
``python tests/tui/visual/record_demo.py`` and review the snapshots it changes."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "demo_runs.jsonl"


def record(out: Path = FIXTURE) -> None:
    root = Path(__file__).resolve().parents[3]
    sys.path.insert(0, str(root))
    import demo_pipeline
    from engine import Driver
    from tui.backend.replay import GRAPH_TYPE
    from tui.state.graph import GraphInfo, NodeInfo

    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        dr = Driver({}, demo_pipeline, executor="threads:4").with_cache(tmp)
        dr.add_listener(lambda e: lines.append(e.to_json()))
        g = dr.graph
        final = [n for n in g.order if not g.dag.succ[n]]
        for _ in range(2):
            dr.execute(final)
        nodes = [NodeInfo(n, g.nodes[n].module, "", 0, tuple(p for p in g.nodes[n].deps.values() if p in g.nodes))
                 for n in g.order]
        graph = GraphInfo(nodes, list(g.order), pipeline="demo_pipeline")
    keep = [x for x in lines if json.loads(x)["type"] != "message"]
    out.write_text(json.dumps({"type": GRAPH_TYPE, **graph.to_dict()}) + "\n" + "\n".join(keep) + "\n")


if __name__ == "__main__":
    record()
