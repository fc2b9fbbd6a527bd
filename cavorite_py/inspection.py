"""Status and verify: the state of every tracked artifact, locally and in the store.

Part of the engine: the same rules as retrieve (an artifact is up to date when its sha256 is
the cfile's) without changing anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
import stat as statmod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import metadata
from .errors import CavoriteError, NotAttempted, StoreError
from .fsutil import is_temp_name
from .git import ever_committed, visible_files
from .gitignore import in_git_work_tree, named_paths
from .guard import GuardSettings, read_head, reason_to_track
from .metadata import Metadata
from .parallel import bounded_map
from .remote import Match, match, measure
from .results import FileResult, Outcome, Report, Results
from .run import BATCH_FILES, RunWatch, named
from .state import Known, StateCache
from .stores.base import Store
from .workspace import SKIP_DIRS, Workspace

ORPHAN_DETAIL = "its cfile is gone; upload it to track it again, or remove its .gitignore line"


@dataclass
class Inspector:
    """Looks at artifacts and objects; never changes anything."""

    workspace: Workspace
    cache: StateCache

    def local(self, cfile: Path) -> FileResult:
        """up-to-date, missing, outdated (holds content cavorite placed or uploaded there) or
        modified (any other content); failed for a cfile that cannot be read."""
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
            held = self.cache.file_sha256(artifact, st)
        except OSError as exc:
            return FileResult(artifact, Outcome.FAILED, error=_unreadable(ws, artifact, exc))
        if held == meta.checksum:
            return _result(artifact, meta, Outcome.UP_TO_DATE)
        if held in self.cache.placed(artifact):
            return _result(artifact, meta, Outcome.OUTDATED, "retrieve replaces it")
        return _result(artifact, meta, Outcome.MODIFIED)

    def local_tree(self, results: Results, pushed: Callable[[str, str], bool]) -> None:
        """:meth:`local` of every cfile of the repository, in :meth:`Workspace.walk_cfiles`'
        order, added to ``results``; an up-to-date artifact whose object the content cache
        still holds for ``cavorite push`` (``pushed(checksum, key)`` is False) is not-pushed.

        A directory at a time: a file whose cfile and artifact the state cache knows for their
        ``lstat`` (the usual case) is answered without reading either, or making a
        :class:`FileResult`; any other is looked at by :meth:`local`."""
        ws = self.workspace
        cut = -len(ws.suffix)
        for directory, entries in ws.listings(ws.root):
            names = ws.cfile_names(entries)
            if not names:
                continue
            known = self.cache.directory(directory)
            base = f"{directory}{os.sep}"
            for cname in names:
                name = cname[:cut]
                meta = _up_to_date(known, base, cname, name)
                if meta is None:
                    result = self.local(directory / cname)
                elif pushed(meta.checksum, meta.name):
                    results.add(UP_TO_DATE, directory, name, meta.name, meta.size, meta.checksum)
                    continue
                else:
                    result = _result(directory / name, meta, UP_TO_DATE)
                results.append(not_pushed(result, pushed))

    def without_cfile(self, settings: GuardSettings) -> list[FileResult]:
        """Files with no cfile that need action: untracked ones, and in git orphaned ones."""
        ws = self.workspace
        if not in_git_work_tree(ws.root):
            return self.untracked(settings, (ws.relative(p) for p in ws.walk_files(ws.root)))
        gitignores: list[str] = []

        def noting_gitignores() -> Iterator[str]:
            # one pass over git's list, however long: the .gitignore files are kept for later;
            # cfiles, which are never candidates, git leaves out itself
            for rel in visible_files(ws.root, ws.suffix):
                if rel.rpartition("/")[2] == ".gitignore":
                    gitignores.append(rel)
                yield rel

        untracked = self.untracked(settings, noting_gitignores())
        return untracked + self.orphaned(gitignores)

    def orphaned(self, visible: Iterable[str]) -> list[FileResult]:
        """Files still named by a .gitignore line as cavorite writes them (among the ``visible``
        files) whose cfile is gone, and that cavorite tracked: a commit of any ref holds their
        cfile, or the state cache remembers placing or uploading them. A line of the user's
        own (``/notes.local``) names no such file."""
        ws = self.workspace
        sizes: dict[Path, int] = {}
        for rel in visible:
            directory, _, name = rel.rpartition("/")
            if name == ".gitignore":
                sizes.update(self._ignored_without_cfile(ws.root / rel, directory))
        if not sizes:
            return []
        cfiles = {ws.relative(ws.cfile_for(p)): p for p in sizes}
        committed = ever_committed(ws.root, list(cfiles))
        return [
            FileResult(p, Outcome.ORPHANED, size=sizes[p], detail=ORPHAN_DETAIL)
            for c, p in cfiles.items()
            if c in committed or self.cache.placed(p)
        ]

    def _ignored_without_cfile(self, gitignore: Path, directory: str) -> Iterable[tuple[Path, int]]:
        """The regular files the exact lines of ``gitignore`` name that have no cfile."""
        ws = self.workspace
        listed = _Listings(ws.root)
        for rel in named_paths(gitignore, directory):
            name = rel.rpartition("/")[2]
            if rel.partition("/")[0] in SKIP_DIRS or is_temp_name(name) or ws.is_cfile_name(name):
                continue
            # the usual line names a tracked file, its cfile beside it: seen in the listing
            if listed.holds(rel + ws.suffix):
                continue
            path = ws.root / rel
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if statmod.S_ISREG(st.st_mode) and not os.path.lexists(ws.cfile_for(path)):
                    yield path, st.st_size

    def untracked(self, settings: GuardSettings, candidates: Iterable[str]) -> list[FileResult]:
        """Large or binary files with no cfile that git does not ignore, among ``candidates``
        (repository-relative)."""
        ws = self.workspace
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
        self, cfiles: Iterable[Path], store: Store | None, jobs: int, local: bool = True
    ) -> Report:
        """Local check of every cfile's artifact; plus the store's copy when ``store`` is given.
        The cfiles are taken :data:`BATCH_FILES` at a time and the results kept packed, so a
        million cfiles are never held as paths and result objects at once; every local result
        comes before every store result, each in the cfiles' order."""
        checked, stored = Results(), Results()
        remote = None if store is None else self._remote_check(store)
        it = iter(cfiles)
        while batch := list(itertools.islice(it, BATCH_FILES)):
            if local:
                checked.extend(map(self.local, batch))
            if remote is not None:
                by_cfile = dict(bounded_map(remote, batch, jobs))
                stored.extend(by_cfile[c] for c in batch)
        checked.extend(stored)
        return Report(checked)

    def _remote_check(self, store: Store) -> Callable[[Path], tuple[Path, FileResult]]:
        """The store check of one cfile, named by its artifact in any error; after a failure
        that says the store cannot be used, the files after it are not attempted."""
        watch = RunWatch()

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

        return remote


