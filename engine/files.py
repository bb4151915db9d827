"""Data files as values: the ``File`` marker and content versions of files and directories.

Why content, not mtime: a cache that trusts timestamps serves stale results after ``git checkout``,
``cp -p``, ``rsync -t`` or an editor that preserves times. Ripple versions a file by an xxh3_128
digest of its bytes, and uses (size, mtime_ns, ctime_ns, inode, device) only as a fast path to skip
re-reading a file it has already hashed (:class:`FileVersions`).
"""

from __future__ import annotations

import os
import stat as _stat
import time
from collections.abc import Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

import xxhash

from engine._json import dumps as json_dumps
from engine._json import loads as json_loads

__all__ = ["MISSING_VERSION", "File", "FileVersions", "file_version", "folders", "in_library"]

_CHUNK = 1 << 20  # 1 MiB: big enough for full hashing speed, small enough to stay cache-friendly
_DIR_SEED = 0x52495050  # directories hash in their own domain, so no file content can mimic one
_MISSING_SEED = 0x4D495353

MISSING_VERSION: str = xxhash.xxh3_128_hexdigest(b"ripple:missing-file", seed=_MISSING_SEED)
"""Version of a path that does not exist: stable, so creating the file later changes the version."""

# A memo entry is only trusted when the file's mtime is older than this. Within the window, a write
# can land without changing (size, mtime) on filesystems with coarse timestamps (1 s on HFS+, 2 s on
# FAT) or when two writes share one timer tick: git's "racy clean" problem. Such files are re-hashed.
RACY_WINDOW_NS = 2_000_000_000


_LIBRARY_FOLDERS = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")


def folders(paths: Iterable[str]) -> tuple[str, ...]:
    """Path prefixes that stand for these folders and what is in them: each ends with a separator,
    so a file beside a folder whose name begins alike (``venv-notes.txt`` beside ``venv``) is not in it."""
    return tuple({os.path.join(os.path.realpath(p), "") for p in paths})


def in_library(path: str) -> bool:
    """Whether ``path`` (a file or a folder) lies in a ``site-packages``/``dist-packages`` folder: as a
    folder of the path, not as any text in it (``~/site-packages-tool/`` is a project's, whose code
    and files count as such)."""
    p = path + os.sep
    return _LIBRARY_FOLDERS[0] in p or _LIBRARY_FOLDERS[1] in p


class File(os.PathLike):
    """Marks a value as a data file: Ripple versions it by the file's *content*, not its name.

    Use it for node inputs or results that name files (``File("data/raw.csv")``); a plain
    ``pathlib.Path`` is treated the same way by the fingerprint.
    """

    __slots__ = ("_path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(os.fspath(path))

    @property
    def path(self) -> Path:
        return self._path

    def __fspath__(self) -> str:
        return os.fspath(self._path)

    def __repr__(self) -> str:
        return f"File({os.fspath(self._path)!r})"

    def __str__(self) -> str:
        return os.fspath(self._path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and self._path == other._path

    def __hash__(self) -> int:
        return hash(("ripple.File", self._path))

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (File, (os.fspath(self._path),))


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(xxh3_128 hex digest, size) of a file's bytes, streamed through one reusable buffer (no
    per-chunk allocation); shared by content versions and the store's object checks."""
    h = xxhash.xxh3_128()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    size = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


def _hash_file(path: str) -> str:
    return hash_file(path)[0]


def _dir_version(root: str, version_of: Callable[[str], str]) -> str:
    """Digest of the sorted (relative POSIX name, content version) pairs of all files below root.

    Symlinked directories are followed — a ``data/raw -> /mnt/share/raw`` link is the data the node
    reads — except into a directory already being walked (no loops); symlinked files are versioned
    by target. Sockets, FIFOs and devices are versioned by kind, never read (reading one blocks).
    """
    entries: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        keep = []
        for d in sorted(dirnames):
            target = os.path.realpath(os.path.join(dirpath, d))
            # A link back to an ancestor (or to ourselves) would loop: record it by name only.
            ancestor = target == real or (real + os.sep).startswith(target + os.sep)
            if ancestor:
                rel = os.path.relpath(os.path.join(dirpath, d), root).replace(os.sep, "/")
                entries.append((rel, xxhash.xxh3_128_hexdigest(b"loop:" + target.encode("utf-8", "surrogateescape"))))
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            entries.append((rel, version_of(full)))
    entries.sort()
    h = xxhash.xxh3_128(seed=_DIR_SEED)
    for rel, version in entries:
        b = rel.encode("utf-8", "surrogateescape")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
        h.update(bytes.fromhex(version))
    return h.hexdigest()


def _special_version(st: os.stat_result) -> str:
    """A socket, FIFO or device: versioned by its kind (its "content" is a stream, not data)."""
    return xxhash.xxh3_128_hexdigest(b"special:%o" % _stat.S_IFMT(st.st_mode), seed=_MISSING_SEED)


def file_version(path: str | os.PathLike[str]) -> str:
    """Content version of a file or directory (32 hex chars); :data:`MISSING_VERSION` if absent.

    A regular file's version is the plain xxh3_128 of its bytes, so it can be checked with any
    xxhash tool. Unreadable files raise ``OSError``: guessing would risk a stale hit.
    """
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        return MISSING_VERSION
    if _stat.S_ISDIR(st.st_mode):
        return _dir_version(p, file_version)
    if not _stat.S_ISREG(st.st_mode):
        return _special_version(st)
    return _hash_file(p)


class FileVersions:
    """Content versions with a stat fast path, memoised in a (possibly persistent) mapping.

    The memo maps ``"file:" + absolute path`` to a JSON string ``{"sig": [...], "v": digest}``
    so the store can keep it in SQLite. An entry is reused only when size, mtime_ns, ctime_ns,
    inode and device all match *and* the mtime is older than :data:`RACY_WINDOW_NS` — a file
    modified within the last two seconds is always re-hashed, because a second write in the same
    timestamp tick would leave the signature unchanged. ctime is included because tools such as
    ``cp -p`` or ``touch -d`` can restore mtime after changing content, but cannot restore ctime.
    """

    def __init__(self, memo: MutableMapping[str, str] | None = None) -> None:
        self.memo: MutableMapping[str, str] = memo if memo is not None else {}

    def version(self, path: str | os.PathLike[str]) -> str:
        p = os.path.abspath(os.fspath(path))
        try:
            st = os.stat(p)
        except (FileNotFoundError, NotADirectoryError):
            return MISSING_VERSION
        if _stat.S_ISDIR(st.st_mode):
            return _dir_version(p, self.version)
        if not _stat.S_ISREG(st.st_mode):
            return _special_version(st)
        key = "file:" + p
        sig = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        racy = time.time_ns() - st.st_mtime_ns < RACY_WINDOW_NS
        raw = self.memo.get(key)
        if raw is not None and not racy:
            try:
                entry = json_loads(raw)
                if entry["sig"] == sig:
                    return entry["v"]
            except (ValueError, KeyError, TypeError):
                pass  # a damaged memo entry is just a miss
        digest = _hash_file(p)
        try:
            st2 = os.stat(p)
        except OSError:
            return digest
        sig2 = [st2.st_size, st2.st_mtime_ns, st2.st_ctime_ns, st2.st_ino, st2.st_dev]
        if sig2 == sig:  # the file did not change while we read it
            self.memo[key] = json_dumps({"sig": sig, "v": digest}, compact=True)
        return digest
