"""Which files a command covers, from the paths the user named.

Arguments are checked before anything is transferred: one bad argument refuses the whole
command (exit 2) and changes nothing.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import shlex
import stat as statmod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import git
from .errors import ConfigError, PathError
from .fsutil import child, is_temp_name
from .workspace import SKIP_DIRS, Listed, Workspace


def _unique(paths: Iterable[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))


NOTED_MAX = 5
"""skipped files named one by one; beyond this many, a count"""


@dataclass
class Selection:
    """The files an upload covers, and what it says about the files it left out (complete once
    ``files`` has been gone through: a directory's files are found as they are used)."""

    files: Iterable[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    """the directories of the files ``files`` gave so far (the one it is in too)"""


@dataclass(frozen=True)
class Patterns:
    """Which files under a named directory an upload covers: those matching one of
    ``include`` (all when empty) and none of ``exclude``. Patterns are globs matched against
    repository-relative paths, as git-lfs's tracked patterns: ``*`` within a name, ``**``
    across directories, a pattern without "/" against the file name alone."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def narrows(self) -> bool:
        """Whether any file is left out (there are patterns)."""
        return bool(self.include or self.exclude)

    def covers(self, rel: str) -> bool:
        if self.include and not any(glob_match(p, rel) for p in self.include):
            return False
        return not any(glob_match(p, rel) for p in self.exclude)


def track_patterns(options: Mapping[str, object]) -> tuple[str, ...]:
    """The config's default patterns of a directory upload (``"track": ["*.bin", ...]``)."""
    value = options.get("track")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise ConfigError('option "track" must be a list of glob patterns, e.g. ["*.bin"]')
    return tuple(value)


def glob_match(pattern: str, rel: str) -> bool:
    """Whether the repository-relative POSIX path ``rel`` matches the glob ``pattern``."""
    pattern = pattern.strip("/") if pattern.startswith("/") else pattern
    if "/" not in pattern:
        return _glob_regex(pattern).fullmatch(rel.rsplit("/", 1)[-1]) is not None
    return _glob_regex(pattern).fullmatch(rel) is not None


@functools.cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def upload_targets(
    ws: Workspace, args: Sequence[str | Path], cwd: Path | None = None
) -> list[Path]:
    """The artifacts to upload: named files, and every file under named directories."""
    return list(upload_selection(ws, args, cwd).files)


def upload_selection(
    ws: Workspace,
    args: Sequence[str | Path],
    cwd: Path | None = None,
    patterns: Patterns = Patterns(),
) -> Selection:
    """The artifacts to upload: named files, and the files under named directories that git
    would commit (neither ignored nor already tracked by git; files with a cfile always) and
    that ``patterns`` cover. Symbolic links and files git tracks are left out, and said so."""
    if not args:
        raise PathError("name at least one file or directory to upload")
    chosen = Selection()
    found: list[Iterable[Path]] = []
    for arg in args:
        path = ws.resolve(arg, cwd)
        if path != ws.root:
            ws.check_not_internal(path)
        try:
            st = path.lstat()
        except FileNotFoundError:
            raise PathError(f"{arg}: no such file") from None
        if statmod.S_ISDIR(st.st_mode):
            files = _directory(ws, path, patterns, chosen.notes, chosen.directories)
            # one directory alone is gone through as it is uploaded; with other arguments, now
            # (its notes in their place)
            found.append(files if len(args) == 1 else list(files))
        elif statmod.S_ISLNK(st.st_mode):
            raise PathError(f"{arg}: is a symbolic link; upload the file it points to instead")
        elif not statmod.S_ISREG(st.st_mode):
            raise PathError(f"{arg}: not a regular file")
        elif ws.is_cfile(path):
            raise PathError(
                f"{arg}: is a metadata file; upload its artifact "
                f"{ws.display(ws.artifact_for(path))} instead"
            )
        else:
            found.append([path])
            chosen.directories.append(str(path.parent))
            if _git_tracks(path):
                chosen.notes.append(_still_tracked(ws, path))
    # one directory: its files, found as they are used (none twice)
    chosen.files = found[0] if len(args) == 1 else _unique(itertools.chain(*found))
    return chosen


def _directory(
    ws: Workspace, top: Path, patterns: Patterns, notes: list[str], directories: list[str]
) -> Iterator[Path]:
    """The files to upload under ``top``; its files are listed (an unlistable directory
    refused) before the first is given, and ``notes`` gets what was skipped after the last;
    ``directories`` each directory as its files come."""
    in_git = git.find_toplevel(top) is not None
    # cfiles are never chosen: git's list of them is not kept
    tracked = _git_listed(ws, top, "--cached") if in_git else set()
    untracked = _Untracked(ws, top, patterns, tracked) if in_git else None
    files = _candidates(ws, top, directories)
    first = next(files, None)
    return _chosen(
        ws, itertools.chain([first] if first else [], files), patterns, notes, untracked, tracked
    )


class _Untracked:
    """git's untracked files under a directory (neither ignored nor tracked), which decide only
    for a file without a cfile. Asked at once when :func:`_without_cfile` finds such a file;
    otherwise (an upload of tracked files again) only if one turns up after all (a cfile
    removed meanwhile, or one that is a broken link): git walks the whole tree for its list,
    which costs more than the rest of such an upload (100,000 ignored files: 1 s)."""

    def __init__(self, ws: Workspace, top: Path, patterns: Patterns, tracked: set[Path]) -> None:
        self._ws, self._top = ws, top
        self._found = self._ask() if _without_cfile(ws, top, patterns, tracked) else None

    def _ask(self) -> set[Path]:
        return _git_listed(self._ws, self._top, "--others", "--exclude-standard")

    def chooses(self, path: Path, listed: Listed) -> bool:
        """Whether ``path`` is chosen: git lists it untracked, or it has a cfile."""
        if self._found is not None and path in self._found:
            return True
        if listed.has_cfile(path):
            return True
        if self._found is None:
            self._found = self._ask()
            return path in self._found
        return False


def _without_cfile(ws: Workspace, top: Path, patterns: Patterns, tracked: set[Path]) -> bool:
    """Whether a file under ``top`` that :func:`_chosen` would judge by git's list of
    untracked files has no cfile beside it (by the names in each directory, as
    :meth:`Workspace.walk_entries` goes); True as well if a directory cannot be listed."""
    unlistable: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(top, onerror=unlistable.append):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        names = set(filenames)
        for name in filenames:
            if name + ws.suffix in names or ws.is_cfile_name(name) or name == ".gitignore":
                continue
            path = Path(dirpath, name)
            if is_temp_name(name) or path.is_symlink() or path in tracked:
                continue
            if patterns.covers(ws.relative(path)):
                return True
    return bool(unlistable)


def _candidates(ws: Workspace, top: Path, directories: list[str]) -> Iterator[tuple[Path, Listed]]:
    """:meth:`Workspace.walk_entries` but for cfiles and .gitignore files (left out by name,
    before a path is made for them); each directory is added to ``directories`` as its files
    come."""
    for base, entries in ws.listings(top):
        directories.append(str(base))
        listed = Listed(entries, ws.suffix)
        for name in sorted(entries):
            if not (is_temp_name(name) or ws.is_cfile_name(name) or name == ".gitignore"):
                yield child(base, name), listed


def _chosen(
    ws: Workspace,
    files: Iterable[tuple[Path, Listed]],
    patterns: Patterns,
    notes: list[str],
    untracked: _Untracked | None,
    tracked: set[Path],
) -> Iterator[Path]:
    links: list[Path] = []
    skipped: list[Path] = []
    narrows = patterns.narrows
    for path, listed in files:
        if listed.is_symlink(path):
            links.append(path)
        elif narrows and not patterns.covers(ws.relative(path)):
            continue
        elif tracked and path in tracked:
            skipped.append(path)
        elif untracked is None or untracked.chooses(path, listed):
            yield path
    notes.extend(_listed(ws, links, _link_note))
    notes.extend(_listed(ws, skipped, _tracked_note))


def _git_listed(ws: Workspace, top: Path, *which: str) -> set[Path]:
    """The files under ``top`` that git lists with ``which``, but for cfiles and .gitignore."""
    found = set()
    suffix = os.fsencode(ws.suffix)
    for raw in git.streamed(top, "ls-files", "-z", *which, "--", "."):
        if raw.endswith(suffix) or raw.endswith(b".gitignore"):
            # (a quick look; the names are then judged exactly)
            rel = os.fsdecode(raw)
            name = rel.rpartition("/")[2]
            if ws.is_cfile_name(name) or name == ".gitignore":
                continue
        found.add(top / os.fsdecode(raw))
    return found


def _listed(ws: Workspace, paths: list[Path], note: Callable[[Workspace, Path], str]) -> list[str]:
    """One note per skipped file, the first few; then a count."""
    shown = [f"skipped {note(ws, p)}" for p in paths[:NOTED_MAX]]
    if len(paths) > NOTED_MAX:
        shown.append(f"skipped {len(paths) - NOTED_MAX} more such files")
    return shown


def _link_note(ws: Workspace, path: Path) -> str:
    return f"{ws.display(path)}: a symbolic link; upload the file it points to instead"


def _tracked_note(ws: Workspace, path: Path) -> str:
    return (
        f"{ws.display(path)}: git tracks it; to keep it with cavorite instead, run "
        f"git rm --cached {shlex.quote(ws.display(path))} and upload it"
    )


def _git_tracks(path: Path) -> bool:
    top = git.find_toplevel(path.parent)
    return top is not None and path in git.tracked_files(path.parent)


def _still_tracked(ws: Workspace, path: Path) -> str:
    shown = shlex.quote(ws.display(path))
    return (
        f"{ws.display(path)}: git still tracks it, so commits would hold it as well as its "
        f"cfile; run: git rm --cached {shown}"
    )


def retrieve_targets(
    ws: Workspace, args: Sequence[str | Path], cwd: Path | None = None
) -> list[Path]:
    """The cfiles to retrieve: named cfiles or artifacts, every cfile under named directories,
    every cfile in the repository when nothing is named."""
    if not args:
        return list(ws.walk_cfiles(ws.root))
    return _named_cfiles(ws, args, cwd)


def iter_retrieve_targets(
    ws: Workspace, args: Sequence[str | Path], cwd: Path | None = None
) -> Iterable[Path]:
    """:func:`retrieve_targets`, the repository's cfiles found as they are used when nothing
    is named (a million paths are never held at once); named ones checked first, all of them."""
    return ws.walk_cfiles(ws.root) if not args else _named_cfiles(ws, args, cwd)


def _named_cfiles(ws: Workspace, args: Sequence[str | Path], cwd: Path | None) -> list[Path]:
    found: list[Path] = []
    for arg in args:
        path = ws.resolve(arg, cwd)
        if path != ws.root:
            ws.check_not_internal(path)
        if path.is_dir() and not path.is_symlink():
            if ws.cfile_for(path).is_file():  # a directory where an artifact belongs: report it
                found.append(ws.cfile_for(path))
            found.extend(ws.walk_cfiles(path))
        elif ws.is_cfile(path) and path.is_file():
            found.append(path)
        elif ws.cfile_for(path).is_file():
            found.append(ws.cfile_for(path))
        else:
            raise PathError(
                f"{arg}: no metadata file {ws.display(ws.cfile_for(path))}; "
                "name a cfile, a tracked artifact or a directory"
            )
    return _unique(found)
