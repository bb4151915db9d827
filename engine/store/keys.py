"""The secret that authenticates (and optionally encrypts) what the store keeps.

Why a keyed MAC and not a checksum: anyone who can write the cache directory (a shared
``RIPPLE_CACHE_DIR`` on a team volume, a CI cache restored from an artifact store, an unpacked
archive) can recompute a plain checksum, and a stored value is a pickle, so a planted value would
run code on the next load. The secret lives *outside* the cache directory, so write access to the
cache alone is not enough to forge an entry.

Where the secret comes from, first match wins:

1. ``RIPPLE_CACHE_KEY`` (any text; teams that share a cache on purpose set the same value);
2. a key file: ``RIPPLE_CACHE_KEY_FILE`` or ``[tool.ripple] key_file`` (must exist);
3. the per-user key ``$XDG_CONFIG_HOME/ripple/key`` (default ``~/.config/ripple/key``), 32 random
   bytes, mode 0600 in a 0700 folder, created on first use.

The MACs: HMAC-SHA256 over stored values (with SHA-NI the faster of the two over large buffers)
and keyed BLAKE2b over rows, memo values and journal records (a PRF by design, and the cheaper one
for the few hundred bytes of a row on the warm path). Sub-keys for the
different uses (values, rows, memo, journal, encryption) are derived with BLAKE2b's ``person``
parameter, so a MAC made for one purpose never verifies as another.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine._records import Record
from engine.errors import UsageError
from engine.store.primitives import SMALL_VALUE, blake2b, compare_digest, value_hmac

__all__ = ["StoreKey", "default_key_path", "load_key"]

KEY_BYTES = 32
MAC_BYTES = 16
PURPOSES = ("value", "row", "memo", "journal", "encrypt", "id")


def default_key_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "ripple" / "key"


@dataclass(frozen=True, repr=False)
class StoreKey(Record):
    """A secret plus where it came from (named in notices; the secret itself never is)."""

    secret: bytes = field(repr=False)
    source: str
    #: True when the key was given on purpose (env or key file): a store owned by another user is
    #: then accepted, since sharing is what such a key is for.
    shared: bool = False

    def __post_init__(self) -> None:
        for purpose in PURPOSES:
            sub = blake2b(self.secret, digest_size=32, person=b"ripple-" + purpose.encode()).digest()
            object.__setattr__(self, f"_{purpose}", sub)
            # a keyed hasher ready to copy: copying beats re-keying on the warm path (~0.4 us a row).
            # Values (up to gigabytes) use HMAC-SHA256, which SHA-NI makes ~1.5x faster than BLAKE2b
            # over large buffers; rows and memo values (a few hundred bytes) use keyed BLAKE2b.
            hasher = (value_hmac(sub, large=False) if purpose == "value"
                      else blake2b(key=sub, digest_size=MAC_BYTES))
            object.__setattr__(self, f"_h_{purpose}", hasher)

    @property
    def key_id(self) -> str:
        """A public fingerprint of the key: tells "written under another key" from "damaged"."""
        return self._id[:8].hex()  # type: ignore[attr-defined]

    @property
    def encryption_key(self) -> bytes:
        return self._encrypt  # type: ignore[attr-defined]

    def hasher(self, purpose: str, size: int | None = None) -> Any:
        """A keyed hasher for ``purpose``; for ``"value"``, ``size`` is how many bytes will be fed
        (``None``: unknown): a large value gets OpenSSL's HMAC, loaded on first use
        (:mod:`engine.store.primitives`). Both compute the same MAC."""
        if purpose == "value" and (size is None or size > SMALL_VALUE):
            large = self.__dict__.get("_h_value_large")
            if large is None:
                large = value_hmac(self._value, large=True)  # type: ignore[attr-defined]
                object.__setattr__(self, "_h_value_large", large)
            return large.copy()
        return getattr(self, "_h_" + purpose).copy()

    def mac(self, purpose: str, parts: Iterable[bytes | bytearray | memoryview]) -> str:
        h = self.hasher(purpose)
        for p in parts:
            h.update(p)
        return h.hexdigest()

    def row_mac(self, key: str, node: str, dv: str, cv: str | None, files_raw: str | None, vm: str) -> str:
        """The MAC of an entry row: its text fields joined by NUL. They are names, hex digests and
        compact JSON (which escapes NUL), so the joint is unambiguous and one update is the cheapest
        MAC (every prefetched row of a warm run is checked)."""
        h = self._h_row.copy()  # type: ignore[attr-defined]
        h.update("\0".join((key, node, dv, cv or "", files_raw or "", vm)).encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    @staticmethod
    def same(a: str | None, b: str | None) -> bool:
        if a is None or b is None:
            return False
        try:
            return compare_digest(a, b)  # MACs are hex: ASCII text compares without encoding
        except TypeError:  # non-ASCII text, e.g. a tampered row: never a MAC
            return False


def load_key(key_file: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None,
             root: Path | None = None) -> StoreKey:
    """The key to use; ``key_file`` is the ``[tool.ripple] key_file`` setting (relative to ``root``)."""
    env = os.environ if env is None else env
    text = env.get("RIPPLE_CACHE_KEY")
    if text:
        return StoreKey(blake2b(text.encode(), digest_size=KEY_BYTES).digest(), "RIPPLE_CACHE_KEY",
                        shared=True)
    given = env.get("RIPPLE_CACHE_KEY_FILE") or key_file
    if given:
        path = Path(os.path.expanduser(str(given)))
        if not path.is_absolute() and root is not None:
            path = root / path
        return StoreKey(_read_key_file(path, "RIPPLE_CACHE_KEY_FILE" if env.get("RIPPLE_CACHE_KEY_FILE")
                                       else "[tool.ripple] key_file"), str(path), shared=True)
    path = default_key_path(env)
    return StoreKey(_user_key(path), str(path))


def _read_key_file(path: Path, where: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"the cache key file {path} (from {where}) does not exist; create it with e.g. "
                         f"`head -c 32 /dev/urandom > {path}` and share it with your team, or unset {where}.") from None
    except OSError as exc:
        raise UsageError(f"cannot read the cache key file {path} (from {where}): {exc.strerror}; "
                         "fix its permissions.") from None
    if len(data.strip()) < 16:
        raise UsageError(f"the cache key file {path} holds fewer than 16 bytes; put at least 32 random bytes in it.")
    return blake2b(data.strip(), digest_size=KEY_BYTES).digest()


def _user_key(path: Path) -> bytes:
    """Read the per-user key, creating it (0600, folder 0700) on first use; racing creators agree
    because the file is written under a temp name and linked into place without replacing."""
    try:
        data = path.read_bytes()
        if len(data) >= 16:
            return blake2b(data, digest_size=KEY_BYTES).digest()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UsageError(f"cannot read the per-user cache key {path}: {exc.strerror}; fix its permissions "
                         "or set RIPPLE_CACHE_KEY.") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".key-{os.getpid()}-{os.urandom(4).hex()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, os.urandom(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process created it first: theirs wins
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot create the per-user cache key {path}: {exc.strerror}; set XDG_CONFIG_HOME "
                         "to a writable folder or set RIPPLE_CACHE_KEY.") from None
    return blake2b(data, digest_size=KEY_BYTES).digest()
