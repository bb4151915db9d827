"""Lineage: OpenLineage events from the run stream, static JobEvents, impact and root-cause analysis.

The public surface users import (``from engine.lineage import LineageListener``); the OpenLineage client
is imported only when events are sent.
"""

from engine.lineage.impact import Impact, format_impact, impact, open_store
from engine.lineage.openlineage import (
    FACETS_SCHEMA_FILE,
    FACETS_SCHEMA_ID,
    PRODUCER,
    LineageListener,
    PrintTransport,
    make_client,
    to_json,
)
from engine.lineage.root_cause import Change, RootCause, format_root_cause, root_cause
from engine.lineage.static import static_job_events
from engine.lineage.tracker import OpenLineageTracker

__all__ = [
    "FACETS_SCHEMA_FILE", "FACETS_SCHEMA_ID", "PRODUCER", "Change", "Impact", "LineageListener", "OpenLineageTracker",
    "PrintTransport",
    "RootCause", "format_impact", "format_root_cause", "impact", "make_client", "open_store", "root_cause",
    "static_job_events", "to_json",
]
