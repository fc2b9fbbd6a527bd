"""The pre-commit guard: what must not be committed.

Over the files about to be committed it refuses large or binary files that are not tracked
(with the exact ``cavorite upload`` command), artifacts that are tracked but staged themselves,
malformed cfiles, and cfiles whose object is not in the store (the usual way such tools lose
data: a pointer committed for bytes that were never uploaded).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import metadata
from .config import CONFIG_DIR, config_path
from .errors import CavoriteError
from .guard import BINARY_SNIFF, GuardSettings, git, reason_to_track
from .metadata import MAX_CFILE_BYTES
from .remote import Match, match
from .results import FileResult, Outcome, Report
from .sources import Source, WorkingTree
from .stores.base import Store
from .workspace import Workspace


@dataclass(frozen=True)
class Refusal:
    path: Path
    problem: str
    fix: str


def staged_files(git_root: Path) -> list[Path]:
    """Files added, copied, modified or renamed in git's index."""
    out = git(git_root, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR")
    return [git_root / os.fsdecode(p) for p in out.split(b"\0") if p]


def git_root(start: Path) -> Path:
    return Path(os.fsdecode(git(start, "rev-parse", "--show-toplevel").strip()))


def group_by_root(paths: Iterable[Path]) -> dict[Path, list[Path]]:
    """Paths grouped by the cavorite repository holding them; paths in none are left out.

    Git runs hooks at its top level, which need not be a cavorite root (or may hold several).
    """
    roots: dict[Path, Path | None] = {}
    groups: dict[Path, list[Path]] = {}
    for path in paths:
        root = _root_of(path.parent, roots)
        if root is not None:
            groups.setdefault(root, []).append(path)
    return groups


def _root_of(directory: Path, memo: dict[Path, Path | None]) -> Path | None:
    if directory not in memo:
        if config_path(directory).is_file():
            memo[directory] = directory
        elif directory.parent == directory:
            memo[directory] = None
        else:
            memo[directory] = _root_of(directory.parent, memo)
    return memo[directory]


@dataclass
class Guard:
    workspace: Workspace
    settings: GuardSettings
    store: Callable[[], Store] | None
    """opens the store when a staged cfile needs it; None when the remote check is off"""
    source: Source = field(default_factory=WorkingTree)
    """where file contents are read: the working tree, or git's index (``sources.Index``)"""

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
