from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# ============================================================================================ graph info


@dataclass
class GraphInfo:
    """The graph as the last good run described it (``Message(level="graph")``)."""

    nodes: dict[str, dict[str, Any]]
    planned: list[str]
    modules: dict[str, str]
    data: dict[str, list[str]]
    root: str

    @classmethod
    def from_json(cls, text: str) -> GraphInfo:
        import json

        d = json.loads(text)
        return cls(d["nodes"], d.get("planned") or list(d["nodes"]), d.get("modules", {}), d.get("data", {}),
                   d.get("root", ""))

    def downstream(self, names: Iterable[str]) -> set[str]:
        succ: dict[str, list[str]] = {}
        for n, info in self.nodes.items():
            for d in info["deps"]:
                succ.setdefault(d, []).append(n)
        seen: set[str] = set()
        stack = [n for n in names if n in self.nodes]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(succ.get(n, ()))
        return seen
