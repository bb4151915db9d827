"""The dashboard's state (no Textual): the graph, notices and the run model."""
