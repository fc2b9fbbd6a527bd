"""Where things are in a repository: artifacts, their cfiles, their object keys.

An artifact's local path is always its cfile's path minus the extension, never derived from the
cfile's ``name``; a hostile ``name`` can at worst choose a key, never a place on disk.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from .config import CONFIG_DIR
from .errors import PathError
from .fsutil import below, is_temp_name, relative_posix
from .keys import KeyScheme, object_key
from .metadata import check_key

SKIP_DIRS = frozenset({".git", ".hg", ".svn", CONFIG_DIR})


@dataclass(frozen=True)
class Workspace:
    """A repository root plus the settings that shape paths and keys."""

    root: Path
    extension: str = "cfile"
    key_prefix: str = ""
    key_scheme: KeyScheme = KeyScheme.PATH

    @functools.cached_property
    def suffix(self) -> str:
        """The cfile's ending, with its dot (asked for every file name a walk meets)."""
        return "." + self.extension

    def is_cfile(self, path: Path) -> bool:
        return self.is_cfile_name(path.name)

    def is_cfile_name(self, name: str) -> bool:
        return name.endswith(self.suffix) and len(name) > len(self.suffix)

    def cfile_for(self, artifact: Path) -> Path:
        return artifact.with_name(artifact.name + self.suffix)

    def artifact_for(self, cfile: Path) -> Path:
        return cfile.with_name(cfile.name[: -len(self.suffix)])

    def relative(self, path: Path) -> str:
        """The repository-relative POSIX path of ``path`` (which must be inside the root)."""
        return relative_posix(path, self.root)

    def key_for(self, artifact: Path, sha256: str | None = None) -> str:
        """The object key of ``artifact`` holding the content ``sha256`` (which only the
        versioned scheme needs)."""
        if self.key_scheme is KeyScheme.PATH:
            return self.path_key(artifact)
        if sha256 is None:
            raise ValueError("a versioned key needs the content's sha256")
        rel = self.relative(artifact)
        return check_key(object_key(self.key_scheme, self.key_prefix, rel, sha256))

    def path_key(self, artifact: Path) -> str:
        """``[prefix/]path``: the key in the path scheme (as the Go tool builds it, with no
        limit of its own: a store refuses what it cannot hold), what a versioned key starts
        with."""
        rel = self.relative(artifact)
        return check_key(f"{self.key_prefix}/{rel}" if self.key_prefix else rel)

    def display(self, path: Path) -> str:
        """How a path is shown to the user: relative to the current directory when inside it."""
        text = os.fspath(path)
        if os.path.isabs(text) and os.path.normpath(text) == text:  # the usual case, quickly
            with contextlib.suppress(OSError):
                rel = below(text, os.getcwd())
                if rel is not None:
                    return rel
        try:
            return os.path.relpath(path)
        except ValueError:
            return str(path)

    def resolve(self, arg: str | Path, cwd: Path | None = None) -> Path:
        """An absolute, lexically normalised path for a user argument, refused if outside the root.

        Symbolic links in the parent directories are resolved so that a link cannot smuggle a
        path out of the repository; the last component is kept as named.
        """
        raw = Path(arg)
        base = cwd if cwd is not None else Path.cwd()
        path = Path(os.path.normpath(raw if raw.is_absolute() else base / raw))
        try:
            real_root = self.root.resolve()
            parent = path.parent.resolve()
        except (OSError, RuntimeError) as exc:  # a symbolic link loop, for one
            raise PathError(f"{arg}: cannot be resolved ({exc})") from None
        if path in (self.root, real_root):
            return self.root
        if not (parent == real_root or parent.is_relative_to(real_root)):
            raise PathError(
                f"{arg}: outside the repository at {self.root}; only files inside it can be tracked"
            )
        return self.root / parent.relative_to(real_root) / path.name

    def check_not_internal(self, path: Path) -> None:
        rel = path.relative_to(self.root).parts
        # at any depth, as walk_files skips them: a submodule's .git, a nested repository's config
        internal = next((part for part in rel if part in SKIP_DIRS), None)
        if internal is not None:
            where = self.display(path)
            raise PathError(f"{where}: inside {internal}/, which cavorite never tracks")
        if is_temp_name(path.name):
            raise PathError(f"{self.display(path)}: a temporary file of an interrupted run")

    def walk_files(self, top: Path, suffix: str = "") -> Iterator[Path]:
        """Every file under ``top`` (whose name ends with ``suffix``), sorted, skipping VCS and
        cavorite's own directories.

        A directory that cannot be listed (permissions, a path beyond the system's limit)
        raises ``PathError``: skipped in silence, its files would be missing from an upload or
        a retrieve that reports success. Every directory is listed before the first file is
        given, so that this error comes before anything is done; the files of each are then
        found as they are used (a million paths are never held at once)."""
        for path, _ in self.walk_entries(top, suffix):
            yield path

    def walk_entries(self, top: Path, suffix: str = "") -> Iterator[tuple[Path, Listed]]:
        """:meth:`walk_files`, each file with what its directory's listing told of it."""
        for base, entries in self.listings(top):
            listed = Listed(entries, self.suffix)
            for name in sorted(entries):
                if name.endswith(suffix) and not is_temp_name(name):
                    yield base / name, listed

    def listings(self, top: Path) -> Iterator[tuple[Path, dict[str, os.DirEntry[str]]]]:
        """Each directory :meth:`walk_files` goes through, in its order, with the entries of
        its files (a directory that cannot be listed raises ``PathError`` before the first)."""
        for directory in self._directories(top):
            try:
                with os.scandir(directory) as found:
                    entries = {e.name: e for e in found if not _is_dir(e)}
            except OSError as exc:
                self._unlistable(exc)
            yield Path(directory), entries

    def cfile_names(self, names: Iterable[str]) -> list[str]:
        """The names of cfiles among ``names`` of one directory, in :meth:`walk_cfiles`' order."""
        return sorted(n for n in names if self.is_cfile_name(n) and not is_temp_name(n))

    def _directories(self, top: Path) -> list[str]:
        """``top`` and the directories below it, in the order ``os.walk`` goes through them
        (sorted, VCS and cavorite's own skipped)."""
        found = []
        for dirpath, dirnames, _ in os.walk(top, onerror=self._unlistable):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            found.append(dirpath)
        return found

    def _unlistable(self, exc: OSError) -> NoReturn:
        where = self.display(Path(os.fsdecode(exc.filename))) if exc.filename else "a directory"
        why = exc.strerror.lower() if exc.strerror else str(exc)
        raise PathError(f"{where}: cannot list this directory ({why})") from exc

    def walk_cfiles(self, top: Path) -> Iterator[Path]:
        suffix = self.suffix
        for path in self.walk_files(top, suffix):
            if len(path.name) > len(suffix):
                yield path


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """As ``os.walk`` tells a directory (a link to one included, then not followed)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


class Listed:
    """A directory's files as one listing saw them: whether a name is a symbolic link, or has
    a cfile, is answered without a system call where the listing tells (``d_type``)."""

    def __init__(self, entries: dict[str, os.DirEntry[str]], suffix: str) -> None:
        self._entries = entries
        self._suffix = suffix

    def is_symlink(self, path: Path) -> bool:
        entry = self._entries.get(path.name)
        return entry.is_symlink() if entry is not None else path.is_symlink()

    def has_cfile(self, path: Path) -> bool:
        """Whether ``path``'s cfile exists (following a link, as ``Path.exists``)."""
        entry = self._entries.get(path.name + self._suffix)
        if entry is not None and entry.is_file(follow_symlinks=False):
            return True
        return path.with_name(path.name + self._suffix).exists()
