"""The reference walk: which object keys a git repository's cfiles name.

Two sets come out of it. ``referenced``: the keys that must stay, named by a cfile in a commit
of every local branch, remote-tracking branch and tag (all their history, or with ``keep_last``
only the last N commits of each, following first parents), in the HEAD of every work tree, in
every stash entry (its commit, index and untracked files), in the index of every work tree, or
on disk in any work tree. ``ours``: every key the repository's own full history names, whatever
``keep_last`` says, plus the referenced ones: the keys the repository can tell are its own.

Git is asked as little as possible: one ``git log`` lists every file of every commit of the
whole history (as the raw diffs of each commit against its first parent), each distinct tree of the
last commits is listed once, and the cfiles' content is read by one ``git cat-file --batch``,
each distinct blob once, however many commits share it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import git, metadata
from .errors import CavoriteError, MetadataError

_SKIP_DIRS = frozenset({".git"})


class PruneRefused(CavoriteError):
    """Prune cannot tell every reference (a shallow clone, a ref or work tree it cannot read,
    a store it cannot list): nothing is deleted."""

    exit_code = 2


@dataclass
class References:
    """The keys the references name, the keys the repository's history names, and how many
    cfiles could not be read (skipped with a warning)."""

    referenced: set[str] = field(default_factory=set)
    ours: set[str] = field(default_factory=set)
    malformed: int = 0


def walk(top: Path, extension: str, keep_last: int | None = None) -> References:
    """The references of the git repository whose work tree's top is ``top``, reading files
    named ``*.<extension>`` as cfiles. Raises :class:`PruneRefused` when it cannot see them all.
    """
    try:
        return _Walk(top, "." + extension).run(keep_last)
    except PruneRefused:
        raise
    except CavoriteError as exc:
        raise PruneRefused(f"cannot read every reference of the repository: {exc}") from exc


class _Walk:
    def __init__(self, top: Path, suffix: str) -> None:
        self.top = top
        self.suffix = suffix
        self.malformed = 0

    def run(self, keep_last: int | None) -> References:
        self._check_complete()
        trees = self._worktrees()
        tips = git.ref_commits(self.top) + [w.head for w in trees if w.head]
        history = self._cfiles(git.history_files(self.top, tips))
        kept = history if keep_last is None else self._window(tips, keep_last)
        stashed = self._trees(git.commit_trees(self.top, git.stash_commits(self.top)))
        indexed = {b for w in trees for p, b in git.index_blobs(w.path) if self._is_cfile(p.name)}
        names = self._names(history | kept | stashed | indexed)
        on_disk = {key for w in trees for key in self._disk_keys(w.path)}
        referenced = {names[b] for b in kept | stashed | indexed if b in names} | on_disk
        ours = {names[b] for b in history if b in names} | referenced
        return References(referenced, ours, self.malformed)

    def _check_complete(self) -> None:
        if git.is_shallow(self.top):
            raise PruneRefused(
                "this is a shallow clone: its history is incomplete, so prune cannot tell what "
                "older commits reference; run `git fetch --unshallow` first"
            )
        try:
            git.check_refs(self.top)
        except CavoriteError as exc:
            raise PruneRefused(
                f"a ref cannot be read ({exc}); repair the repository first"
            ) from exc

    def _worktrees(self) -> list[git.Worktree]:
        trees = [w for w in git.worktrees(self.top) if not w.bare]
        for tree in trees:
            if tree.prunable or not tree.path.is_dir():
                raise PruneRefused(
                    f"work tree {tree.path} is missing, so its index and files cannot be read; "
                    "restore it, or run `git worktree prune` if it is gone for good"
                )
        return trees

    def _is_cfile(self, name: str) -> bool:
        return name.endswith(self.suffix) and len(name) > len(self.suffix)

    def _cfiles(self, files: Iterable[tuple[str, str]]) -> set[str]:
        """The blobs of the files that are cfiles by name."""
        return {blob for path, blob in files if self._is_cfile(path.rsplit("/", 1)[-1])}

    def _window(self, tips: list[str], count: int) -> set[str]:
        trees = {
            t for tip in dict.fromkeys(tips) for t in git.first_parent_trees(self.top, tip, count)
        }
        return self._trees(trees)

    def _trees(self, trees: Iterable[str]) -> set[str]:
        return {b for tree in set(trees) for b in self._cfiles(git.tree_files(self.top, tree))}

    def _names(self, blobs: set[str]) -> dict[str, str]:
        """The key each cfile blob names; one that is not a valid cfile is counted, skipped."""
        contents, too_large = git.read_blobs(self.top, sorted(blobs), metadata.MAX_CFILE_BYTES)
        self.malformed += too_large
        names = {}
        for blob, raw in contents.items():
            try:
                names[blob] = metadata.parse(raw, blob).name
            except MetadataError:
                self.malformed += 1
        return names

    def _disk_keys(self, root: Path) -> Iterable[str]:
        """The key of every cfile on disk in the work tree at ``root`` (tracked or not)."""
        for dirpath, dirnames, filenames in os.walk(root, onerror=_unlistable):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for name in filenames:
                if self._is_cfile(name):
                    try:
                        yield metadata.read(Path(dirpath) / name).name
                    except MetadataError:
                        self.malformed += 1


def _unlistable(exc: OSError) -> None:
    """A directory of a work tree that cannot be listed may hold cfiles: refuse."""
    raise PruneRefused(
        f"cannot list {exc.filename} ({exc.strerror or exc}), so the cfiles in it are unknown; "
        "fix its permissions first"
    ) from exc
