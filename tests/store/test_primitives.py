"""The store's MACs computed without OpenSSL are the very MACs ``hmac`` and ``hashlib`` compute, so
a value stored by one path verifies under the other and no existing cache is invalidated."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys

import pytest

from engine.store.keys import StoreKey
from engine.store.primitives import SMALL_VALUE, _Hmac, blake2b, compare_digest, value_hmac


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000, SMALL_VALUE, SMALL_VALUE + 1])
def test_builtin_hmac_equals_openssl_hmac(size: int) -> None:
    key = os.urandom(32)
    data = os.urandom(size)
    mine = value_hmac(key, large=False)
    mine.update(data[: size // 2])
    fork = mine.copy()  # a copy continues independently, as hmac.HMAC.copy does
    mine.update(data[size // 2 :])
    assert mine.hexdigest() == hmac.new(key, data, "sha256").hexdigest()
    assert fork.hexdigest() == hmac.new(key, data[: size // 2], "sha256").hexdigest()
    assert mine.hexdigest() == mine.hexdigest()  # reading the digest does not consume it


def test_a_key_longer_than_a_block_is_refused_rather_than_maced_differently() -> None:
    with pytest.raises(ValueError):
        value_hmac(os.urandom(65), large=False)
    assert isinstance(value_hmac(os.urandom(32), large=False), _Hmac)


def test_blake2b_and_compare_digest_are_hashlibs_and_hmacs() -> None:
    key = os.urandom(32)
    assert blake2b(b"row", key=key, digest_size=16).hexdigest() == hashlib.blake2b(b"row", key=key,
                                                                                    digest_size=16).hexdigest()
    assert compare_digest(b"abc", b"abc") and not compare_digest(b"abc", b"abd")


def test_a_store_key_gives_one_value_mac_whatever_the_size_hint() -> None:
    key = StoreKey(os.urandom(32), "test")
    data = os.urandom(5000)
    macs = set()
    for hint in (len(data), None, SMALL_VALUE * 4):
        h = key.hasher("value", hint)
        h.update(data)
        macs.add(h.hexdigest())
    assert len(macs) == 1
    assert macs == {hmac.new(key._value, data, "sha256").hexdigest()}  # type: ignore[attr-defined]


def test_opening_a_store_and_reading_a_small_value_does_not_load_openssl(tmp_path) -> None:
    code = (
        "import sys\n"
        "from engine.store import Store\n"
        f"s = Store({str(tmp_path / 'store')!r})\n"
        "s.put('k', 'n', 'dv', 'cv', {'a': 1})\n"
        "s.commit()\n"
        "assert s.load(s.get('k')) == {'a': 1}\n"
        "print('_hashlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "RIPPLE_CACHE_KEY": "t"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_mac_compared_with_non_ascii_or_missing_text_is_never_the_same() -> None:
    assert StoreKey.same("ab12", "ab12")
    assert not StoreKey.same("ab12", "ab13")
    assert not StoreKey.same("ab1\u00e9", "ab1\u00e9")  # a tampered row's text is refused, not compared
    assert not StoreKey.same(None, "ab12") and not StoreKey.same("ab12", None)


def test_the_store_sqlite_module_is_sqlite3_without_dbapi2() -> None:
    """``engine.store.sqlite`` is ``_sqlite3``: every name the store uses is the very object
    ``sqlite3`` exports, so errors raised by one are caught as the other's."""
    import sqlite3 as public

    from engine.store.sqlite import sqlite3 as ours

    for name in ("connect", "Connection", "Error", "DatabaseError", "OperationalError", "IntegrityError"):
        assert getattr(ours, name) is getattr(public, name), name


def test_the_pickle_functions_are_pickles_own() -> None:
    """``engine._pickling`` skips ``pickle.py``, not pickle: the same C functions ``pickle`` exports."""
    import pickle

    from engine import _pickling

    assert (_pickling.dumps, _pickling.loads, _pickling.PickleBuffer) == (pickle.dumps, pickle.loads,
                                                                          pickle.PickleBuffer)
