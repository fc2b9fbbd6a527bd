"""The local state cache: each artifact's sha256, and each cfile's parsed content, remembered
against the file's size, times and inode; what each stored object held at the version the
store gave it; and the contents cavorite itself placed (retrieved) or uploaded at each path.

It only saves work: an entry is used only when the file's size, mtime, ctime, inode and device
are all unchanged, and only if the file was last modified clearly before it was read (a file
written in the same clock tick as its reading could change without its mtime moving). Its file
(:mod:`cavorite_py.statefile`) is rebuilt, never trusted, when damaged or not ours; a cfile's
remembered content is validated again when loaded. A stored object's sha256 is remembered only
against the store's own version tag of it (S3's ETag), which the store changes whenever the
object is written again. The contents placed at a path (the last :data:`PLACED_PER_PATH`) tell
an outdated file, which a retrieve may replace, from a local edit, which it keeps: a cache that
lost them (deleted, rebuilt) only makes an outdated file look edited, never the reverse.
"""

from __future__ import annotations

import json
import os
import re
import stat as statmod
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, cast

from . import metadata
from .config import CONFIG_DIR
from .errors import CavoriteError
from .fsutil import relative_posix
from .metadata import Metadata
from .statefile import OBJECTS_BY_CONTENT, STATE_NAME, Row, StateFile

if TYPE_CHECKING:
    from .stores.base import ObjectInfo

RACY_NS = 200_000_000
"""a file modified less than this before it was hashed is hashed again next time"""
PLACED_PER_PATH = 16
"""contents remembered per path as placed there by cavorite (the most recent ones)"""
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STAT = "path, size, mtime_ns, ctime_ns, ino, dev"
Signature = tuple[int, int, int, int, int]


