"""The pre-commit guard: what must not be committed.

Over the files about to be committed it refuses large or binary files that are not tracked
(with the exact ``cavorite upload`` command), artifacts that are tracked but staged themselves,
malformed cfiles, and cfiles whose object is not in the store (the usual way such tools lose
data: a pointer committed for bytes that were never uploaded).
"""

from __future__ import annotations

import os
import shlex
import stat as statmod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import metadata
from .config import CONFIG_DIR
from .errors import CavoriteError
from .guard import GuardSettings, git, reason_to_track
from .results import FileResult, Outcome, Report
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
    return [git_root / p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def git_root(start: Path) -> Path:
    return Path(os.fsdecode(git(start, "rev-parse", "--show-toplevel").strip()))


@dataclass
class Guard:
    workspace: Workspace
    settings: GuardSettings
    store: Store | None
    """None when the remote check is off"""

    def check(self, paths: Iterable[Path]) -> tuple[Report, list[Refusal]]:
        results: list[FileResult] = []
        refusals: list[Refusal] = []
        for path in paths:
            refusal = self._check_one(path)
            if refusal is not None:
                refusals.append(refusal)
                results.append(
                    FileResult(path, Outcome.FAILED, error=CavoriteError(refusal.problem))
                )
            else:
                results.append(FileResult(path, Outcome.UP_TO_DATE))
        return Report(results), refusals

    def _check_one(self, path: Path) -> Refusal | None:
        ws = self.workspace
        try:
            rel = path.relative_to(ws.root)
        except ValueError:
            return None  # outside the cavorite repository: not ours to judge
        if rel.parts and rel.parts[0] == CONFIG_DIR:
            return None
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if not statmod.S_ISREG(st.st_mode):
            return None
        shown = ws.display(path)
        if ws.is_cfile(path):
            return self._check_cfile(path, shown)
        if ws.cfile_for(path).exists():
            return Refusal(
                path,
                f"{shown} is tracked by {ws.display(ws.cfile_for(path))} but staged itself",
                f"git rm --cached {shlex.quote(shown)}",
            )
        reason = reason_to_track(path, st.st_size, self.settings)
        if reason is None:
            return None
        return Refusal(
            path,
            f"{shown} is a {reason} file and is not tracked by cavorite",
            f"cavorite upload {shlex.quote(shown)} && git rm --cached {shlex.quote(shown)} "
            f"&& git add {shlex.quote(ws.display(ws.cfile_for(path)))}",
        )

    def _check_cfile(self, cfile: Path, shown: str) -> Refusal | None:
        artifact = self.workspace.display(self.workspace.artifact_for(cfile))
        try:
            meta = metadata.read(cfile)
        except CavoriteError as exc:
            return Refusal(cfile, f"malformed metadata file: {exc}", "restore or regenerate it")
        if self.store is None:
            return None
        try:
            info = self.store.stat(meta.name)
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
        if info.size != (meta.size if meta.size is not None else info.size) or (
            info.sha256 is not None and info.sha256.lower() != meta.checksum
        ):
            return Refusal(
                cfile,
                f"{shown}: the store's object {meta.name!r} holds different content",
                f"{upload} --force",
            )
        return None
