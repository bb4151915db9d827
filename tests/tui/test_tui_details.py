"""The Details pane's neighbourhood drawing never cuts a line at the panel's edge: left to right when
it fits, top to bottom when the names are too long for the panel."""

from __future__ import annotations

import pytest
from rich.console import Console

from tui.state.graph import GraphInfo, NodeInfo
from tui.state.run_model import RunModel
from tui.widgets.panels import details

LONG = "revenue_rolling_thirteen_week_average_by_store"


def _render(width: int, parents: tuple[str, ...], children: tuple[str, ...]) -> list[str]:
    nodes = [NodeInfo(p) for p in parents] + [NodeInfo("sales", deps=parents)]
    nodes += [NodeInfo(c, deps=("sales",)) for c in children]
    model = RunModel("p", GraphInfo(nodes))
    console = Console(width=width, record=True, color_system=None)
    console.print(details(model, "sales", 0.0))
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [52, 64, 120])
def test_every_name_is_whole_and_no_line_is_cut(width: int) -> None:
    lines = _render(width, ("orders_clean", "products"), (LONG, "gross_margin"))
    text = "\n".join(lines)
    for name in ("orders_clean", "products", LONG, "gross_margin"):
        assert name in text
    assert all(len(line) <= width for line in lines)
    assert not any(line.rstrip().endswith("…") for line in lines)


def test_wide_panels_keep_the_left_to_right_drawing() -> None:
    lines = _render(120, ("orders_clean",), ("gross_margin",))
    assert any("orders_clean" in line and "sales" in line and "gross_margin" in line for line in lines)
