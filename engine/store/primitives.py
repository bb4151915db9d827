"""The hash primitives of the store, taken from CPython's built-in modules so that a warm run does
not load OpenSSL: ``import hashlib`` (or ``hmac``) initialises ``_hashlib``, ~2 ms of a run that
otherwise needs only a few small MACs.

* keyed BLAKE2b (rows, memo values, journal records, sub-key derivation) comes from ``_blake2``,
  the very module ``hashlib.blake2b`` is;
* HMAC-SHA256 of a value is the same MAC whichever SHA-256 computes it: values under
  :data:`SMALL_VALUE` bytes use the built-in SHA-256 (no OpenSSL; ~5x slower per byte, which is
  nothing at that size), larger ones ``hmac`` over OpenSSL, loaded on first use (with SHA-NI the
  fastest MAC there is over large buffers);
* the constant-time comparison is the one ``hmac.compare_digest`` is.

Every fallback is the public ``hashlib``/``hmac`` equivalent, so an interpreter without these
modules is slower to start, never wrong; ``tests/store/test_primitives.py`` checks each MAC against
``hmac`` and ``hashlib``.
"""

from __future__ import annotations

import sys
from typing import Any

try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - CPython always has it
    from hashlib import blake2b

try:
    if sys.version_info >= (3, 12):
        from _sha2 import sha256 as _builtin_sha256
    else:
        from _sha256 import sha256 as _builtin_sha256
except ImportError:  # pragma: no cover
    from hashlib import sha256 as _builtin_sha256

try:
    from _operator import _compare_digest as compare_digest
except ImportError:  # pragma: no cover
    from hmac import compare_digest

__all__ = ["SMALL_VALUE", "blake2b", "compare_digest", "value_hmac"]

#: values up to this size are MAC'd with the built-in SHA-256 (~0.2 ms at the limit)
SMALL_VALUE = 64 << 10
_BLOCK = 64


class _Hmac:
    """HMAC-SHA256 (RFC 2104) over the built-in SHA-256, with the ``update``/``copy``/``hexdigest``
    of ``hmac.HMAC``; the key is already 32 bytes (a derived sub-key), so it is never pre-hashed."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes, inner: Any = None, outer: Any = None) -> None:
        if inner is None:
            padded = key.ljust(_BLOCK, b"\0")
            inner = _builtin_sha256(bytes(b ^ 0x36 for b in padded))
            outer = _builtin_sha256(bytes(b ^ 0x5C for b in padded))
        self._inner, self._outer = inner, outer

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._inner.update(data)

    def copy(self) -> _Hmac:
        return _Hmac(b"", self._inner.copy(), self._outer)

    def hexdigest(self) -> str:
        outer = self._outer.copy()
        outer.update(self._inner.digest())
        return outer.hexdigest()


def value_hmac(key: bytes, large: bool) -> Any:
    """A fresh HMAC-SHA256 keyed with ``key``: OpenSSL's when ``large`` (or the size is unknown)."""
    if large:
        import hmac

        return hmac.new(key, digestmod="sha256")
    if len(key) > _BLOCK:
        raise ValueError("value keys are derived sub-keys of 32 bytes")
    return _Hmac(key)
