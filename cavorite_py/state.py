"""The local state cache: each file's sha256 remembered against its size, times and inode.

It lives in ``.cavorite/state.db`` (SQLite, ignored by git) and only saves work: an entry is
used only when the file's size, mtime, ctime, inode and device are all unchanged, and only if the
file was last modified clearly before it was hashed (a file written in the same clock tick as
its hashing could change without its mtime moving). A damaged or unreadable cache is thrown
away and rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import stat as statmod
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .config import CONFIG_DIR
from .hashing import hash_file

log = logging.getLogger(__name__)

STATE_NAME = "state.db"
SCHEMA_VERSION = 1
RACY_NS = 200_000_000
"""a file modified less than this before it was hashed is hashed again next time"""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER,
    ino INTEGER, dev INTEGER, hashed_ns INTEGER, sha256 TEXT
)
"""

Signature = tuple[int, int, int, int, int]


def signature(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class StateCache:
    """A :class:`~cavorite_py.engine.Hasher` that remembers. Thread-safe; writes on ``close``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / CONFIG_DIR / STATE_NAME
        self._lock = threading.Lock()
        self._known: dict[str, tuple[Signature, int, str]] | None = None
        self._pending: dict[str, tuple[Signature, int, str]] = {}
        self.hits = 0
        self.misses = 0

    # ----------------------------------------------------------------- Hasher

    def sha256(self, path: Path, st: os.stat_result) -> str:
        rel = self._rel(path)
        entry = self._entries().get(rel) if rel is not None else None
        if entry is not None:
            sig, hashed_ns, sha = entry
            if sig == signature(st) and st.st_mtime_ns < hashed_ns - RACY_NS:
                self.hits += 1
                return sha
        started = time.time_ns()
        sha = hash_file(path)[0]
        self.misses += 1
        self._record(rel, st, sha, started)
        return sha

    def remember(self, path: Path, st: os.stat_result, sha256: str) -> None:
        self._record(self._rel(path), st, sha256, time.time_ns())

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        """The remembered sha256 if it can be trusted for this stat, without hashing."""
        rel = self._rel(path)
        entry = self._entries().get(rel) if rel is not None else None
        if entry is None:
            return None
        sig, hashed_ns, sha = entry
        return sha if sig == signature(st) and st.st_mtime_ns < hashed_ns - RACY_NS else None

    # ----------------------------------------------------------------- storage

    def _rel(self, path: Path) -> str | None:
        """The cache key of ``path``; None (not cached) outside the root, or for a name that is
        not valid UTF-8, which SQLite cannot store as text."""
        try:
            rel = path.relative_to(self.root).as_posix()
            rel.encode("utf-8")
        except ValueError:  # UnicodeEncodeError included
            return None
        return rel

    def _record(self, rel: str | None, st: os.stat_result, sha: str, hashed_ns: int) -> None:
        if rel is None:
            return
        with self._lock:
            value = (signature(st), hashed_ns, sha)
            self._pending[rel] = value
            if self._known is not None:
                self._known[rel] = value

    def _entries(self) -> dict[str, tuple[Signature, int, str]]:
        with self._lock:
            if self._known is None:
                self._known = self._load()
            return self._known

    def _load(self) -> dict[str, tuple[Signature, int, str]]:
        if self._foreign():
            log.info("state cache %s is not a regular file; not used", self.path)
            self._discard()
            return {}
        if not self.path.exists():
            return {}
        try:
            with contextlib.closing(sqlite3.connect(self.path, timeout=2)) as db:
                if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    raise sqlite3.DatabaseError("unknown schema version")
                rows = db.execute(
                    "SELECT path, size, mtime_ns, ctime_ns, ino, dev, hashed_ns, sha256 FROM hashes"
                ).fetchall()
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                # another run is writing it: hash everything this time, leave its file alone
                log.info("state cache busy; not used this time")
                return {}
            log.info("state cache %s unusable (%s); rebuilding it", self.path, exc)
            self._discard()
            return {}
        known = {}
        for path, size, mtime, ctime, ino, dev, hashed_ns, sha in rows:
            numbers = (size, mtime, ctime, ino, dev, hashed_ns)
            if not all(type(n) is int for n in numbers) or not isinstance(path, str):
                continue
            if isinstance(sha, str) and _SHA256.fullmatch(sha):
                known[path] = ((size, mtime, ctime, ino, dev), hashed_ns, sha)
        return known

    def _foreign(self) -> bool:
        """Whether something other than a regular file is at the cache's path: through a link
        (say, one committed in a hostile repository) SQLite would create or write any file."""
        try:
            return not statmod.S_ISREG(os.lstat(self.path).st_mode)
        except FileNotFoundError:
            return False

    def _discard(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")

    def flush(self) -> None:
        """Write what was learnt. A cache that cannot be written is skipped, never an error."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending or not self.path.parent.is_dir():
            return
        rows = [(p, *sig, hashed, sha) for p, (sig, hashed, sha) in pending.items()]
        rows = [r for r in rows if all(-(2**63) <= v < 2**63 for v in r if isinstance(v, int))]
        try:
            self._write(rows)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                log.info("state cache busy; not updated this time")
                return
            log.info("state cache %s damaged (%s); rebuilding it", self.path, exc)
            self._discard()
            with contextlib.suppress(sqlite3.Error):
                self._write(rows)

    def _write(self, rows: Sequence[tuple[object, ...]]) -> None:
        if self._foreign():
            self._discard()
            if self._foreign():  # e.g. a directory: leave it, do without a cache
                return
        ensure_ignored(self.path.parent)
        with contextlib.closing(sqlite3.connect(self.path, timeout=5)) as db, db:
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.executemany("INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?,?,?,?)", rows)

    def close(self) -> None:
        self.flush()


def ensure_ignored(config_dir: Path) -> None:
    """Keep the cache out of version control with a .gitignore inside ``.cavorite/``."""
    ignore = config_dir / ".gitignore"
    if not os.path.lexists(ignore):  # a link, even dangling, is not written through
        with contextlib.suppress(OSError):
            ignore.write_text(f"# local state of cavorite-py, never committed\n{STATE_NAME}*\n")
