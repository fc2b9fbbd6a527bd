"""What a command did, file by file: values the engine returns and the CLI renders."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from .errors import CavoriteError

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


@dataclass
class Report:
    """Every file's outcome, in the order the files were given (or found)."""

    results: list[FileResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """problems that are not any one file's, e.g. a .gitignore that could not be updated"""
    notes: list[str] = field(default_factory=list)
    """what the user should know that needs no action, e.g. files a directory upload skipped"""

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.failed]

    @property
    def ok(self) -> bool:
        """True when no file failed or needs action."""
        return not self.warnings and not any(r.outcome.needs_action for r in self.results)

    def counts(self) -> Counter[Outcome]:
        return Counter(r.outcome for r in self.results)

    @property
    def transferred_bytes(self) -> int:
        moved = (Outcome.UPLOADED, Outcome.RETRIEVED)
        return sum(r.size or 0 for r in self.results if r.outcome in moved)


class Observer(Protocol):
    """Progress callbacks from the engine; called from worker threads.

    An observer may also have ``planned(sizes: Mapping[Path, int | None])``, called once
    before the first file starts, with every file of the run and the bytes it may transfer
    (0 for files already known to need nothing): a display then knows the totals up front.
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
