"""A string memo persisted in the store (code versions, file digests) with buffered writes."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.store import Store




_DELETED = object()

#: hex characters of the MAC that prefixes every stored memo value
MAC_CHARS = 32


def seal(store: Store, k: str, v: str) -> str:
    """The stored form of a memo value: its MAC (bound to the key) then the value. The memo holds
    code versions and file-version shortcuts; a planted one could make a stale entry hit."""
    kb = k.encode("utf-8", "surrogatepass")
    h = store.key.hasher("memo")
    h.update(len(kb).to_bytes(8, "little") + kb + v.encode("utf-8", "surrogatepass"))
    return h.hexdigest() + v


def unseal(store: Store, k: str, stored: str) -> str | None:
    """The value, or ``None`` when the MAC does not verify (planted, damaged, another key)."""
    v = stored[MAC_CHARS:]
    return v if store.key.same(stored[:MAC_CHARS], seal(store, k, v)[:MAC_CHARS]) else None


class _Memo(MutableMapping[str, str]):
    """``store.memo``: a persistent str→str map whose writes are buffered until ``commit()``.

    Used for caches of derived facts (parsed code versions, file-version fast path) that are read
    and written many times per run; a transaction per ``memo[k] = v`` would cost more than the
    facts save.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: dict[str, Any] = {}

    def __getitem__(self, k: str) -> str:
        v = self._pending.get(k)
        if v is not None:
            if v is _DELETED:
                raise KeyError(k)
            return v
        row = self._store._read(lambda c: c.execute("SELECT v FROM memo WHERE k=?", (k,)).fetchone())
        v = unseal(self._store, k, row[0]) if row is not None and isinstance(row[0], str) else None
        if v is None:
            raise KeyError(k)
        return v

    def __setitem__(self, k: str, v: str) -> None:
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("memo keys and values must be str")
        with self._store._lock:
            self._pending[k] = v

    def __delitem__(self, k: str) -> None:
        if k not in self:
            raise KeyError(k)
        with self._store._lock:
            self._pending[k] = _DELETED

    def discard(self, k: str) -> None:
        """Delete ``k`` at the next commit, without reading it first (as ``del`` does)."""
        with self._store._lock:
            self._pending[k] = _DELETED

    def oldest(self, prefix: str, keep: int) -> list[str]:
        """The committed keys starting with ``prefix``, but for the ``keep`` most recently written:
        what a caller bounding its own kind of memo value deletes."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self._store._read(lambda c: c.execute(
            "SELECT k FROM memo WHERE k >= ? AND k < ? ORDER BY t DESC LIMIT -1 OFFSET ?", (prefix, end, keep)).fetchall())
        return [r[0] for r in rows]

    def __contains__(self, k: object) -> bool:
        try:
            self[k]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        self._store.commit()
        rows = self._store._read(lambda c: c.execute("SELECT k FROM memo").fetchall())
        return iter([r[0] for r in rows])

    def __len__(self) -> int:
        self._store.commit()
        return self._store._read(lambda c: c.execute("SELECT count(*) FROM memo").fetchone()[0])

    def _take(self) -> list[tuple[str, Any]]:
        items = list(self._pending.items())
        self._pending.clear()
        return items
