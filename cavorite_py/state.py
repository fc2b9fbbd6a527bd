"""The local state cache: each artifact's sha256, and each cfile's parsed content, remembered
against the file's size, times and inode; and what each stored object held at the version the
store gave it.

It lives in ``.cavorite/state.db`` (SQLite, ignored by git) and only saves work: an entry is
used only when the file's size, mtime, ctime, inode and device are all unchanged, and only if the
file was last modified clearly before it was read (a file written in the same clock tick as
its reading could change without its mtime moving). A damaged or unreadable cache is thrown
away and rebuilt, never trusted; a cfile's remembered content is validated again when loaded.
A stored object's sha256 is remembered only against the store's own version tag of it (S3's
ETag), which the store changes whenever the object is written again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import stat as statmod
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from . import metadata
from .config import CONFIG_DIR
from .errors import CavoriteError
from .fsutil import relative_posix
from .hashing import hash_file
from .metadata import Metadata
from .stores.base import ObjectInfo

log = logging.getLogger(__name__)

STATE_NAME = "state.db"
SCHEMA_VERSION = 2
RACY_NS = 200_000_000
"""a file modified less than this before it was hashed is hashed again next time"""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_STAT = "path, size, mtime_ns, ctime_ns, ino, dev"
_COLUMNS = {
    "hashes": f"{_STAT}, hashed_ns, sha256",
    "cfiles": f"{_STAT}, read_ns, name, checksum, date_modified, object_size, extra",
    "objects": "store, key, version, size, sha256",
}
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER,
    ino INTEGER, dev INTEGER, hashed_ns INTEGER, sha256 TEXT
)""",
    """CREATE TABLE IF NOT EXISTS cfiles (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER,
    ino INTEGER, dev INTEGER, read_ns INTEGER,
    name TEXT, checksum TEXT, date_modified TEXT, object_size INTEGER, extra TEXT
)""",
    """CREATE TABLE IF NOT EXISTS objects (
    store TEXT, key TEXT, version TEXT, size INTEGER, sha256 TEXT, PRIMARY KEY (store, key)
)""",
)

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
        self._cfiles: dict[str, tuple[Signature, int, Metadata]] | None = None
        self._pending_cfiles: dict[str, tuple[Signature, int, Metadata]] = {}
        self._objects: dict[tuple[str, str], tuple[str, int, str]] | None = None
        self._pending_objects: dict[tuple[str, str], tuple[str, int, str]] = {}
        self.hits = 0
        self.misses = 0

    # ----------------------------------------------------------------- Hasher

    def sha256(self, path: Path, st: os.stat_result) -> str:
        rel = self._rel(path)
        entry = self._entries().get(rel) if rel is not None else None
        if entry is not None and _trusted(entry, st):
            self.hits += 1
            return entry[2]
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
        return entry[2] if entry is not None and _trusted(entry, st) else None

    def metadata(self, cfile: Path) -> Metadata:
        """The cfile's content (see :func:`metadata.read`), without reading the file when it is
        unchanged since it was last read."""
        rel = self._rel(cfile)
        if rel is not None:
            try:
                st = os.lstat(cfile)
            except OSError:
                pass  # metadata.read says what is wrong
            else:
                entry = self._cfile_entries().get(rel)
                if entry is not None and statmod.S_ISREG(st.st_mode) and _trusted(entry, st):
                    return entry[2]
        started = time.time_ns()
        meta, st = metadata.read_with_stat(cfile)
        if rel is not None:
            with self._lock:
                value = (signature(st), started, meta)
                self._pending_cfiles[rel] = value
                if self._cfiles is not None:
                    self._cfiles[rel] = value
        return meta

    def stored_sha256(self, store: str, key: str, listed: ObjectInfo) -> str | None:
        """The sha256 of the object ``key`` of ``store`` (its ``describe()``) if it was seen at
        the version and size a listing now shows; None if that is not known."""
        if listed.version is None:
            return None
        entry = self._object_entries().get((store, key))
        if entry is None or entry[:2] != (listed.version, listed.size):
            return None
        return entry[2]

    def remember_stored(self, store: str, key: str, info: ObjectInfo) -> None:
        """Remember that ``key`` held content of this sha256 at this version, if both are known."""
        if info.version is None or info.sha256 is None or not _SHA256.fullmatch(info.sha256):
            return
        value = (info.version, info.size, info.sha256)
        with self._lock:
            self._pending_objects[(store, key)] = value
            if self._objects is not None:
                self._objects[(store, key)] = value

    # ----------------------------------------------------------------- storage

    def _rel(self, path: Path) -> str | None:
        """The cache key of ``path``; None (not cached) outside the root, or for a name that is
        not valid UTF-8, which SQLite cannot store as text."""
        try:
            rel = relative_posix(path, self.root)
        except ValueError:
            return None
        if not rel.isascii():
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
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
                self._known = {}
                for path, *numbers, sha in self._query("hashes"):
                    sig = _signature_of(path, numbers)
                    if (
                        sig is not None
                        and isinstance(path, str)
                        and isinstance(sha, str)
                        and _SHA256.fullmatch(sha)
                    ):
                        self._known[path] = (sig, cast(int, numbers[-1]), sha)
            return self._known

    def _cfile_entries(self) -> dict[str, tuple[Signature, int, Metadata]]:
        with self._lock:
            if self._cfiles is None:
                self._cfiles = {}
                for path, *numbers, name, checksum, modified, size, extra in self._query("cfiles"):
                    sig = _signature_of(path, numbers)
                    if sig is None or not isinstance(path, str):
                        continue
                    try:
                        fields = {} if extra is None else json.loads(cast(str, extra))
                        if not isinstance(fields, dict):
                            continue
                        meta = Metadata.checked(name, checksum, modified, size, fields)
                    except (CavoriteError, ValueError, TypeError, RecursionError):
                        continue  # not what this cache writes: read the cfile instead
                    self._cfiles[path] = (sig, cast(int, numbers[-1]), meta)
            return self._cfiles

    def _object_entries(self) -> dict[tuple[str, str], tuple[str, int, str]]:
        with self._lock:
            if self._objects is None:
                self._objects = {}
                for store, key, version, size, sha in self._query("objects"):
                    if (
                        isinstance(store, str)
                        and isinstance(key, str)
                        and isinstance(version, str)
                        and type(size) is int
                        and isinstance(sha, str)
                        and _SHA256.fullmatch(sha)
                    ):
                        self._objects[(store, key)] = (version, size, sha)
            return self._objects

    def _query(self, table: str) -> list[tuple[object, ...]]:
        """Every row of ``table``; none from a cache that is busy, damaged or not ours."""
        if self._foreign():
            log.info("state cache %s is not a regular file; not used", self.path)
            self._discard()
            return []
        if not self.path.exists():
            return []
        try:
            with contextlib.closing(sqlite3.connect(self.path, timeout=2)) as db:
                if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    raise sqlite3.DatabaseError("unknown schema version")
                query = f"SELECT {_COLUMNS[table]} FROM {table}"
                rows: list[tuple[object, ...]] = db.execute(query).fetchall()
                return rows
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                # another run is writing it: do without it this time, leave its file alone
                log.info("state cache busy; not used this time")
                return []
            if isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc):
                return []  # written by an earlier version: the table comes with the next write
            log.info("state cache %s unusable (%s); rebuilding it", self.path, exc)
            self._discard()
            return []

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
            cfiles, self._pending_cfiles = self._pending_cfiles, {}
            objects, self._pending_objects = self._pending_objects, {}
        if not (pending or cfiles or objects) or not self.path.parent.is_dir():
            return
        rows: dict[str, list[tuple[object, ...]]] = {
            "hashes": [(p, *sig, hashed, sha) for p, (sig, hashed, sha) in pending.items()],
            "cfiles": [(p, *sig, read, *_fields(meta)) for p, (sig, read, meta) in cfiles.items()],
            "objects": [(*where, *what) for where, what in objects.items()],
        }
        for table, values in rows.items():
            rows[table] = [r for r in values if _storable(r)]
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

    def _write(self, rows: dict[str, list[tuple[object, ...]]]) -> None:
        if self._foreign():
            self._discard()
            if self._foreign():  # e.g. a directory: leave it, do without a cache
                return
        ensure_ignored(self.path.parent)
        with contextlib.closing(sqlite3.connect(self.path, timeout=5)) as db, db:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            for table, values in rows.items():
                marks = ",".join("?" * len(_COLUMNS[table].split(",")))
                db.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", values)

    def close(self) -> None:
        self.flush()


