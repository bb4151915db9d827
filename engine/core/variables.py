"""The record ``Driver.list_available_variables`` and the graph queries return (Hamilton's
``Variable``): loaded when first asked for, so ``import engine`` does not make its dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.core.graph import Node

__all__ = ["Variable"]


@dataclass(slots=True, eq=False)
class Variable:
    """What ``list_available_variables`` returns (Hamilton's ``Variable`` fields); equal by name."""

    name: str
    type: Any
    tags: dict[str, Any]
    is_external_input: bool
    documentation: str
    originating_file: str
    line: int
    required: bool = True

    @classmethod
    def of(cls, node: Node) -> Variable:
        return cls(node.name, node.type, dict(node.tags), False, node.doc, node.file, node.line)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Variable) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)
