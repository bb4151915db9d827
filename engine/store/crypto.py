"""Optional encryption at rest: AES-256-GCM over a serialised value (``[tool.ripple] encrypt = true``).

Layered under the MAC, not instead of it: the stored bytes are ``RPE\\x01 | nonce | ciphertext+tag``
and the entry's MAC covers those bytes, so a wrong key is found by the MAC (a miss, never garbage)
before any decryption is tried. The data version is the associated data, so a ciphertext moved to
another entry does not decrypt. ``cryptography`` is imported only when a value is encrypted or
decrypted (``pip install 'ripple[encrypt]'``).

What it costs: one copy of the value (out-of-band numpy/pandas buffers are joined before
encryption and rebuilt from the decrypted bytes) plus AES-GCM itself, which runs at several GB/s
with AES-NI; ``bench/bench_store_crypto.py`` measures it.
"""

from __future__ import annotations

import os
from typing import Any

from engine.errors import UsageError

MAGIC = b"RPE\x01"
NONCE = 12


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise UsageError("the cache is encrypted (encrypt = true) and that needs the cryptography package; "
                         "install it with pip install 'ripple[encrypt]'.") from None
    return AESGCM(key)


def check_available() -> None:
    """Fail at open, not at the first put, when encryption is asked for but cannot work."""
    _aesgcm(bytes(32))


def encrypt(key: bytes, parts: list[Any], aad: bytes) -> bytes:
    plain = b"".join(parts)  # memoryviews of out-of-band buffers join without a copy of their own
    nonce = os.urandom(NONCE)
    return MAGIC + nonce + _aesgcm(key).encrypt(nonce, plain, aad)


def is_encrypted(data: bytes | bytearray | memoryview) -> bool:
    return bytes(data[:4]) == MAGIC


def decrypt(key: bytes, data: bytes | bytearray | memoryview, aad: bytes) -> bytearray:
    """Raises ``ValueError`` when the bytes do not decrypt (the caller's MAC check makes that rare)."""
    from cryptography.exceptions import InvalidTag

    mv = memoryview(data)
    try:
        # writable, like an object file read: restored numpy arrays must be writable
        return bytearray(_aesgcm(key).decrypt(bytes(mv[4:4 + NONCE]), mv[4 + NONCE:], aad))
    except InvalidTag:
        raise ValueError("the stored value does not decrypt under this key") from None
