"""What a command did, file by file: values the engine returns and the CLI renders."""

from __future__ import annotations

import os
import struct
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol, overload

from .errors import CavoriteError
from .fsutil import child, relative_posix

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
"""binary units, in every size cavorite prints: file lines, summaries and progress bars"""


def human_size(n: int | None) -> str:
    """``n`` bytes in binary units (``12.0 MiB``); "" for an unknown size."""
    if n is None:
        return ""
    size = float(n)
    for unit in UNITS:
        if size < 1024 or unit == UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


COPIED = "copied"
"""the detail of an ``uploaded`` result whose object the store copied from another key"""


class Outcome(StrEnum):
    """What happened to a file, or what state it is in. Values are part of the JSON output."""

    UPLOADED = "uploaded"
    ALREADY_STORED = "already-stored"
    RETRIEVED = "retrieved"
    UP_TO_DATE = "up-to-date"
    STORED = "stored"
    """verify --remote: the object is in the store with the right size and sha256"""
    MISSING = "missing"
    """the artifact is absent locally: retrieve needed"""
    MODIFIED = "modified"
    """the artifact holds content cavorite did not put there: upload (or retrieve --force)"""
    OUTDATED = "outdated"
    """the artifact holds content cavorite placed or uploaded, and its cfile changed since:
    retrieve replaces it"""
    ORPHANED = "orphaned"
    """a file still ignored by cavorite's .gitignore line whose cfile is gone: upload it again,
    or untrack it"""
    UNTRACKED = "untracked"
    """a large or binary file with no cfile, not ignored: upload needed"""
    NOT_IN_STORE = "not-in-store"
    STORE_DIFFERS = "store-differs"
    NOT_PUSHED = "not-pushed"
    """its object waits in the content cache for ``cavorite push`` (upload --no-push, or the
    store was unreachable); not a failure: the pre-push hook sends it before git pushes"""
    FAILED = "failed"
    STOPPED_TRACKING = "stopped-tracking"
    """untrack: the cfile and the .gitignore line are gone, the file is kept"""
    DELETED = "deleted"
    """untrack --delete: the file is gone too"""

    @property
    def needs_action(self) -> bool:
        return self not in _FINE


_FINE = frozenset(
    {
        Outcome.UPLOADED,
        Outcome.ALREADY_STORED,
        Outcome.RETRIEVED,
        Outcome.UP_TO_DATE,
        Outcome.STORED,
        Outcome.STOPPED_TRACKING,
        Outcome.DELETED,
        Outcome.NOT_PUSHED,
    }
)


@dataclass(frozen=True)
class FileResult:
    """One file's outcome. ``path`` is the artifact's absolute path."""

    path: Path
    outcome: Outcome
    key: str | None = None
    size: int | None = None
    checksum: str | None = None
    error: CavoriteError | None = None
    detail: str | None = None
    """a short explanation for states that need action (e.g. ``binary``, ``12.0 MiB``)"""

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED

    def to_dict(self, display: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": display,
            "outcome": self.outcome.value,
            "key": self.key,
            "size": self.size,
            "sha256": self.checksum,
        }
        if self.detail is not None:
            data["detail"] = self.detail
        if self.error is not None:
            data["error"] = {"type": type(self.error).__name__, "message": str(self.error)}
        return data


_OUTCOMES = tuple(Outcome)
_CODES = {o: i for i, o in enumerate(_OUTCOMES)}
_HEAD = struct.Struct("<BBIqH")
"""a packed result: outcome, flags, directory, size, key length"""
_SIZED, _HASHED, _KEY_SUFFIX, _KEY_OWN = 1, 2, 4, 8
_SHA_BYTES = 32


