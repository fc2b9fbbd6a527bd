"""Where the pre-commit guard reads the files it judges: the working tree, or git's index.

A plain git hook runs before git stashes anything, so the working tree can differ from what is
about to be committed (a staged binary deleted or replaced since): with ``--staged`` the guard
reads the index itself.
"""

from __future__ import annotations

import os
import stat as statmod
import subprocess
from pathlib import Path
from typing import Protocol

from .errors import CavoriteError
from .guard import git


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
        self._blobs: dict[Path, tuple[str, int]] = {}
        out = git(git_root, "ls-files", "-s", "-z")
        entries = [line.split(b"\t", 1) for line in out.split(b"\0") if line]
        ids: list[tuple[Path, str]] = []
        for meta, name in entries:
            mode, blob, _stage = meta.split()
            if mode in (b"100644", b"100755"):
                ids.append((git_root / os.fsdecode(name), blob.decode()))
        sizes = self._sizes([blob for _, blob in ids])
        self._blobs = {path: (blob, sizes[blob]) for path, blob in ids}

    def _sizes(self, blobs: list[str]) -> dict[str, int]:
        if not blobs:
            return {}
        out = git(
            self.root,
            "cat-file",
            "--batch-check=%(objectname) %(objectsize)",
            stdin="\n".join(blobs).encode() + b"\n",
        )
        sizes = {}
        for line in out.decode().splitlines():
            name, size = line.split()
            sizes[name] = int(size)
        return sizes

    def size(self, path: Path) -> int | None:
        entry = self._blobs.get(path)
        return entry[1] if entry is not None else None

    def head(self, path: Path, limit: int) -> bytes:
        blob, size = self._blobs[path]
        if size <= MAX_WHOLE_READ:
            return git(self.root, "cat-file", "blob", blob)[:limit]
        try:  # a large blob: read its start only
            with subprocess.Popen(
                ["git", "cat-file", "blob", blob],
                cwd=self.root,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            ) as proc:
                assert proc.stdout is not None
                data = proc.stdout.read(limit)
                proc.kill()
        except OSError as exc:
            raise CavoriteError(f"cannot run git: {exc}") from exc
        return data