UP_TO_DATE = Outcome.UP_TO_DATE


class _Listings:
    """The names in a directory below ``root``, listed when first asked about (the last
    directory's only: a .gitignore's lines come directory by directory)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._directory: str | None = None
        self._names: frozenset[str] = frozenset()

    def holds(self, rel: str) -> bool:
        """Whether the listing of the directory holds the file ``rel`` (repository-relative):
        True only if it does; False for a path that is not plain (``//``, a ``.`` or ``..``
        name) or a directory that cannot be listed."""
        if "//" in rel or "/." in f"/{rel}":
            return False
        directory, _, name = rel.rpartition("/")
        if directory != self._directory:
            self._directory = directory
            try:
                self._names = frozenset(os.listdir(self._root / directory))
            except OSError:
                self._names = frozenset()
        return name in self._names


def _up_to_date(known: Known, base: str, cname: str, name: str) -> Metadata | None:
    """The content of the cfile ``base + cname`` if the state cache shows, from an ``lstat``
    of it and of its artifact ``base + name``, that the artifact is up to date; else None."""
    try:
        meta = known.cfile(cname, os.lstat(base + cname))
        if meta is None:
            return None
        st = os.lstat(base + name)
    except OSError:
        return None
    if statmod.S_ISREG(st.st_mode) and known.sha256(name, st) == meta.checksum:
        return meta
    return None


def not_pushed(result: FileResult, pushed: Callable[[str, str], bool]) -> FileResult:
    """An up-to-date file whose object waits in the content cache is ``not-pushed``."""
    if result.outcome is not UP_TO_DATE or result.checksum is None or result.key is None:
        return result
    if pushed(result.checksum, result.key):
        return result
    return dataclasses.replace(result, outcome=Outcome.NOT_PUSHED, detail="cavorite push sends it")


def _result(
    artifact: Path, meta: Metadata, outcome: Outcome, detail: str | None = None
) -> FileResult:
    return FileResult(artifact, outcome, meta.name, meta.size, meta.checksum, detail=detail)


def _unreadable(ws: Workspace, path: Path, exc: OSError) -> CavoriteError:
    return CavoriteError(f"{ws.display(path)}: cannot be read ({exc.strerror or exc})")
