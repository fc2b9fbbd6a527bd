"""The local state cache: each artifact's sha256, and each cfile's parsed content, remembered
against the file's size, times and inode; and what each stored object held at the version the
store gave it.

It lives in ``.cavorite/state.db`` (SQLite, ignored by git) and only saves work: an entry is
used only when the file's size, mtime, ctime, inode and device are all unchanged, and only if the
file was last modified clearly before it was read (a file written in the same clock tick as
its reading could change without its mtime moving). A damaged or unreadable cache is thrown
away and rebuilt, never trusted; so is one holding anything but the tables below (a committed
``state.db`` could hold views or triggers that run on every query); a cfile's remembered content
is validated again when loaded. A stored object's sha256 is remembered only against the store's
own version tag of it (S3's ETag), which the store changes whenever the object is written again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import sqlite3
import stat as statmod
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, Protocol, TypeVar, cast

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
READ_WAIT = 2.0
"""seconds a read waits for another run's lock on the cache before doing without it"""
WRITE_WAIT = 5.0
"""seconds a write waits for another run's lock before leaving the cache as it is"""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_STAT = "path, size, mtime_ns, ctime_ns, ino, dev"
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
Row = tuple[object, ...]


def signature(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class StateCache(Protocol):
    """What is known of files and stored objects without reading them again: a file's sha256,
    a cfile's content, and the sha256 a stored object held at a version its store gave it."""

    def file_sha256(self, path: Path, st: os.stat_result) -> str:
        """The sha256 of the file with this stat: remembered, else read and hashed now."""

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        """The sha256 if known without reading the file, else None."""

    def remember(self, path: Path, st: os.stat_result, sha256: str) -> None:
        """The file with this stat holds content of this sha256 (say, just downloaded)."""

    def cfile(self, cfile: Path) -> Metadata:
        """The cfile's validated content, as :func:`metadata.read` gives it."""

    def object_sha256(self, store: str, key: str, listed: ObjectInfo) -> str | None:
        """The sha256 of ``key`` if it was seen at the version and size ``listed`` shows."""

    def remember_object(self, store: str, key: str, info: ObjectInfo) -> None:
        """``key`` held content of this sha256 at this version, if both are known."""


class NoStateCache:
    """Knows nothing: reads and hashes every time."""

    def file_sha256(self, path: Path, st: os.stat_result) -> str:
        return hash_file(path)[0]

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        return None

    def remember(self, path: Path, st: os.stat_result, sha256: str) -> None:
        pass

    def cfile(self, cfile: Path) -> Metadata:
        return metadata.read(cfile)

    def object_sha256(self, store: str, key: str, listed: ObjectInfo) -> str | None:
        return None

    def remember_object(self, store: str, key: str, info: ObjectInfo) -> None:
        pass


K = TypeVar("K")
V = TypeVar("V")


class _Table(Generic[K, V]):
    """One table of the cache: its rows as loaded from the file on first use, and the entries
    learnt since, which ``flush`` writes. Its callers hold the cache's lock."""

    def __init__(
        self,
        name: str,
        columns: str,
        decode: Callable[[Row], tuple[K, V] | None],
        encode: Callable[[K, V], Row],
    ) -> None:
        self.name = name
        self.columns = columns
        self._decode = decode
        self._encode = encode
        self._loaded: dict[K, V] | None = None
        self._pending: dict[K, V] = {}

    def entries(self, query: Callable[[_Table[K, V]], list[Row]]) -> dict[K, V]:
        """Every entry, the file's rows read with ``query`` the first time; invalid rows (not
        what this cache writes) are left out."""
        if self._loaded is None:
            self._loaded = dict(e for e in map(self._decode, query(self)) if e is not None)
        return self._loaded

    def put(self, key: K, value: V) -> None:
        self._pending[key] = value
        if self._loaded is not None:
            self._loaded[key] = value

    def take(self) -> list[Row]:
        """The rows learnt since the last call, to be written."""
        pending, self._pending = self._pending, {}
        return [self._encode(key, value) for key, value in pending.items()]


class StateDB:
    """The :class:`StateCache` kept in ``.cavorite/state.db``. Thread-safe; writes on ``close``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / CONFIG_DIR / STATE_NAME
        self._lock = threading.Lock()
        self._hashes = _Table("hashes", f"{_STAT}, hashed_ns, sha256", _hash_row, _stat_row)
        self._cfiles = _Table(
            "cfiles",
            f"{_STAT}, read_ns, name, checksum, date_modified, object_size, extra",
            _cfile_row,
            _cfile_values,
        )
        self._objects = _Table("objects", "store, key, version, size, sha256", _object_row, _join)
        self.hits = 0
        self.misses = 0

    # ----------------------------------------------------------------- StateCache

    def file_sha256(self, path: Path, st: os.stat_result) -> str:
        rel = self._rel(path)
        if rel is not None and (known := self._trusted(self._hashes, rel, st)) is not None:
            self.hits += 1
            return known
        started = time.time_ns()
        sha = hash_file(path)[0]
        self.misses += 1
        self._put(self._hashes, rel, (signature(st), started, sha))
        return sha

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        """The remembered sha256 if it can be trusted for this stat, without hashing."""
        rel = self._rel(path)
        return self._trusted(self._hashes, rel, st) if rel is not None else None

    def remember(self, path: Path, st: os.stat_result, sha256: str) -> None:
        self._put(self._hashes, self._rel(path), (signature(st), time.time_ns(), sha256))

    def cfile(self, cfile: Path) -> Metadata:
        """The cfile's content (see :func:`metadata.read`), without reading the file when it is
        unchanged since it was last read."""
        rel = self._rel(cfile)
        if rel is not None:
            try:
                st = os.lstat(cfile)
            except OSError:
                # metadata.read says what is wrong
                pass
            else:
                known = self._trusted(self._cfiles, rel, st)
                if known is not None and statmod.S_ISREG(st.st_mode):
                    return known
        started = time.time_ns()
        meta, st = metadata.read_with_stat(cfile)
        self._put(self._cfiles, rel, (signature(st), started, meta))
        return meta

    def object_sha256(self, store: str, key: str, listed: ObjectInfo) -> str | None:
        """The sha256 of the object ``key`` of ``store`` (its ``describe()``) if it was seen at
        the version and size a listing now shows; None if that is not known."""
        if listed.version is None:
            return None
        with self._lock:
            entry = self._objects.entries(self._query).get((store, key))
        if entry is None or entry[:2] != (listed.version, listed.size):
            return None
        return entry[2]

    def remember_object(self, store: str, key: str, info: ObjectInfo) -> None:
        """Remember that ``key`` held content of this sha256 at this version, if both are known."""
        if info.version is None or info.sha256 is None or not _SHA256.fullmatch(info.sha256):
            return
        self._put(self._objects, (store, key), (info.version, info.size, info.sha256))

    # ----------------------------------------------------------------- entries

    def _trusted(
        self, table: _Table[str, tuple[Signature, int, V]], rel: str, st: os.stat_result
    ) -> V | None:
        """What ``table`` remembers of the file ``rel`` if it still describes it: the same
        signature, and modified clearly before it was read."""
        with self._lock:
            entry = table.entries(self._query).get(rel)
        if entry is None or entry[0] != signature(st) or st.st_mtime_ns >= entry[1] - RACY_NS:
            return None
        return entry[2]

    def _put(self, table: _Table[K, V], key: K | None, value: V) -> None:
        if key is None:
            return
        with self._lock:
            table.put(key, value)

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

    # ----------------------------------------------------------------- storage

    def _query(self, table: _Table[K, V]) -> list[Row]:
        """Every row of ``table``; none from a cache that is busy, damaged or not ours."""
        if self._foreign():
            log.info("state cache %s is not a regular file; not used", self.path)
            self._discard()
            return []
        if not self.path.exists():
            return []
        try:
            with contextlib.closing(sqlite3.connect(self.path, timeout=READ_WAIT)) as db:
                if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    raise sqlite3.DatabaseError("unknown schema version")
                _check_schema(db)
                query = f"SELECT {table.columns} FROM {table.name}"
                rows: list[Row] = db.execute(query).fetchall()
                return rows
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                # another run is writing it: do without it this time, leave its file alone
                log.info("state cache busy; not used this time")
                return []
            if isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc):
                # written by an earlier version: the table comes with the next write
                return []
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
            rows = {t.name: t.take() for t in (self._hashes, self._cfiles, self._objects)}
        if not any(rows.values()) or not self.path.parent.is_dir():
            return
        rows = {table: [r for r in values if _storable(r)] for table, values in rows.items()}
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

    def _write(self, rows: dict[str, list[Row]]) -> None:
        if self._foreign():
            self._discard()
            # e.g. a directory: leave it, do without a cache
            if self._foreign():
                return
        ensure_ignored(self.path.parent)
        with contextlib.closing(sqlite3.connect(self.path, timeout=WRITE_WAIT)) as db, db:
            _check_schema(db)
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            for table, values in rows.items():
                if values:
                    marks = ",".join("?" * len(values[0]))
                    db.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", values)

    def close(self) -> None:
        self.flush()


# --------------------------------------------------------------------- schema


def _squeezed(sql: object) -> object:
    """A statement of ``sqlite_master`` without its white space (None stays None)."""
    return "".join(sql.split()) if isinstance(sql, str) else sql


@functools.cache
def _expected_schema() -> frozenset[Row]:
    """``sqlite_master`` of a cache this version writes, as :func:`_check_schema` compares it."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        for statement in _SCHEMA:
            db.execute(statement)
        return frozenset(_schema_of(db))


def _schema_of(db: sqlite3.Connection) -> list[Row]:
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return [(kind, name, table, _squeezed(sql)) for kind, name, table, sql in rows]


def _check_schema(db: sqlite3.Connection) -> None:
    """Refuse a database holding anything but this cache's tables (an earlier version's cache
    may lack one): a view, a trigger or a table of another shape would run or answer instead."""
    if not set(_schema_of(db)) <= _expected_schema():
        raise sqlite3.DatabaseError("unexpected schema")


# --------------------------------------------------------------------- rows


def _signature_of(path: object, numbers: Sequence[object]) -> Signature | None:
    """The stat signature of a row (size, mtime, ctime, inode, device, then the time it was
    read); None for a row with values of the wrong types (SQLite stores any type anywhere)."""
    if not isinstance(path, str) or len(numbers) != 6:
        return None
    size, mtime, ctime, ino, dev, read = numbers
    if type(size) is type(mtime) is type(ctime) is type(ino) is type(dev) is type(read) is int:
        return (size, mtime, ctime, ino, dev)
    return None


def _hash_row(row: Row) -> tuple[str, tuple[Signature, int, str]] | None:
    path, *numbers, sha = row
    sig = _signature_of(path, numbers)
    if sig is None or not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        return None
    return cast(str, path), (sig, cast(int, numbers[-1]), sha)


def _cfile_row(row: Row) -> tuple[str, tuple[Signature, int, Metadata]] | None:
    path, *numbers, name, checksum, modified, size, extra = row
    sig = _signature_of(path, numbers)
    if sig is None:
        return None
    try:
        fields = {} if extra is None else json.loads(cast(str, extra))
        if not isinstance(fields, dict):
            return None
        meta = Metadata.checked(name, checksum, modified, size, fields)
    except (CavoriteError, ValueError, TypeError, RecursionError):
        # not what this cache writes: read the cfile instead
        return None
    return cast(str, path), (sig, cast(int, numbers[-1]), meta)


def _object_row(row: Row) -> tuple[tuple[str, str], tuple[str, int, str]] | None:
    store, key, version, size, sha = row
    if (
        isinstance(store, str)
        and isinstance(key, str)
        and isinstance(version, str)
        and type(size) is int
        and isinstance(sha, str)
        and _SHA256.fullmatch(sha)
    ):
        return (store, key), (version, size, sha)
    return None


def _stat_row(path: str, entry: tuple[Signature, int, object]) -> Row:
    sig, read_ns, value = entry
    return (path, *sig, read_ns, value)


def _cfile_values(path: str, entry: tuple[Signature, int, Metadata]) -> Row:
    sig, read_ns, meta = entry
    extra = json.dumps(dict(meta.extra)) if meta.extra else None
    return (path, *sig, read_ns, meta.name, meta.checksum, meta.date_modified, meta.size, extra)


def _join(where: tuple[str, str], what: tuple[str, int, str]) -> Row:
    return (*where, *what)


_INT64 = range(-(2**63), 2**63)


def _storable(row: Row) -> bool:
    """Whether SQLite can hold every value of ``row`` (its integers are 64-bit)."""
    return all(v in _INT64 for v in row if isinstance(v, int))


def ensure_ignored(config_dir: Path) -> None:
    """Keep the cache out of version control with a .gitignore inside ``.cavorite/``."""
    ignore = config_dir / ".gitignore"
    # a link, even dangling, is not written through
    if not os.path.lexists(ignore):
        with contextlib.suppress(OSError):
            ignore.write_text(f"# local state of cavorite-py, never committed\n{STATE_NAME}*\n")
