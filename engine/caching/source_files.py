"""Source files as the code versioner reads them: each read once per ``refresh``, analysed once
per content (the analysis is memoised in the store under the content digest), with their lines
for ``explain``."""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping

from engine._json import dumps as json_dumps
from engine._json import loads as json_loads
from engine.caching.source_analysis import _FileInfo, analyze_source, content_digest, memo_key
from engine.files import RACY_WINDOW_NS


class SourceFiles:
    """Source files as the versioner sees them: each read once per ``refresh``, analysed once per
    content (the analysis is memoised in the store), with their lines for ``explain``."""

    def __init__(self, memo: MutableMapping[str, str]) -> None:
        self.memo = memo
        #: path -> (signature when read, analysis or None)
        self.seen: dict[str, tuple[tuple[int, int, int, int, int], _FileInfo | None]] = {}
        self._by_content: dict[str, _FileInfo] = {}
        self._checked: set[str] = set()  # files already read since the last refresh()
        self._line_cache: dict[str, tuple[tuple[int, int], list[str]]] = {}

    def refresh(self) -> None:
        self._checked = set()

    def info(self, path: str) -> _FileInfo | None:
        """Analysed index of a source file; parses at most once per content (memo-backed)."""
        if path in self._checked:
            hit = self.seen.get(path)
            if hit is not None:
                return hit[1]
        self._checked.add(path)
        try:
            st = os.stat(path)
        except OSError:
            return None
        sig = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns, st.st_dev)
        hit = self.seen.get(path)
        # A file written in the last 2 s may change again without changing (mtime, size): only
        # older files are trusted by signature; fresh ones are re-read (never re-parsed if equal).
        if hit is not None and hit[0] == sig and time.time_ns() - st.st_mtime_ns > RACY_WINDOW_NS:
            return hit[1]
        try:
            with open(path, "rb") as f:
                content = f.read()
        except OSError:
            return None
        digest = content_digest(content)
        info = self._by_content.get(digest)
        if info is None or info.path != path:
            key = memo_key(digest)
            raw = self.memo.get(key)
            data = None
            if raw is not None:
                try:
                    data = json_loads(raw)
                except ValueError:
                    data = None
            if data is None:
                try:
                    data = analyze_source(content, path)
                except (SyntaxError, ValueError, RecursionError):
                    self.seen[path] = (sig, None)
                    return None
                self.memo[key] = json_dumps(data, compact=True)
            info = _FileInfo(path, digest, data)
            self._by_content[digest] = info
        self.seen[path] = (sig, info)
        return info

    def lines(self, path: str) -> list[str] | None:
        try:
            st = os.stat(path)
            sig = (st.st_mtime_ns, st.st_size)
            hit = self._line_cache.get(path)
            if hit is not None and hit[0] == sig:
                return hit[1]
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines(keepends=True)
        except OSError:
            return None
        self._line_cache[path] = (sig, lines)
        return lines
