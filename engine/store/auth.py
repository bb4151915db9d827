"""Authentication of entries: the value MAC and the row MAC that every stored entry carries.

``checksum`` holds ``VALUE_MAC.ROW_MAC``. The value MAC (HMAC-SHA256 over the data version and
the stored bytes) lets an object file shared by many keys be checked once; the row MAC binds key,
node, code version, recorded files and that value MAC, so a genuine value cannot be relabelled as
another node's, and a row nobody with the key wrote is a miss before any value is read.
"""

from __future__ import annotations

from typing import Any

from engine._json import loads as json_loads
from engine.store.records import Entry


def _split(checksum: str) -> tuple[str, str]:
    """``checksum`` is ``VALUE_MAC.ROW_MAC``: the value MAC covers the data version and the stored
    bytes (so an object file shared by many keys has one), the row MAC binds key, node, versions,
    recorded files and that value MAC (so no genuine value can be relabelled as another's)."""
    vm, _, rm = checksum.partition(".")
    return vm, rm


def _files_ok(entry: Entry) -> bool:
    """Recorded file versions must decode to ``{path: version}``; anything else would silently turn
    the re-check of those files off, so such an entry is a miss."""
    raw = entry.__dict__.get("_files")
    if not raw or raw == "{}":
        return raw == "{}" or raw is None
    try:
        files = json_loads(raw)
    except (ValueError, TypeError):
        return False
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return False
    entry.__dict__["_files"] = files
    return True


class _Auth:
    """The part of :class:`engine.store.Store` that makes and checks entry MACs."""

    def _row_mac(self, key: str, node: str, dv: str, cv: str | None, files_raw: str | None, vm: str) -> str:
        return self.key.row_mac(key, node, dv, cv, files_raw, vm)

    def _value_hasher(self, data_version: str, size: int | None = None) -> Any:
        """``size``: the bytes that will follow, when known (a small value is MAC'd without OpenSSL)."""
        h = self.key.hasher("value", size)
        h.update(data_version.encode("utf-8", "surrogatepass") + b"\0")
        return h

    def _entry(self, row: tuple) -> Entry | None:
        """An entry from a row, or ``None`` when the row fails authentication (planted, edited,
        bit-rotten, or written under another key): such a row is a miss and its value is never read."""
        key, node, dv, cv, files_raw, checksum = row[0], row[1], row[2], row[3], row[10], row[11]
        vm, _, rm = (checksum or "").partition(".")
        if not (rm and self.key.same(rm, self.key.row_mac(key, node, dv, cv, files_raw, vm))):
            self._note_unauthentic()
            return None
        entry = Entry(*row)
        if not _files_ok(entry):
            self._note_unauthentic()
            return None
        return entry