def _trusted(entry: tuple[Signature, int, object], st: os.stat_result) -> bool:
    """Whether a remembered entry still describes the file with this stat: same signature, and
    modified clearly before it was read."""
    return entry[0] == signature(st) and st.st_mtime_ns < entry[1] - RACY_NS


def _signature_of(path: object, numbers: Sequence[object]) -> Signature | None:
    """The stat signature of a row (size, mtime, ctime, inode, device, then the time it was
    read); None for a row with values of the wrong types (SQLite stores any type anywhere)."""
    if not isinstance(path, str) or len(numbers) != 6:
        return None
    size, mtime, ctime, ino, dev, read = numbers
    if type(size) is type(mtime) is type(ctime) is type(ino) is type(dev) is type(read) is int:
        return (size, mtime, ctime, ino, dev)
    return None


def _fields(meta: Metadata) -> tuple[object, ...]:
    extra = json.dumps(dict(meta.extra)) if meta.extra else None
    return (meta.name, meta.checksum, meta.date_modified, meta.size, extra)


_INT64 = range(-(2**63), 2**63)


def _storable(row: tuple[object, ...]) -> bool:
    """Whether SQLite can hold every value of ``row`` (its integers are 64-bit)."""
    return all(v in _INT64 for v in row if isinstance(v, int))


def ensure_ignored(config_dir: Path) -> None:
    """Keep the cache out of version control with a .gitignore inside ``.cavorite/``."""
    ignore = config_dir / ".gitignore"
    if not os.path.lexists(ignore):  # a link, even dangling, is not written through
        with contextlib.suppress(OSError):
            ignore.write_text(f"# local state of cavorite-py, never committed\n{STATE_NAME}*\n")
