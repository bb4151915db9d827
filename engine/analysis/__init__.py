"""Where the time goes: history ranking, trends, critical path, cache savings, profiles.

This room sits above ``driver`` and below ``cli``: the CLI and the dashboard both read it, and
nothing in ``core``/``cache``/``store``/``driver`` imports it. Submodules load on demand so
importing one (``engine.analysis.critical_path`` from a timeline view) pulls in nothing else.
"""
