"""A run's cache entries, read in one query and each authenticated only when first used.

Why: a store keeps every entry a node ever had (each of its code versions and each value its
inputs ever had made one, and reverting an edit is a hit), while a warm run uses one per node; and
checking a row (its MAC, its record) costs about what reading it does. So the rows of all planned
nodes are read at once, and a row becomes an :class:`Entry` only when a key asks for it (or a miss
asks for a node's entries, to explain itself). An unauthentic row is a miss, as ever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.store.records import Entry

__all__ = ["Prefetched"]

_UNREAD = object()


class Prefetched:
    """Entries by key (``get``) and by node (``of``), of the rows read; ``add`` what a run stores;
    whether a node has rows of a code version (``has_version``).

    ``exact``: (node, code version) pairs of which only that version's rows were read (a guess at
    each node's version now); ``later`` reads the other rows of those nodes, the first time ``of``
    needs all of a node's entries or ``get`` a key the rows read do not have, so a wrong guess costs
    a read, never a hit."""

    __slots__ = ("_rows", "_check", "_verified", "_pending", "_since", "_by_node", "_keys_of", "_exact", "_later",
                 "_versions")

    def __init__(self, rows: Iterable[tuple], check: Callable[[tuple], Entry | None],
                 pending: Iterable[Entry] = (), *, exact: Iterable[tuple[str, str]] = (),
                 later: Callable[[], Iterable[tuple]] | None = None) -> None:
        self._rows = {row[0]: row for row in rows}
        self._exact = frozenset(exact)
        self._later = later
        self._versions: set[tuple[str, str]] | None = None
        self._check = check
        #: key -> the row's entry, or None for a row that failed authentication
        self._verified: dict[str, Entry | None] = {}
        #: entries written but not committed when the rows were read: they win over their rows
        self._pending = {e.key: e for e in pending}
        #: what the run stored or dropped since: what ``get`` finds first
        self._since: dict[str, Entry | None] = dict(self._pending)
        #: each node's authentic entries, newest first, made when ``of`` first asks for that node
        self._by_node: dict[str, list[Entry]] = {}
        #: the keys read, by node (a row's own node column: an authentic row's entry has that node)
        self._keys_of: dict[str, list[str]] | None = None

    def _row_entry(self, key: str) -> Entry | None:
        got = self._verified.get(key, _UNREAD)
        if got is _UNREAD:
            row = self._rows.get(key)
            if row is None:
                return None  # not read (yet: ``of`` may read it)
            got = self._verified[key] = self._check(row)
        return got  # type: ignore[return-value]

    def get(self, key: str) -> Entry | None:
        if key in self._since:
            return self._since[key]
        got = self._row_entry(key)
        if got is None and self._later is not None and key not in self._rows:
            self._read_later()  # a node's version was not the one read ahead by: its other rows
            got = self._row_entry(key)
        return got

    def _read_later(self) -> None:
        if self._later is not None:
            later, self._later = self._later, None
            for row in later():
                self._rows.setdefault(row[0], row)
            self._by_node = {}
            self._keys_of = self._versions = None

    def add(self, entry: Entry) -> None:
        """An entry this run stored: found by its key from now on (``of`` keeps to what was read)."""
        self._since[entry.key] = entry

    def discard(self, key: str) -> Entry | None:
        got = self.get(key)
        self._since[key] = None
        return got

    def of(self, node: str) -> list[Entry]:
        """The authentic entries of ``node`` as they were read, newest first. Only that node's rows
        are authenticated: a miss explaining itself (every edit's first miss) would otherwise check
        the MAC of every row the run read (~5 µs each, a thousand after an edit at 1,000 nodes)."""
        self._read_later()
        got = self._by_node.get(node)
        if got is None:
            keys = self._keys_of
            if keys is None:
                keys = self._keys_of = {}
                for key, row in self._rows.items():
                    pending = self._pending.get(key)
                    keys.setdefault(row[1] if pending is None else pending.node, []).append(key)
                for key, e in self._pending.items():
                    if key not in self._rows:
                        keys.setdefault(e.node, []).append(key)
            got = [e for k in keys.get(node, ()) if (e := self._pending.get(k) or self._row_entry(k)) is not None]
            got.sort(key=lambda e: e.created, reverse=True)
            self._by_node[node] = got
        return got

    def has_version(self, node: str, code_version: str) -> bool:
        """Whether a row of ``node`` made by ``code_version`` was read, or such an entry is pending,
        without authenticating it: for a prediction ("can it hit at all?"), which a planted row can
        only make less certain, never wrong about what runs (a hit is still looked up by key and
        authenticated). Checking the MACs of every downstream node's rows cost an edited 1,000-node
        run's predictions ~5 ms."""
        if (node, code_version) not in self._exact:
            self._read_later()
        if self._versions is None:
            self._versions = {(row[1], row[3]) for row in self._rows.values()}
        return (node, code_version) in self._versions or any(
            e.node == node and e.code_version == code_version for e in self._pending.values())
