"""Runs in child processes, again on every save: the run protocol, the child and warm worker, the
watcher and its change analysis, and the one watch loop."""
