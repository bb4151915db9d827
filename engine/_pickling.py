"""Pickle's own C functions, without ``pickle.py``.

Why: everything the engine pickles or unpickles goes through ``_pickle`` (``pickle.dumps`` *is*
``_pickle.dumps``), while ``import pickle`` also loads the pure-Python pickler and its tables,
~0.6 ms of every process; a warm run needs only the ``loads`` of the values it returns. An
interpreter without the accelerator gets ``pickle``'s.
"""

from __future__ import annotations

try:
    from _pickle import PickleBuffer, dumps, loads
except ImportError:  # pragma: no cover - an interpreter without the accelerator
    from pickle import PickleBuffer, dumps, loads

__all__ = ["PickleBuffer", "dumps", "loads"]