class Results(Sequence[FileResult]):
    """File results in the order added, kept packed: the ordinary result of a file (no error,
    no detail: "up to date", "already stored") takes some 70 bytes instead of the objects of a
    :class:`FileResult` (a million files stay in tens of MiB). Any other result is kept as
    it is. Reading gives :class:`FileResult` values equal to those added."""

    _dirs: ClassVar[list[Path]] = []
    """the directories of every packed result, one table for all (results are moved from one
    :class:`Results` to another without unpacking)"""
    _dir_index: ClassVar[dict[str, int]] = {}
    """each directory's place in :attr:`_dirs`, by its path as ``str`` gives it (a result's
    directory is found without making it)"""
    _dir_lock = threading.Lock()

    def __init__(self, results: Iterable[FileResult] = ()) -> None:
        self._data = bytearray()
        self._ends = array("Q")
        self._kept: dict[int, FileResult] = {}
        self.extend(results)

    def append(self, result: FileResult) -> None:
        r = result
        packed = r.error is None and r.detail is None and r.path.name
        if not packed or not self._pack(
            r.outcome, None, r.path.name, str(r.path), r.key, r.size, r.checksum
        ):
            self._kept[len(self._ends)] = result
        self._ends.append(len(self._data))

    def add(
        self,
        outcome: Outcome,
        directory: Path,
        name: str,
        key: str | None = None,
        size: int | None = None,
        checksum: str | None = None,
    ) -> None:
        """Append ``FileResult(directory / name, outcome, key, size, checksum)`` without
        making it first (``directory``: absolute; ``name``: a file name, without "/")."""
        base = str(directory)
        text = base + name if base.endswith(os.sep) else base + os.sep + name
        if self._pack(outcome, directory, name, text, key, size, checksum):
            self._ends.append(len(self._data))
        else:
            self.append(FileResult(child(directory, name), outcome, key, size, checksum))

    def extend(self, results: Iterable[FileResult]) -> None:
        if isinstance(results, Results):
            # packed already: the bytes are copied
            count, size = len(self._ends), len(self._data)
            self._kept.update((count + i, r) for i, r in results._kept.items())
            self._data += results._data
            self._ends.extend(end + size for end in results._ends)
            return
        for result in results:
            self.append(result)

    def _pack(
        self,
        outcome: Outcome,
        parent: Path | None,
        name: str,
        text: str,
        key: str | None,
        size: int | None,
        checksum: str | None,
    ) -> bool:
        """Append the record of a result with no error and no detail, if it can be packed
        (``text``: its path as ``str`` gives it; ``parent``: its directory, if made already)."""
        sha = b""
        if checksum is not None:
            if len(checksum) != 2 * _SHA_BYTES or checksum != checksum.lower():
                return False
            try:
                sha = bytes.fromhex(checksum)
            except ValueError:
                return False
        # the directory as ``str`` gives it: the text before the name and its "/" (the root
        # and a bare relative name, which have no such text: "/" and ".")
        cut = len(text) - len(name) - 1
        where = text[:cut] if cut > 0 and text[cut] == os.sep else os.path.dirname(text) or "."
        directory = self._dir_index.get(where)
        if directory is None:
            parent = parent if parent is not None else Path(where)
            with self._dir_lock:
                directory = self._dir_index.setdefault(where, len(self._dirs))
                if directory == len(self._dirs):
                    self._dirs.append(parent)
        flags = (_SIZED if size is not None else 0) | (_HASHED if sha else 0)
        own = b""
        if key is not None:
            if text.endswith(key) and len(key) < 0xFFFF:
                flags |= _KEY_SUFFIX
            else:
                own = key.encode("utf-8", "surrogatepass")
                flags |= _KEY_OWN
        length = len(key) if flags & _KEY_SUFFIX and key is not None else len(own)
        if length > 0xFFFF:
            return False
        head = _HEAD.pack(_CODES[outcome], flags, directory, size or 0, length)
        self._data += head + sha + own + os.fsencode(name)
        return True

    def _unpack(self, i: int) -> FileResult:
        start = self._ends[i - 1] if i else 0
        record = memoryview(self._data)[start : self._ends[i]]
        code, flags, directory, size, length = _HEAD.unpack_from(record)
        at = _HEAD.size
        checksum = None
        if flags & _HASHED:
            checksum = record[at : at + _SHA_BYTES].hex()
            at += _SHA_BYTES
        key_bytes = b""
        if flags & _KEY_OWN:
            key_bytes = bytes(record[at : at + length])
            at += length
        path = child(self._dirs[directory], os.fsdecode(bytes(record[at:])))
        key = None
        if flags & _KEY_SUFFIX:
            key = str(path)[len(str(path)) - length :]
        elif flags & _KEY_OWN:
            key = key_bytes.decode("utf-8", "surrogatepass")
        outcome = _OUTCOMES[code]
        return FileResult(path, outcome, key, size if flags & _SIZED else None, checksum)

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> FileResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[FileResult]: ...

    def __getitem__(self, index: int | slice) -> FileResult | list[FileResult]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("result index out of range")
        kept = self._kept.get(index)
        return kept if kept is not None else self._unpack(index)

    def __iter__(self) -> Iterator[FileResult]:
        for i in range(len(self)):
            kept = self._kept.get(i)
            yield kept if kept is not None else self._unpack(i)

    def outcomes(self) -> Iterator[Outcome]:
        """Each result's outcome, without building the results."""
        data, ends, kept = self._data, self._ends, self._kept
        for i in range(len(ends)):
            result = kept.get(i)
            yield result.outcome if result is not None else _OUTCOMES[data[ends[i - 1] if i else 0]]

    def done_paths(self) -> Iterator[Path]:
        """The path of each result but the failed ones, in order."""
        for directory, name, result in self._done():
            yield result.path if result is not None else child(directory, name)

    def done_relative(self, root: Path) -> Iterator[str]:
        """:meth:`done_paths` relative to ``root`` (POSIX, as ``relative_posix`` gives
        them), each directory's worked out once."""
        directory: Path | None = None
        prefix = ""
        for where, name, result in self._done():
            if result is not None:
                yield relative_posix(result.path, root)
                continue
            if where is not directory:
                directory, rel = where, relative_posix(where, root)
                prefix = "" if rel == "." else f"{rel}/"
            yield prefix + name

    def _done(self) -> Iterator[tuple[Path, str, FileResult | None]]:
        """The directory and name of each result but the failed ones (and the result itself
        when it is kept whole)."""
        for outcome, directory, name, _, result in self.rows():
            if result is not None:
                if not result.failed:
                    yield directory, name, result
            elif outcome is not Outcome.FAILED:
                yield directory, name, None

    def rows(self) -> Iterator[tuple[Outcome, Path, str, int | None, FileResult | None]]:
        """Each result as its outcome, directory, file name and size, and the result itself
        if it is kept whole (one with an error or a detail): the others are not made."""
        return ((o, d, n, size, r) for o, d, n, size, _, r in self._records(False))

    def sums(self) -> Iterator[tuple[Outcome, Path, str, str | None]]:
        """Each result as its outcome, directory, file name and sha256, without making it."""
        return ((o, d, n, sha) for o, d, n, _, sha, _ in self._records(True))

    def _records(
        self, sums: bool
    ) -> Iterator[tuple[Outcome, Path, str, int | None, str | None, FileResult | None]]:
        """:meth:`rows`, each with its sha256 too when ``sums`` (else None)."""
        data, ends, kept, dirs = self._data, self._ends, self._kept, self._dirs
        skip = _HEAD.size
        for i in range(len(ends)):
            result = kept.get(i)
            if result is not None:
                path = result.path
                yield result.outcome, path.parent, path.name, result.size, result.checksum, result
                continue
            start = ends[i - 1] if i else 0
            code, flags, directory, size, length = _HEAD.unpack_from(data, start)
            at = start + skip
            sha = None
            if flags & _HASHED:
                sha = data[at : at + _SHA_BYTES].hex() if sums else None
                at += _SHA_BYTES
            at += length if flags & _KEY_OWN else 0
            name = os.fsdecode(bytes(data[at : ends[i]]))
            sized = size if flags & _SIZED else None
            yield _OUTCOMES[code], dirs[directory], name, sized, sha, None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Results | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Results({list(self)!r})"


