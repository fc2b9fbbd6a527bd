"""The state cache's file, ``.cavorite/state.db`` (SQLite, ignored by git): rows read and
written, table by table. A file that is busy (another run holds its lock) is done without; one
that is damaged, of another version, or holds anything but the tables below (a committed
``state.db`` could hold views or triggers that run on every query) is thrown away and rebuilt;
a link in its place is never written through.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import stat as statmod
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

STATE_NAME = "state.db"
SCHEMA_VERSION = 2
READ_WAIT = 2.0
"""seconds a read waits for another run's lock on the file before doing without it"""
WRITE_WAIT = 5.0
"""seconds a write waits for another run's lock before leaving the file as it is"""

OBJECTS_BY_CONTENT = "objects_by_content"
"""the index of the objects table by (the first 16 digits of) sha256, which an earlier version's
file lacks until this version first writes it"""

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
    """CREATE TABLE IF NOT EXISTS placed (path TEXT PRIMARY KEY, sha256s TEXT)""",
    # the objects holding a content, found without reading the whole table (a copy's source)
    f"CREATE INDEX IF NOT EXISTS {OBJECTS_BY_CONTENT} ON objects (substr(sha256, 1, 16))",
)

Row = tuple[object, ...]


class StateFile:
    """The SQLite file at ``path``; never an error, whatever is found there."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        """only read, never changed, not even thrown away when found damaged (a forked child
        process's reader, while its parent keeps using the file)"""
        self._reader: sqlite3.Connection | None = None
        """the connection reads go through, its file checked once when opened"""

    def read(
        self, table: str, columns: str, where: str = "", params: tuple[object, ...] = ()
    ) -> list[Row]:
        """The rows of ``table`` (these ``columns``; all, or those ``where`` selects with
        ``params``); none from a file that is busy, damaged or not ours."""
        import sqlite3

        try:
            db = self._open_reader()
            if db is None:
                return []
            query = f"SELECT {columns} FROM {table}" + (f" WHERE {where}" if where else "")
            rows: list[Row] = db.execute(query, params).fetchall()
            return rows
        except sqlite3.Error as exc:
            self.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                # another run is writing it: do without it this time, leave its file alone
                log.info("state cache busy; not used this time")
                return []
            if isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc):
                # written by an earlier version: the table comes with the next write
                return []
            if self.read_only:
                log.info("state cache %s unusable (%s); not used", self.path, exc)
                return []
            log.info("state cache %s unusable (%s); rebuilding it", self.path, exc)
            self._discard()
            return []

    def has_index(self, name: str) -> bool:
        """Whether the file has the index ``name`` (False without a usable file)."""
        return bool(self.read("sqlite_master", "1", "type = 'index' AND name = ?", (name,)))

    def _open_reader(self) -> sqlite3.Connection | None:
        """The reading connection, opened and checked on first use; None without a file."""
        import sqlite3

        if self._reader is not None:
            return self._reader
        if self._foreign():
            log.info("state cache %s is not a regular file; not used", self.path)
            if not self.read_only:
                self._discard()
            return None
        if not self.path.exists():
            return None
        if self.read_only:
            uri = f"{self.path.absolute().as_uri()}?mode=ro"
            db = sqlite3.connect(uri, timeout=READ_WAIT, check_same_thread=False, uri=True)
        else:
            db = sqlite3.connect(self.path, timeout=READ_WAIT, check_same_thread=False)
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError("unknown schema version")
            _check_schema(db)
        except BaseException:
            db.close()
            raise
        self._reader = db
        # closed with this object at the latest, for the callers that never call close()
        weakref.finalize(self, db.close)
        return db

    def close(self) -> None:
        """Close the reading connection (a later read opens it again)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def write(self, rows: dict[str, list[Row]]) -> bool:
        """Insert or replace ``rows`` of each table; whether they were written (skipped when
        the file cannot be written)."""
        import sqlite3

        if self.read_only or not self.path.parent.is_dir():
            return False
        try:
            return self._write(rows)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                log.info("state cache busy; not updated this time")
                return False
            log.info("state cache %s damaged (%s); rebuilding it", self.path, exc)
            self._discard()
            try:
                return self._write(rows)
            except sqlite3.Error:
                return False

    def _foreign(self) -> bool:
        """Whether something other than a regular file is at the cache's path: through a link
        (say, one committed in a hostile repository) SQLite would create or write any file."""
        try:
            return not statmod.S_ISREG(os.lstat(self.path).st_mode)
        except FileNotFoundError:
            return False

    def _discard(self) -> None:
        self.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")

    def _write(self, rows: dict[str, list[Row]]) -> bool:
        import sqlite3

        if self._foreign():
            self._discard()
            # e.g. a directory: leave it, do without a cache
            if self._foreign():
                return False
        ensure_ignored(self.path.parent)
        # one transaction for all: the schema's statements would each commit (and sync the
        # file and its journal) of their own
        connect = sqlite3.connect(self.path, timeout=WRITE_WAIT, isolation_level=None)
        with contextlib.closing(connect) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                _check_schema(db)
                for statement in _SCHEMA:
                    db.execute(statement)
                if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                for table, values in rows.items():
                    if values:
                        marks = ",".join("?" * len(values[0]))
                        insert = f"INSERT OR REPLACE INTO {table} VALUES ({marks})"
                        try:
                            db.executemany(insert, values)
                        except OverflowError:
                            # a value SQLite cannot hold (its integers are 64-bit; say, the
                            # mtime of a file dated after 2262): every row but those, again
                            db.executemany(insert, [r for r in values if _storable(r)])
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.rollback()
                raise
        return True


def _squeezed(sql: object) -> object:
    """A statement of ``sqlite_master`` without its white space (None stays None)."""
    return "".join(sql.split()) if isinstance(sql, str) else sql


@functools.cache
def _expected_schema() -> frozenset[Row]:
    """``sqlite_master`` of a cache this version writes, as :func:`_check_schema` compares it."""
    import sqlite3

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
    import sqlite3

    if not set(_schema_of(db)) <= _expected_schema():
        raise sqlite3.DatabaseError("unexpected schema")


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
            # this file too: only .cavorite/config is committed
            ignore.write_text(
                f"# local state of cavorite-py, never committed\n{STATE_NAME}*\n.gitignore\n"
            )
