"""Build and run a graph: decorators, graph building, loading, typed inputs, plans, execution and its
executors, checks, the read recorder and graph rendering. No disk, no processes, no CLI."""