@dataclass(init=False)
class Report:
    """Every file's outcome, in the order the files were given (or found)."""

    results: Results
    warnings: list[str] = field(default_factory=list)
    """problems that are not any one file's, e.g. a .gitignore that could not be updated"""
    notes: list[str] = field(default_factory=list)
    """what the user should know that needs no action, e.g. files a directory upload skipped"""

    def __init__(
        self,
        results: Iterable[FileResult] = (),
        warnings: list[str] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.results = results if isinstance(results, Results) else Results(results)
        self.warnings = [] if warnings is None else warnings
        self.notes = [] if notes is None else notes

    @property
    def failed(self) -> list[FileResult]:
        found = enumerate(self.results.outcomes())
        return [self.results[i] for i, o in found if o is Outcome.FAILED]

    @property
    def ok(self) -> bool:
        """True when no file failed or needs action."""
        return not self.warnings and not any(o.needs_action for o in self.results.outcomes())

    def counts(self) -> Counter[Outcome]:
        return Counter(self.results.outcomes())

    @property
    def transferred_bytes(self) -> int:
        """Bytes of the files uploaded or retrieved; a copy inside the store sent none."""
        moved = (Outcome.UPLOADED, Outcome.RETRIEVED)
        found = enumerate(self.results.outcomes())
        files = (self.results[i] for i, o in found if o in moved)
        return sum(r.size or 0 for r in files if r.detail != COPIED)


class Observer(Protocol):
    """Progress callbacks from the engine; called from worker threads.

    An observer may also have ``planned(sizes: Mapping[Path, int | None], more: bool)``,
    called before the files of each batch start (a run takes them 10,000 at a time), with the
    batch's files and the bytes each may transfer (0 for files already known to need nothing),
    and whether more batches follow: a display then knows the totals up front, or at least
    those of the files the run has looked at so far.
    """

    def started(self, path: Path, size: int | None) -> None:
        """A transfer of ``size`` bytes (None if unknown) begins for ``path``."""

    def advanced(self, path: Path, nbytes: int) -> None:
        """``nbytes`` more bytes of ``path`` were transferred."""

    def finished(self, result: FileResult) -> None:
        """``path`` is done, whatever the outcome."""


class NullObserver:
    """Reports nothing."""

    def started(self, path: Path, size: int | None) -> None:
        pass

    def advanced(self, path: Path, nbytes: int) -> None:
        pass

    def finished(self, result: FileResult) -> None:
        pass
