"""Status and verify: the state of every tracked artifact, locally and in the store.

Part of the engine: the same rules as retrieve (an artifact is up to date when its sha256 is
the cfile's) without changing anything.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import stat as statmod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import metadata
from .errors import CavoriteError, NotAttempted, StoreError
from .fsutil import is_temp_name
from .git import visible_files
from .gitignore import in_git_work_tree
from .guard import GuardSettings, read_head, reason_to_track
from .metadata import Metadata
from .parallel import bounded_map
from .remote import Match, match, measure
from .results import FileResult, Outcome, Report
from .run import StoreWatch, named
from .state import StateCache
from .stores.base import Store
from .workspace import SKIP_DIRS, Workspace


@dataclass
class Inspector:
    """Looks at artifacts and objects; never changes anything."""

    workspace: Workspace
    cache: StateCache

    def local(self, cfile: Path) -> FileResult:
        """up-to-date, missing or modified (failed for a cfile that cannot be read)."""
        ws = self.workspace
        artifact = ws.artifact_for(cfile)
        try:
            meta = self.cache.cfile(cfile)
        except CavoriteError as exc:
            return FileResult(artifact, Outcome.FAILED, error=exc)
        try:
            st = os.lstat(artifact)
        except FileNotFoundError:
            return _result(artifact, meta, Outcome.MISSING)
        if not statmod.S_ISREG(st.st_mode):
            return _result(artifact, meta, Outcome.MODIFIED, "not a regular file")
        try:
            same = self.cache.file_sha256(artifact, st) == meta.checksum
        except OSError as exc:
            return FileResult(artifact, Outcome.FAILED, error=_unreadable(ws, artifact, exc))
        return _result(artifact, meta, Outcome.UP_TO_DATE if same else Outcome.MODIFIED)

    def untracked(self, settings: GuardSettings) -> list[FileResult]:
        """Large or binary files with no cfile that git does not ignore."""
        ws = self.workspace
        if in_git_work_tree(ws.root):
            candidates: Iterable[str] = visible_files(ws.root)
        else:
            candidates = (ws.relative(p) for p in ws.walk_files(ws.root))
        found = []
        for rel in candidates:
            name = rel.rpartition("/")[2]
            if rel.partition("/")[0] in SKIP_DIRS or is_temp_name(name) or ws.is_cfile_name(name):
                continue
            path = ws.root / rel
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue  # deleted but still in git's index
            if not statmod.S_ISREG(st.st_mode) or os.path.exists(ws.cfile_for(path)):
                continue
            try:
                reason = reason_to_track(st.st_size, functools.partial(read_head, path), settings)
            except OSError as exc:
                found.append(FileResult(path, Outcome.FAILED, error=_unreadable(ws, path, exc)))
                continue
            if reason is not None:
                found.append(FileResult(path, Outcome.UNTRACKED, size=st.st_size, detail=reason))
        return found

    def remote(self, store: Store, cfile: Path) -> FileResult:
        """stored, not-in-store or store-differs; streams the object only if the store keeps no
        sha256."""
        artifact = self.workspace.artifact_for(cfile)
        try:
            meta = metadata.read(cfile)
            info = store.stat(meta.name)
        except CavoriteError as exc:
            return FileResult(artifact, Outcome.FAILED, error=exc)
        if info is None:
            return _result(artifact, meta, Outcome.NOT_IN_STORE, f"no object {meta.name!r}")
        sized = meta.size is None or info.size == meta.size
        try:
            if info.sha256 is None and sized:  # the store keeps no sha256: measure it
                info = measure(store, meta.name)
        except StoreError as exc:
            return FileResult(artifact, Outcome.FAILED, error=exc)
        if match(info, meta.size, meta.checksum) is not Match.SAME:
            detail = f"sha256 {info.sha256}" if sized else f"size {info.size}"
            return _result(artifact, meta, Outcome.STORE_DIFFERS, detail)
        return _result(artifact, meta, Outcome.STORED)

    def verify(
        self, cfiles: list[Path], store: Store | None, jobs: int, local: bool = True
    ) -> Report:
        """Local check of every cfile's artifact; plus the store's copy when ``store`` is given."""
        results: list[FileResult] = [self.local(c) for c in cfiles] if local else []
        if store is not None:
            watch = StoreWatch()

            def remote(cfile: Path) -> tuple[Path, FileResult]:
                artifact = self.workspace.artifact_for(cfile)
                try:
                    watch.check(self.workspace.display(artifact))
                except NotAttempted as exc:
                    return cfile, FileResult(artifact, Outcome.FAILED, error=exc)
                result = self.remote(store, cfile)
                watch.saw(result.error)
                if result.error is not None:
                    # a store's message names no file
                    shown = self.workspace.display(artifact)
                    result = dataclasses.replace(result, error=named(result.error, shown))
                return cfile, result

            by_cfile = dict(bounded_map(remote, cfiles, jobs))
            results.extend(by_cfile[c] for c in cfiles)
        return Report(results)


def _result(
    artifact: Path, meta: Metadata, outcome: Outcome, detail: str | None = None
) -> FileResult:
    return FileResult(artifact, outcome, meta.name, meta.size, meta.checksum, detail=detail)


def _unreadable(ws: Workspace, path: Path, exc: OSError) -> CavoriteError:
    return CavoriteError(f"{ws.display(path)}: cannot be read ({exc.strerror or exc})")
