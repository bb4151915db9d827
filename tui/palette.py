"""The dashboard's colours as theme variables, dark and light: every node state, the selection's
ancestors/descendants and the DAG text (``ripple.tcss`` uses only these names)."""

from __future__ import annotations

#: node-state colours on dark themes
DARK_NODE_STATE_COLOURS = {
    "node-pending": "#7f8796",
    "node-running": "#4fc1ff",
    "node-cached": "#3fb27f",
    "node-ran": "#9be15d",
    "node-failed": "#ff5f5f",
    "node-skipped": "#d7af5f",
    "node-stale": "#c678dd",
}

#: node-state colours for light themes: the dark-theme shades are too pale on white (≥ 4.5:1 here)
LIGHT_NODE_STATE_COLOURS = {
    "node-pending": "#454b55",
    "node-running": "#08559f",
    "node-cached": "#18603f",
    "node-ran": "#2a600f",
    "node-failed": "#b3141b",
    "node-skipped": "#7a5200",
    "node-stale": "#7b2f9e",
    "node-upstream": "#005f87",
    "node-downstream": "#6a1b9a",
    "dag-text": "#1f1f1f",
    "dag-muted": "#4a4f57",
    "dag-cursor": "#9cb1c0",
}
#: the ancestors/descendants highlight of the selection on dark themes (the states are ``RippleApp``'s)
DARK_LINEAGE_COLOURS = {"node-upstream": "#FEA62B", "node-downstream": "#D7A6FF",
                        # used by the -light-mode rules of ripple.tcss only; defined so every theme parses
                        "dag-text": "#e0e0e0", "dag-muted": "#9a9a9a", "dag-cursor": "#0c304c"}


def theme_variables(dark: bool) -> dict[str, str]:
    """What Textual asks for on every theme change: darker shades on a light theme, so no state colour
    is pale text on a pale background."""
    return {**DARK_NODE_STATE_COLOURS, **DARK_LINEAGE_COLOURS} if dark else dict(LIGHT_NODE_STATE_COLOURS)