def signature(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class StateCache(Protocol):
    """What is known of files and stored objects without reading them again: a file's sha256,
    a cfile's content, and the sha256 a stored object held at a version its store gave it."""

    def file_sha256(self, path: Path, st: os.stat_result) -> str:
        """The sha256 of the file with this stat: remembered, else read and hashed now."""

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        """The sha256 if known without reading the file, else None."""

    def remember(
        self, path: Path, st: os.stat_result, sha256: str, read_ns: int | None = None
    ) -> None:
        """The file with this stat holds content of this sha256 (say, just downloaded), as
        found at ``read_ns`` (``time.time_ns()``; None: now)."""

    def cfile(self, cfile: Path) -> Metadata:
        """The cfile's validated content, as :func:`metadata.read` gives it."""

    def known_cfile(self, cfile: Path, st: os.stat_result) -> Metadata | None:
        """The cfile's content if known, without reading it, for this stat (``lstat``'s)."""

    def directory(self, path: Path) -> Known:
        """What is known of the files right in the directory ``path`` (one lookup for all)."""

    def object_sha256(self, store: str, key: str, listed: ObjectInfo) -> str | None:
        """The sha256 of ``key`` if it was seen at the version and size ``listed`` shows."""

    def remember_object(self, store: str, key: str, info: ObjectInfo) -> None:
        """``key`` held content of this sha256 (at this version, if the store gave one)."""

    def objects_holding(self, store: str, sha256: str) -> list[str]:
        """The keys of ``store`` last seen holding content of this sha256 (check before use)."""

    def prepare_holding(self) -> None:
        """:meth:`objects_holding` is about to be asked many times, by forked child processes
        too: read now, once, what its answers need beyond the file's index."""

    def forked(self) -> None:
        """This is a child process forked while the cache was open: from now on only read,
        through a connection of its own (a database connection does not cross a fork)."""

    def placed(self, path: Path) -> frozenset[str]:
        """The sha256s of the contents cavorite placed or uploaded at ``path`` (recent ones)."""

    def remember_placed(self, path: Path, sha256: str) -> None:
        """cavorite placed (retrieved) or uploaded content of this sha256 at ``path``."""

    def remember_placed_in(self, directory: Path, placed: Iterable[tuple[str, str]]) -> None:
        """:meth:`remember_placed` of files of ``directory``: (file name, sha256) each."""

    def remembered_cfile(self, cfile: Path) -> Metadata | None:
        """The cfile's content if it is a regular file unchanged since it was last read, with
        no read; else None."""


class NoStateCache:
    """Knows nothing: reads and hashes every time."""

    def file_sha256(self, path: Path, st: os.stat_result) -> str:
        from .hashing import hash_file

        return hash_file(path)[0]

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        return None

    def remember(
        self, path: Path, st: os.stat_result, sha256: str, read_ns: int | None = None
    ) -> None:
        pass

    def cfile(self, cfile: Path) -> Metadata:
        return metadata.read(cfile)

    def known_cfile(self, cfile: Path, st: os.stat_result) -> Metadata | None:
        return None

    def directory(self, path: Path) -> Known:
        return Known("", {}, {})

    def object_sha256(self, store: str, key: str, listed: ObjectInfo) -> str | None:
        return None

    def remember_object(self, store: str, key: str, info: ObjectInfo) -> None:
        pass

    def placed(self, path: Path) -> frozenset[str]:
        return frozenset()

    def remember_placed(self, path: Path, sha256: str) -> None:
        pass

    def remember_placed_in(self, directory: Path, placed: Iterable[tuple[str, str]]) -> None:
        pass

    def objects_holding(self, store: str, sha256: str) -> list[str]:
        return []

    def prepare_holding(self) -> None:
        pass

    def forked(self) -> None:
        pass

    def remembered_cfile(self, cfile: Path) -> Metadata | None:
        return None


K = TypeVar("K")
V = TypeVar("V")
Memo = dict[str, tuple[Signature, int, V]]
"""remembered facts of files, by repository-relative path: signature, time read, the fact"""


class Known:
    """What the state cache knows of the files of one directory: their sha256 and, of cfiles,
    their content, each for the stat it was remembered with (as :meth:`StateCache.lookup`
    and :meth:`StateCache.known_cfile` trust it)."""

    def __init__(self, prefix: str, cfiles: Memo[Metadata], hashes: Memo[str]) -> None:
        self._prefix = prefix
        self._cfiles = cfiles
        self._hashes = hashes

    def cfile(self, name: str, st: os.stat_result) -> Metadata | None:
        """The content of the cfile ``name`` with this stat (``lstat``'s), if known."""
        return _unchanged_cfile(self._cfiles.get(self._prefix + name), st)

    def sha256(self, name: str, st: os.stat_result) -> str | None:
        """The sha256 of the file ``name`` with this stat, if known."""
        return _trusted(self._hashes.get(self._prefix + name), st)


def _unchanged_cfile(
    entry: tuple[Signature, int, Metadata] | None, st: os.stat_result
) -> Metadata | None:
    """The content ``entry`` remembers of a cfile whose ``lstat`` gave ``st``, if it still
    describes it (and it is a regular file)."""
    known = _trusted(entry, st)
    return known if known is not None and statmod.S_ISREG(st.st_mode) else None


def _trusted(entry: tuple[Signature, int, V] | None, st: os.stat_result) -> V | None:
    """What ``entry`` remembers of a file if it still describes it: the same signature, and
    modified clearly before it was read."""
    if entry is None or entry[0] != signature(st) or st.st_mtime_ns >= entry[1] - RACY_NS:
        return None
    return entry[2]


Chunk = tuple[str, ...]
"""the rows of one directory: its name (with the store's, for objects)"""
Query = Callable[["_Table[K, V]", Chunk | None], list[Row]]

CHUNKS_KEPT = 4
"""directories of each table kept loaded: the run works through the tree in order"""
FLUSH_ROWS = 20_000
"""learnt rows kept before they are written: a first run over a million files does not hold
them all"""


class _Table(Generic[K, V]):
    """One table of the cache: its rows as loaded from the file (one directory at a time, or
    all of them when a caller needs every entry), and the entries learnt since, which ``flush``
    writes. Its callers hold the cache's lock."""

    def __init__(
        self,
        name: str,
        columns: str,
        typed: str,
        load: Callable[[list[Row]], dict[K, V]],
        encode: Callable[[K, V], Row],
        chunk_of: Callable[[K], Chunk],
    ) -> None:
        self.name = name
        self.columns = columns
        self.typed = typed
        """the SQL condition of a row whose values are of the types this cache writes"""
        self._load = load
        self._encode = encode
        self._chunk_of = chunk_of
        self._loaded: dict[K, V] | None = None
        self._chunks: OrderedDict[Chunk, dict[K, V]] = OrderedDict()
        self._pending: dict[Chunk, dict[K, V]] = {}
        self.pending_rows = 0

    def _rows(self, rows: list[Row]) -> dict[K, V]:
        """The valid rows (what this cache writes; others are left out), of those ``typed``
        selected."""
        return self._load(rows)

    def entries(self, query: Query[K, V]) -> dict[K, V]:
        """Every entry, the file's rows read with ``query`` the first time."""
        if self._loaded is None:
            self._loaded = self._rows(query(self, None))
            # what was learnt before the first read is newer than the file's rows
            for learnt in self._pending.values():
                self._loaded.update(learnt)
            self._chunks.clear()
        return self._loaded

    def get(self, key: K, query: Query[K, V]) -> V | None:
        """The entry of ``key``: its directory's rows are read on first use."""
        return self.chunk(self._chunk_of(key), query).get(key)

    def chunk(self, chunk: Chunk, query: Query[K, V]) -> dict[K, V]:
        """The entries of one directory (or more: every entry once all were read)."""
        if self._loaded is not None:
            return self._loaded
        entries = self._chunks.get(chunk)
        if entries is None:
            entries = self._rows(query(self, chunk))
            entries.update(self._pending.get(chunk, {}))
            self._chunks[chunk] = entries
            if len(self._chunks) > CHUNKS_KEPT:
                self._chunks.popitem(last=False)
        else:
            self._chunks.move_to_end(chunk)
        return entries

    def put(self, key: K, value: V) -> None:
        chunk = self._chunk_of(key)
        learnt = self._pending.setdefault(chunk, {})
        self.pending_rows += key not in learnt
        learnt[key] = value
        if self._loaded is not None:
            self._loaded[key] = value
        elif (entries := self._chunks.get(chunk)) is not None:
            entries[key] = value

    def take(self) -> list[Row]:
        """The rows learnt since the last call, to be written."""
        pending, self._pending, self.pending_rows = self._pending, {}, 0
        return [self._encode(k, v) for learnt in pending.values() for k, v in learnt.items()]


def _directory(path: str) -> Chunk:
    return (path.rpartition("/")[0],)


def _store_directory(where: tuple[str, str]) -> Chunk:
    return (where[0], where[1].rpartition("/")[0])


class StateDB:
    """The :class:`StateCache` kept in ``.cavorite/state.db``. Thread-safe; writes on ``close``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / CONFIG_DIR / STATE_NAME
        self._file = StateFile(self.path)
        self._lock = threading.Lock()
        self._hashes = _Table(
            "hashes",
            f"{_STAT}, hashed_ns, sha256",
            _HASHES_TYPED,
            _load_hashes,
            _stat_row,
            _directory,
        )
        self._cfiles = _Table(
            "cfiles",
            f"{_STAT}, read_ns, name, checksum, date_modified, object_size, extra",
            _CFILES_TYPED,
            _load_cfiles,
            _cfile_values,
            _directory,
        )
        self._objects = _Table(
            "objects",
            "store, key, version, size, sha256",
            _OBJECTS_TYPED,
            _load_objects,
            _join,
            _store_directory,
        )
        self._placed = _Table(
            "placed", "path, sha256s", _PLACED_TYPED, _load_placed, _placed_values, _directory
        )
        self._holding: dict[tuple[str, str], set[str]] | None = None
        """(store, sha256) -> keys: the whole objects table by content, built on first use from
        a file without the index by content (an earlier version's)"""
        self._learnt_holding: dict[tuple[str, str], set[str]] = {}
        """(store, sha256) -> keys: the objects remembered since the last write"""
        self._indexed: bool | None = None
        """whether the file has the index by content, once asked"""
        self._inherited: StateFile | None = None
        """in a forked child, the parent's file: held, never used (see :meth:`forked`)"""
        self.hits = 0
        self.misses = 0

    # ----------------------------------------------------------------- StateCache

    def file_sha256(self, path: Path, st: os.stat_result) -> str:
        rel = self._rel(path)
        if rel is not None and (known := self._trusted(self._hashes, rel, st)) is not None:
            self.hits += 1
            return known
        from .hashing import hash_file

        started = time.time_ns()
        sha = hash_file(path)[0]
        self.misses += 1
        self._put(self._hashes, rel, (signature(st), started, sha))
        return sha

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        """The remembered sha256 if it can be trusted for this stat, without hashing."""
        rel = self._rel(path)
        return self._trusted(self._hashes, rel, st) if rel is not None else None

    def remember(
        self, path: Path, st: os.stat_result, sha256: str, read_ns: int | None = None
    ) -> None:
        read = time.time_ns() if read_ns is None else read_ns
        self._put(self._hashes, self._rel(path), (signature(st), read, sha256))

    def cfile(self, cfile: Path) -> Metadata:
        """The cfile's content (see :func:`metadata.read`), without reading the file when it is
        unchanged since it was last read."""
        rel = self._rel(cfile)
        entry = None
        if rel is not None:
            with self._lock:
                entry = self._cfiles.get(rel, self._query)
        # a cfile never read before (a fresh clone's) is read without a look at its stat first
        if entry is not None:
            try:
                st = os.lstat(cfile)
            except OSError:
                # metadata.read says what is wrong
                pass
            else:
                known = _unchanged_cfile(entry, st)
                if known is not None:
                    return known
        started = time.time_ns()
        meta, st = metadata.read_with_stat(cfile)
        self._put(self._cfiles, rel, (signature(st), started, meta))
        return meta

    def known_cfile(self, cfile: Path, st: os.stat_result) -> Metadata | None:
        """The content of ``cfile``, whose ``lstat`` gave ``st``, if it was read before and is
        unchanged since (by the rules of :meth:`lookup`); None when it must be read."""
        return self.directory(cfile.parent).cfile(cfile.name, st)

    def directory(self, path: Path) -> Known:
        """What is remembered of the files right in ``path``, its rows read once for all."""
        rel = self._rel(path)
        if rel is None:
            return Known("", {}, {})
        chunk = (rel if rel != "." else "",)
        with self._lock:
            cfiles = self._cfiles.chunk(chunk, self._query)
            hashes = self._hashes.chunk(chunk, self._query)
        return Known(f"{chunk[0]}/" if chunk[0] else "", cfiles, hashes)

    def object_sha256(self, store: str, key: str, listed: ObjectInfo) -> str | None:
        """The sha256 of the object ``key`` of ``store`` (its ``describe()``) if it was seen at
        the version and size a listing now shows; None if that is not known."""
        if listed.version is None:
            return None
        with self._lock:
            entry = self._objects.get((store, key), self._query)
        # an entry without a version ("") is known by content only, never by a listing
        if entry is None or not entry[0] or entry[:2] != (listed.version, listed.size):
            return None
        return entry[2]

    def object_keys(self, store: str) -> set[str]:
        """Every key of ``store`` (its ``describe()``) whose content this clone remembers."""
        with self._lock:
            entries = self._objects.entries(self._query)
        return {key for name, key in entries if name == store}

    def remember_object(self, store: str, key: str, info: ObjectInfo) -> None:
        """Remember that ``key`` held content of this sha256, at this version if the store gave
        one (without, only :meth:`objects_holding` uses the entry)."""
        if info.sha256 is None or not _SHA256.fullmatch(info.sha256):
            return
        with self._lock:
            self._objects.put((store, key), (info.version or "", info.size, info.sha256))
            self._learnt_holding.setdefault((store, info.sha256), set()).add(key)
            if self._holding is not None:
                self._holding.setdefault((store, info.sha256), set()).add(key)
        self._flush_if_full(self._objects)

    def objects_holding(self, store: str, sha256: str) -> list[str]:
        """The keys of ``store`` remembered holding content of this sha256, sorted; the entry
        of a key written again since may be stale: the store says what it holds now. Found by
        the file's index; a file without it (an earlier version's) is read whole, once."""
        with self._lock:
            self._load_holding()
            if self._holding is not None:
                return sorted(self._holding.get((store, sha256), ()))
            if not _SHA256.fullmatch(sha256):
                return []
            rows = self._file.read("objects", "key, sha256", HOLDING, (sha256[:16], store))
            found = {cast(str, key) for key, sha in rows if sha == sha256}
            return sorted(found | self._learnt_holding.get((store, sha256), set()))

    def prepare_holding(self) -> None:
        with self._lock:
            self._load_holding()

    def _load_holding(self) -> None:
        """The whole objects table by content, once, if the file lacks the index by content."""
        if self._indexed is None:
            self._indexed = self._file.has_index(OBJECTS_BY_CONTENT)
        if self._holding is None and not self._indexed:
            self._holding = {}
            for (where, key), (_, _, sha) in self._objects.entries(self._query).items():
                self._holding.setdefault((where, sha), set()).add(key)

    def forked(self) -> None:
        self._inherited, self._file = self._file, StateFile(self.path, read_only=True)
        self._lock = threading.Lock()

    def placed(self, path: Path) -> frozenset[str]:
        rel = self._rel(path)
        if rel is None:
            return frozenset()
        with self._lock:
            return frozenset(self._placed.get(rel, self._query) or ())

    def remember_placed(self, path: Path, sha256: str) -> None:
        """Remember ``sha256`` as the most recent content cavorite put at ``path``."""
        rel = self._rel(path)
        if rel is not None:
            self._remember_placed([(rel, sha256)])

    def remember_placed_in(self, directory: Path, placed: Iterable[tuple[str, str]]) -> None:
        """:meth:`remember_placed` of files of ``directory`` (a file name and a sha256 each),
        the directory's place worked out once."""
        rel = self._rel(directory)
        if rel is not None:
            prefix = f"{rel}/" if rel != "." else ""
            self._remember_placed((prefix + name, sha) for name, sha in placed if _utf8(name))

    def _remember_placed(self, placed: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            for rel, sha256 in placed:
                if not _SHA256.fullmatch(sha256):
                    continue
                known = self._placed.get(rel, self._query) or ()
                if known and known[-1] == sha256:
                    # the most recent already: nothing to write
                    continue
                recent = (*(s for s in known if s != sha256), sha256)[-PLACED_PER_PATH:]
                self._placed.put(rel, recent)
        self._flush_if_full(self._placed)

    # ----------------------------------------------------------------- entries

    def _trusted(
        self, table: _Table[str, tuple[Signature, int, V]], rel: str, st: os.stat_result
    ) -> V | None:
        """What ``table`` remembers of the file ``rel`` if it still describes it."""
        with self._lock:
            entry = table.get(rel, self._query)
        return _trusted(entry, st)

    def _put(self, table: _Table[K, V], key: K | None, value: V) -> None:
        if key is None:
            return
        with self._lock:
            table.put(key, value)
        self._flush_if_full(table)

    def _flush_if_full(self, table: _Table[K, V]) -> None:
        if table.pending_rows >= FLUSH_ROWS:
            self.flush()

    def _rel(self, path: Path) -> str | None:
        """The cache key of ``path``; None (not cached) outside the root, or for a name that is
        not valid UTF-8, which SQLite cannot store as text."""
        try:
            rel = relative_posix(path, self.root)
        except ValueError:
            return None
        return rel if _utf8(rel) else None

    # ----------------------------------------------------------------- storage

    def _query(self, table: _Table[K, V], chunk: Chunk | None) -> list[Row]:
        """The rows of ``table``: all, or those of one directory (of one store)."""
        if chunk is None:
            return self._file.read(table.name, table.columns, table.typed)
        *store, directory = chunk
        column = "key" if store else "path"
        where = f"instr(substr({column}, ?), '/') = 0 AND {table.typed}"
        params: tuple[object, ...] = (len(directory) + 2,) if directory else (1,)
        if directory:
            # the rows below the directory, by the index; then only those right in it
            where = f"{column} >= ? AND {column} < ? AND {where}"
            params = (f"{directory}/", f"{directory}0", *params)
        if store:
            where, params = f"store = ? AND {where}", (store[0], *params)
        return self._file.read(table.name, table.columns, where, params)

    def flush(self) -> None:
        """Write what was learnt. A cache that cannot be written is skipped, never an error."""
        with self._lock:
            tables = (self._hashes, self._cfiles, self._objects, self._placed)
            rows = {t.name: t.take() for t in tables}
            learnt = self._learnt_holding
            self._learnt_holding = {}
        if any(rows.values()) and not self._file.write(rows):
            # not written (another run holds the file): still found by content in this run
            with self._lock:
                for found, keys in learnt.items():
                    self._learnt_holding.setdefault(found, set()).update(keys)

    def close(self) -> None:
        self.flush()
        self._file.close()

    def remembered_cfile(self, cfile: Path) -> Metadata | None:
        """The cfile's content if it is a regular file unchanged since it was last read (as
        :meth:`cfile` would give it without reading); else None, and nothing is read."""
        try:
            st = os.lstat(cfile)
        except OSError:
            return None
        return self.known_cfile(cfile, st)


def _utf8(text: str) -> bool:
    """Whether ``text`` is valid UTF-8 (a file name may not be), which SQLite needs of text."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------- rows
#
# SQLite stores any type anywhere: each table's query selects only the rows whose values are
# of the types this cache writes (``typed``), and the loaders below check the rest: sha256s,
# and a cfile's fields as a cfile's are checked.


def _typed(text: str, integer: str = "", nullable: str = "") -> str:
    """The SQL condition of a row whose ``text`` columns hold text, ``integer`` ones integers,
    and ``nullable`` ones either or NULL (each a list of names separated by ", ")."""
    kinds = [("'text'", text), ("'integer'", integer), ("'text', 'integer', 'null'", nullable)]
    return " AND ".join(
        f"typeof({column}) IN ({kind})" for kind, columns in kinds for column in _names(columns)
    )


def _names(columns: str) -> list[str]:
    return [c for c in columns.split(", ") if c]


_SIGNED = "size, mtime_ns, ctime_ns, ino, dev"
_HASHES_TYPED = _typed("path, sha256", f"{_SIGNED}, hashed_ns")
_CFILES_TYPED = _typed(
    "path, name, checksum", f"{_SIGNED}, read_ns", "date_modified, object_size, extra"
)
_OBJECTS_TYPED = _typed("store, key, version, sha256", "size")
HOLDING = f"substr(sha256, 1, 16) = ? AND +store = ? AND {_OBJECTS_TYPED}"
"""the objects rows of a content (the first 16 digits of its sha256) in a store, by the index by
content alone: with "sha256 = ?" SQLite would rewrite the indexed expression (constant
propagation), and with "store = ?" prefer the primary key"""
_PLACED_TYPED = _typed("path, sha256s")

_SHA256_LINES = re.compile(r"(?:[0-9a-f]{64}\n)*")
_SHA256_LISTS = re.compile(r"(?:[0-9a-f]{64}(?: [0-9a-f]{64})*\n)*")
"""lines of sha256s separated by a space (the placed table's values, as written)"""


def _all_sha256(values: list[str]) -> bool:
    """Whether every value is a lowercase hex sha256, in one match for all (the length
    makes sure no value holds a line break of its own)."""
    text = "".join([f"{v}\n" for v in values])
    return len(text) == 65 * len(values) and _SHA256_LINES.fullmatch(text) is not None


def _each(rows: list[Row], decode: Callable[[Row], tuple[K, V] | None]) -> dict[K, V]:
    """The rows ``decode`` finds valid, one by one."""
    return dict(e for e in map(decode, rows) if e is not None)


HashRow = tuple[str, int, int, int, int, int, int, str]
ObjectRow = tuple[str, str, str, int, str]


def _load_hashes(rows: list[Row]) -> dict[str, tuple[Signature, int, str]]:
    typed = cast(list[HashRow], rows)
    if _all_sha256([r[7] for r in typed]):
        return {r[0]: (r[1:6], r[6], r[7]) for r in typed}
    return _each(rows, _hash_row)


def _hash_row(row: Row) -> tuple[str, tuple[Signature, int, str]] | None:
    r = cast(HashRow, row)
    return (r[0], (r[1:6], r[6], r[7])) if _SHA256.fullmatch(r[7]) else None


CfileRow = tuple[str, int, int, int, int, int, int, str, str, object, object, str | None]
UsualCfileRow = tuple[str, int, int, int, int, int, int, str, str, str, int | None, None]


def _load_cfiles(rows: list[Row]) -> dict[str, tuple[Signature, int, Metadata]]:
    if _usual_cfiles(cast(list[CfileRow], rows)):
        # what Metadata.checked would give each
        usual = cast(list[UsualCfileRow], rows)
        return {r[0]: (r[1:6], r[6], Metadata(r[7], r[8], r[9], r[10])) for r in usual}
    return _each(rows, _cfile_row)


def _usual_cfiles(rows: list[CfileRow]) -> bool:
    """Whether every row holds what :meth:`Metadata.checked` takes as it is (a usual key, a
    lowercase sha256, a date, a size or none, no other field), checked for all at once."""
    return (
        all(r[11] is None and type(r[9]) is str for r in rows)
        and all(r[10] is None or (type(r[10]) is int and r[10] >= 0) for r in rows)
        and _all_sha256([r[8] for r in rows])
        and metadata.plain_keys([r[7] for r in rows])
    )


def _cfile_row(row: Row) -> tuple[str, tuple[Signature, int, Metadata]] | None:
    r = cast(CfileRow, row)
    try:
        fields = {} if r[11] is None else json.loads(r[11])
        if not isinstance(fields, dict):
            return None
        meta = Metadata.checked(r[7], r[8], r[9], r[10], fields)
    except (CavoriteError, ValueError, TypeError, RecursionError):
        # not what this cache writes: read the cfile instead
        return None
    return r[0], (r[1:6], r[6], meta)


def _load_objects(rows: list[Row]) -> dict[tuple[str, str], tuple[str, int, str]]:
    typed = cast(list[ObjectRow], rows)
    if _all_sha256([r[4] for r in typed]):
        return {(r[0], r[1]): r[2:] for r in typed}
    return _each(rows, _object_row)


def _object_row(row: Row) -> tuple[tuple[str, str], tuple[str, int, str]] | None:
    r = cast(ObjectRow, row)
    return ((r[0], r[1]), r[2:]) if _SHA256.fullmatch(r[4]) else None


def _load_placed(rows: list[Row]) -> dict[str, tuple[str, ...]]:
    typed = cast(list[tuple[str, str]], rows)
    text = "".join([f"{r[1]}\n" for r in typed])
    # a value's own line break would make two lines of it
    if text.count("\n") == len(typed) and _SHA256_LISTS.fullmatch(text):
        return {r[0]: tuple(r[1].split(" "))[-PLACED_PER_PATH:] for r in typed}
    return _each(rows, _placed_row)


def _placed_row(row: Row) -> tuple[str, tuple[str, ...]] | None:
    path, sha256s = cast(tuple[str, str], row)
    found = tuple(s for s in sha256s.split() if _SHA256.fullmatch(s))
    return path, found[-PLACED_PER_PATH:]


def _placed_values(path: str, sha256s: tuple[str, ...]) -> Row:
    # oldest first
    return (path, " ".join(sha256s))


def _stat_row(path: str, entry: tuple[Signature, int, object]) -> Row:
    sig, read_ns, value = entry
    return (path, *sig, read_ns, value)


def _cfile_values(path: str, entry: tuple[Signature, int, Metadata]) -> Row:
    sig, read_ns, meta = entry
    extra = json.dumps(dict(meta.extra)) if meta.extra else None
    return (path, *sig, read_ns, meta.name, meta.checksum, meta.date_modified, meta.size, extra)


def _join(where: tuple[str, str], what: tuple[str, int, str]) -> Row:
    return (*where, *what)
