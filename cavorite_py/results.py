"""What a command did, file by file: values the engine returns and the CLI renders."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from .errors import CavoriteError


class Outcome(StrEnum):
    UPLOADED = "uploaded"
    ALREADY_STORED = "already-stored"
    RETRIEVED = "retrieved"
    UP_TO_DATE = "up-to-date"
    FAILED = "failed"


@dataclass(frozen=True)
class FileResult:
    """One file's outcome. ``path`` is the artifact's absolute path."""

    path: Path
    outcome: Outcome
    key: str | None = None
    size: int | None = None
    checksum: str | None = None
    error: CavoriteError | None = None

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
        if self.error is not None:
            data["error"] = {"type": type(self.error).__name__, "message": str(self.error)}
        return data


@dataclass
class Report:
    """Every file's outcome, in the order the files were given (or found)."""

    results: list[FileResult] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.failed]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> Counter[Outcome]:
        return Counter(r.outcome for r in self.results)

    @property
    def transferred_bytes(self) -> int:
        moved = (Outcome.UPLOADED, Outcome.RETRIEVED)
        return sum(r.size or 0 for r in self.results if r.outcome in moved)


class Observer(Protocol):
    """Progress callbacks from the engine; called from worker threads."""

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
