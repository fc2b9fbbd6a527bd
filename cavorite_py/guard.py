"""The pre-commit guard: what must not be committed, and its settings.

Over the files about to be committed it refuses large or binary files that are not tracked
(with the exact ``cavorite upload`` command), artifacts that are tracked but staged themselves,
malformed cfiles, and cfiles whose object is not in the store (the usual way such tools lose
data: a pointer committed for bytes that were never uploaded).

Large means over ``large_file_threshold``; binary means git's own rule: a NUL byte in the first
8000 bytes.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import metadata
from .config import CONFIG_DIR, Config, governing_root
from .errors import CavoriteError
from .metadata import MAX_CFILE_BYTES
from .remote import Match, match
from .results import FileResult, Outcome, Report
from .sources import Source, WorkingTree
from .stores.base import Store
from .workspace import Workspace

NOT_PUSHED = "its object is kept in the cache, not pushed yet: `cavorite push` sends it"
BINARY_SNIFF = 8000
DEFAULT_THRESHOLD = 1024 * 1024


@dataclass(frozen=True)
class GuardSettings:
    """``large_file_threshold`` (bytes; larger files count as large; 0 turns it off),
    ``detect_binary``, ``remote_check``."""

    threshold: int = DEFAULT_THRESHOLD
    detect_binary: bool = True
    remote_check: bool = True

    @classmethod
    def from_config(cls, config: Config) -> GuardSettings:
        threshold = config.int_option("large_file_threshold")
        return cls(
            DEFAULT_THRESHOLD if threshold is None else threshold,
            config.bool_option("detect_binary", True),
            config.bool_option("remote_check", True),
        )


def read_head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(BINARY_SNIFF)


def is_binary(path: Path) -> bool:
    """Git's rule: a NUL byte in the first 8000 bytes."""
    return b"\0" in read_head(path)


def reason_to_track(size: int, head: Callable[[], bytes], settings: GuardSettings) -> str | None:
    """Why a file belongs in the store rather than in git (``large``/``binary``), or None.

    ``head`` gives the file's first bytes; it is called only when the size does not decide.
    """
    if settings.threshold and size > settings.threshold:
        return "large"
    if settings.detect_binary and size and b"\0" in head()[:BINARY_SNIFF]:
        return "binary"
    return None


@dataclass(frozen=True)
class Refusal:
    path: Path
    problem: str
    fix: str


def group_by_root(paths: Iterable[Path]) -> dict[Path, list[Path]]:
    """Paths grouped by the cavorite repository holding them; paths in none are left out.

    Git runs hooks at its top level, which need not be a cavorite root (or may hold several
    side by side); a configuration nested in another repository is not one (see
    :func:`config.governing_root`).
    """
    roots: dict[Path, Path | None] = {}
    groups: dict[Path, list[Path]] = {}
    for path in paths:
        directory = path.parent
        if directory not in roots:
            roots[directory] = governing_root(directory)
        root = roots[directory]
        if root is not None:
            groups.setdefault(root, []).append(path)
    return groups


@dataclass
class Guard:
    workspace: Workspace
    settings: GuardSettings
    store: Callable[[], Store] | None
    """opens the store when a staged cfile needs it; None when the remote check is off"""
    source: Source = field(default_factory=WorkingTree)
    """where file contents are read: the working tree, or git's index (``sources.Index``)"""
    pending: set[tuple[str, str]] = field(default_factory=set)
    """(sha256, key) of the objects waiting in the content cache for ``cavorite push``: their
    cfiles are accepted without the store (and said to be not pushed)"""
    _not_pushed: set[Path] = field(default_factory=set, init=False, repr=False)

    def check(self, paths: Iterable[Path]) -> tuple[Report, list[Refusal]]:
        """Judge every path inside the repository; paths outside it are not in the report."""
        results: list[FileResult] = []
        refusals: list[Refusal] = []
        for path in paths:
            if not path.is_relative_to(self.workspace.root):
                continue
            try:
                refusal = self._check_one(path)
            except OSError as exc:
                shown = self.workspace.display(path)
                refusal = Refusal(
                    path,
                    f"{shown}: cannot be read ({exc.strerror or exc})",
                    "make it readable, or unstage it",
                )
            if refusal is not None:
                refusals.append(refusal)
                error = CavoriteError(refusal.problem)
                results.append(FileResult(path, Outcome.FAILED, error=error))
            elif path in self._not_pushed:
                results.append(FileResult(path, Outcome.NOT_PUSHED, detail=NOT_PUSHED))
            else:
                results.append(FileResult(path, Outcome.UP_TO_DATE))
        return Report(results), refusals

    def _check_one(self, path: Path) -> Refusal | None:
        ws = self.workspace
        rel = path.relative_to(ws.root)
        if rel.parts and rel.parts[0] == CONFIG_DIR:
            return None
        size = self.source.size(path)
        if size is None:
            return None  # being deleted, or not a regular file
        shown = ws.display(path)
        if ws.is_cfile(path):
            return self._check_cfile(path, shown, size)
        if os.path.exists(ws.cfile_for(path)):
            return Refusal(
                path,
                f"{shown} is tracked by {ws.display(ws.cfile_for(path))} but staged itself",
                f"git rm --cached {shlex.quote(shown)}",
            )
        reason = reason_to_track(size, lambda: self.source.head(path, BINARY_SNIFF), self.settings)
        if reason is None:
            return None
        quoted = shlex.quote(shown)
        return Refusal(
            path,
            f"{shown} is a {reason} file and is not tracked by cavorite",
            f"cavorite upload {quoted} && git rm --cached {quoted} && "
            f"git add {shlex.quote(ws.display(ws.cfile_for(path)))} "
            f"{shlex.quote(ws.display(path.with_name('.gitignore')))}",
        )

    def _check_cfile(self, cfile: Path, shown: str, size: int) -> Refusal | None:
        artifact = self.workspace.display(self.workspace.artifact_for(cfile))
        try:
            raw = self.source.head(cfile, MAX_CFILE_BYTES + 1)
            meta = metadata.parse(raw, shown)
        except CavoriteError as exc:
            return Refusal(cfile, f"malformed metadata file: {exc}", "restore or regenerate it")
        if (meta.checksum, meta.name) in self.pending:
            self._not_pushed.add(cfile)
            return None
        if self.store is None:
            return None
        try:
            info = self.store().stat(meta.name)  # a store that keeps no sha256: size only
        except CavoriteError as exc:
            return Refusal(
                cfile,
                f"{shown}: cannot check the store: {exc}",
                "fix the store access, or commit with CAVORITE_NO_REMOTE_CHECK=1 when offline",
            )
        upload = f"cavorite upload {shlex.quote(artifact)}"
        if info is None:
            return Refusal(
                cfile, f"{shown} points at object {meta.name!r}, which is not in the store", upload
            )
        if match(info, meta.size, meta.checksum) is Match.DIFFERENT:
            return Refusal(
                cfile,
                f"{shown}: the store's object {meta.name!r} holds different content",
                f"{upload} --force",
            )
        return None
