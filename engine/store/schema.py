"""The store's layout: file names, limits, the SQL every part of the store shares, and how its JSON
documents are written."""

from __future__ import annotations

from engine._json import compact_encoder

#: Bump when the table layout changes incompatibly; older Ripples refuse newer stores.
#: v2: ``node_runs.deps`` (the input data versions each node's key used), so explanations compare
#: with the node's previous run rather than with whichever entry is newest.
#: v3: entries indexed by (node, code version, created): a run reads the entries of its nodes' code
#: versions now, not every entry they ever had (``Store.prefetch``).
SCHEMA_VERSION = 3

_ENTRIES_INDEX = "CREATE INDEX IF NOT EXISTS entries_node_version ON entries(node, code_version, created)"

#: How a store of an older version is brought up to date, one step per version (run in one transaction).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE node_runs ADD COLUMN deps TEXT",),
    2: ("DROP INDEX IF EXISTS entries_node", _ENTRIES_INDEX),
}

DB_NAME = "meta.sqlite"

_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)

#: How long a batch may hold rows in memory before writing them (bounds what a kill can lose).
BATCH_FLUSH_SECONDS = 0.25

#: ... and how many rows.
BATCH_FLUSH_ROWS = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    data_version TEXT NOT NULL,
    code_version TEXT,
    size INTEGER NOT NULL,
    compute_seconds REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    last_used REAL NOT NULL,
    deps TEXT,
    code_parts TEXT,
    files TEXT,
    checksum TEXT NOT NULL,
    inline BLOB          -- last, so reading the other columns never walks its overflow pages
);
CREATE INDEX IF NOT EXISTS entries_node_version ON entries(node, code_version, created);
CREATE INDEX IF NOT EXISTS entries_dv ON entries(data_version);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    pipeline TEXT,
    started REAL,
    finished REAL,
    status TEXT,
    outputs TEXT,
    ran INT, cached INT, failed INT, skipped INT,
    seconds REAL
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started);
CREATE TABLE IF NOT EXISTS node_runs (
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    status TEXT,
    seconds REAL,
    hit INT,
    why TEXT,
    key TEXT,
    data_version TEXT,
    code_version TEXT,
    error TEXT,
    traceback TEXT,
    started REAL,
    deps TEXT            -- v2: JSON {parameter: data version} the node's key was made of
);
CREATE INDEX IF NOT EXISTS node_runs_node ON node_runs(node, started);
CREATE INDEX IF NOT EXISTS node_runs_run ON node_runs(run_id);
CREATE TABLE IF NOT EXISTS run_hits (  -- a run's cache hits, packed: see Store.record_nodes
    run_id TEXT PRIMARY KEY,
    nodes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS memo (
    k TEXT PRIMARY KEY,
    v TEXT NOT NULL,
    t REAL NOT NULL DEFAULT 0   -- when written: lets gc() bound the memo
);
"""

#: Serialised values smaller than this are stored in the SQLite row instead of a file.
INLINE_LIMIT = 16 * 1024

_ENTRY_COLS = (
    "key, node, data_version, code_version, size, compute_seconds, created, last_used, "
    "deps, code_parts, files, checksum"
)

# ``length(inline)`` is answered from the record header without reading the blob's overflow pages,
# unlike ``inline IS NOT NULL``: it halves the cost of prefetching thousands of entries.
_SELECT_ENTRY = f"SELECT {_ENTRY_COLS}, NULL, length(inline) IS NOT NULL FROM entries"

_SELECT_LEAN = (
    "SELECT key, node, data_version, code_version, size, compute_seconds, created, last_used, NULL, NULL, files, "
    "checksum, NULL, length(inline) IS NOT NULL FROM entries"
)

_INSERT_ENTRY = f"INSERT OR REPLACE INTO entries ({_ENTRY_COLS}, inline) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"

OBJECTS = "objects"

_TMP_PREFIX = ".tmp-"

#: folder under ``objects/`` for files being written (object names never start with a dot)
TMP_DIR = ".tmp"

#: Files younger than this are never garbage-collected: another process may be about to commit the
#: row that refers to them.
GC_GRACE_SECONDS = 3600.0

_RUN_COLS = "run_id, pipeline, started, finished, status, outputs, ran, cached, failed, skipped, seconds"

_NODE_RUN_COLS = (
    "run_id, node, status, seconds, hit, why, key, data_version, code_version, error, traceback, started, deps"
)

#: The memo is a cache of caches; keep it bounded.
MEMO_MAX_ROWS = 200_000


#: the store's compact JSON writer: ASCII, other objects as ``str`` (journal records, memo documents,
#: row documents; see :mod:`engine._json`)
compact_json = compact_encoder(ascii_only=True)
