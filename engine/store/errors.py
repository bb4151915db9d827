"""The store's exceptions: what callers handle as a miss, and what stops a command."""

from __future__ import annotations

from engine.errors import RippleError


class StoreError(RippleError):
    """The store cannot be used (newer schema, disk full, locked for too long)."""


class Unstorable(RippleError):
    """The value cannot be serialised; the cache treats the node as uncacheable for this run."""


class EntryDamaged(RippleError):
    """A stored value is missing, truncated, corrupted or cannot be unpickled.

    Always handled as a cache miss: the damaged row (and file) are already gone when this is raised.
    """


class StoreDamaged(RippleError):
    """An unexpected error while reading or writing the store's files: the database or an object is
    damaged in a way the store did not recognise. Raised at the store boundary (every public
    :class:`engine.store.Store` method), so the CLI can name the store and what to do."""

    def __init__(self, where: str, root: str, exc: BaseException) -> None:
        detail = " ".join(str(exc).split())[:200]
        super().__init__(
            f"the cache store {where} is damaged and could not be read ({type(exc).__name__}: {detail}); "
            f"move {root} aside or delete it (cached results will be recomputed), or run with --no-cache."
        )
        self.root = root
