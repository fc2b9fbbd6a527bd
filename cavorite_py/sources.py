"""Where the pre-commit guard reads the files it judges: the working tree, or git's index.

A plain git hook runs before git stashes anything, so the working tree can differ from what is
about to be committed (a staged binary deleted or replaced since): with ``--staged`` the guard
reads the index itself.
"""

from __future__ import annotations

import os
import stat as statmod
from pathlib import Path
from typing import Protocol

from . import git


class Source(Protocol):
    def size(self, path: Path) -> int | None:
        """The size of a regular file at ``path``, or None if there is none."""

    def head(self, path: Path, limit: int) -> bytes:
        """Up to ``limit`` bytes from the start of the file."""


MAX_WHOLE_READ = 1 << 20
"""blobs up to this size are read whole in one git call"""


class WorkingTree:
    def size(self, path: Path) -> int | None:
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size if statmod.S_ISREG(st.st_mode) else None

    def head(self, path: Path, limit: int) -> bytes:
        with open(path, "rb") as f:
            return f.read(limit)


class Index:
    """The staged version of files, read with ``git cat-file``."""

    def __init__(self, git_root: Path) -> None:
        self.root = git_root
        ids = git.index_blobs(git_root)
        sizes = git.blob_sizes(git_root, [blob for _, blob in ids])
        self._blobs: dict[Path, tuple[str, int]] = {path: (b, sizes[b]) for path, b in ids}

    def size(self, path: Path) -> int | None:
        entry = self._blobs.get(path)
        return entry[1] if entry is not None else None

    def head(self, path: Path, limit: int) -> bytes:
        blob, size = self._blobs[path]
        if size <= MAX_WHOLE_READ:
            return git.blob(self.root, blob)[:limit]
        # a large blob: read its start only
        return git.blob_head(self.root, blob, limit)
