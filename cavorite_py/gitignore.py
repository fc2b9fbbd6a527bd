"""Make git ignore uploaded artifacts, so that ``git add .`` picks up the cfile, not the binary.

Each artifact gets one line in the ``.gitignore`` of its own directory, anchored there:
``assets/img/logo.png`` is ``/logo.png`` in ``assets/img/.gitignore``, and an artifact at the
cavorite repository root is a line in the root ``.gitignore``. git matches a path only against
the ``.gitignore`` files of its own directory and the ones above it, so a directory's lines cost
nothing for paths elsewhere; every line in one root file made git's untracked-file search
quadratic in the number of artifacts.

Earlier versions wrote full-path lines (``/assets/img/logo.png``) to the root ``.gitignore``; an
artifact named by such a line gets no second one, and those lines are left where they are.
Lines are added once and never reordered; ``cavorite untrack`` removes an artifact's lines.
A file that such a line still names but whose cfile is gone is an orphan (``status`` says so).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from .config import CONFIG_DIR
from .fsutil import atomic_write_bytes

_SPECIAL = re.compile(r"([*?\[\]\\!#])")


class Entry(NamedTuple):
    """A line added to a ``.gitignore`` file."""

    gitignore: Path
    line: str


def in_git_work_tree(root: Path) -> bool:
    return any((d / ".git").exists() for d in (root, *root.parents))


def pattern_for(relative_posix: str) -> str:
    """An anchored .gitignore pattern matching exactly this path (relative to the directory of
    the .gitignore)."""
    escaped = _SPECIAL.sub(r"\\\1", relative_posix)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def expressible(name: str) -> bool:
    """Whether a .gitignore line can name this file: git has no escape for a line break, and a
    name cut at one would add a different pattern (``x\n*`` would ignore everything)."""
    return "\n" not in name and "\r" not in name


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (cavorite's own ``.cavorite/``): two runs that
    finish together must not both read, extend and rewrite a .gitignore, losing one's lines."""
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def ignore(root: Path, relative_paths: Iterable[str]) -> list[Entry]:
    """Add an entry for every path (repository-relative, POSIX) not listed yet to the .gitignore
    of its directory; return the entries added, a directory's together.

    Paths whose name no .gitignore line can express (see :func:`expressible`) are skipped.
    Errors are ``OSError`` whose ``filename`` is the .gitignore that could not be read or
    written. The root .gitignore is read first, for the lines of earlier versions, and nothing
    is written when it cannot be; after that, a directory whose file fails does not stop the
    others, and the first failure is raised at the end.
    """
    lock_dir = root / CONFIG_DIR
    if not lock_dir.is_dir():
        return _ignore(root, relative_paths)
    with _locked(lock_dir):
        return _ignore(root, relative_paths)


def _ignore(root: Path, relative_paths: Iterable[str]) -> list[Entry]:
    names_by_dir: dict[str, list[str]] = {}
    for rel in relative_paths:
        directory, _, name = rel.rpartition("/")
        if expressible(name):
            names_by_dir.setdefault(directory, []).append(name)
    if not names_by_dir:
        return []
    root_file = root / ".gitignore"
    root_text = _read(root_file)
    # full-path lines of earlier versions (a line of the root's own files has no "/" but its first)
    old_lines = {line for line in _lines(root_text) if "/" in line[1:]}
    added: list[Entry] = []
    failures: list[OSError] = []
    for directory, names in names_by_dir.items():
        if directory:
            path, text = root / directory / ".gitignore", None
            new = names
            if old_lines:
                new = [n for n in names if pattern_for(f"{directory}/{n}") not in old_lines]
        else:
            path, text, new = root_file, root_text, names
        try:
            added += [Entry(path, line) for line in _extend(path, new, text)]
        except OSError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    return added


def _extend(path: Path, names: list[str], text: str | None) -> list[str]:
    """Append a line for each name not listed in ``path`` yet (whose content is ``text`` when
    already read); return the lines added."""
    if text is None:
        text = _read(path)
    present = _lines(text)
    added: list[str] = []
    for name in names:
        line = pattern_for(name)
        if line not in present:
            present.add(line)
            added.append(line)
    if added:
        if text and not text.endswith("\n"):
            text += "\n"
        data = text + "\n".join(added) + "\n"
        try:
            atomic_write_bytes(path, data.encode("utf-8", "surrogateescape"))
        except OSError as exc:  # name the .gitignore, not the temporary file beside it
            raise OSError(exc.errno, exc.strerror, os.fspath(path)) from exc
    return added


def _read(path: Path) -> str:
    """The file's text ("" when there is none). A symbolic link is refused, not read through: a
    committed link would copy its target, a file of the user's, into the repository (git does not
    follow it either)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return ""
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, "a symbolic link, not followed", os.fspath(path)) from exc
        raise
    try:
        with open(fd, "rb") as f:
            data = f.read()
    except OSError as exc:  # e.g. a directory in its place
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from exc
    # bytes that are not UTF-8 (a name written by another tool) are kept as they were
    return data.decode("utf-8", "surrogateescape")


def _lines(text: str) -> set[str]:
    # lines as git splits them: at "\n" only (not at the other separators of str.splitlines),
    # a trailing "\r" dropped
    return {line.removesuffix("\r") for line in text.split("\n")}


def unpattern(line: str) -> str | None:
    """The path an exact anchored line (as :func:`pattern_for` writes it) names, relative to
    its .gitignore's directory; None for any other line: a comment, a negation, a glob, a
    directory pattern."""
    line = line.removesuffix("\r")
    if line.endswith(" ") and not line.endswith("\\ "):
        # git drops unescaped trailing spaces
        line = line.rstrip(" ")
    if not line.startswith("/") or line.endswith("/") or len(line) < 2:
        return None
    name: list[str] = []
    chars = iter(line[1:])
    for c in chars:
        if c in "*?[":
            return None
        char = next(chars, "") if c == "\\" else c
        if not char:
            return None
        name.append(char)
    return "".join(name)


def named_paths(gitignore: Path, directory: str) -> list[str]:
    """The repository-relative paths the exact anchored lines of ``gitignore`` name, the file
    being in ``directory`` (repository-relative, "" for the root); none if it cannot be read."""
    try:
        text = _read(gitignore)
    except OSError:
        return []
    found = (unpattern(line) for line in text.split("\n"))
    return [f"{directory}/{p}" if directory else p for p in found if p is not None]


def unignore(root: Path, relative_paths: Iterable[str]) -> None:
    """Remove the lines :func:`ignore` added (or earlier versions added to the root file) for
    these paths; other lines are kept as they are. Errors are ``OSError`` naming the file."""
    lock_dir = root / CONFIG_DIR
    with _locked(lock_dir) if lock_dir.is_dir() else contextlib.nullcontext():
        lines_by_file: dict[Path, set[str]] = {}
        for rel in relative_paths:
            directory, _, name = rel.rpartition("/")
            lines_by_file.setdefault(root / directory / ".gitignore", set()).add(pattern_for(name))
            lines_by_file.setdefault(root / ".gitignore", set()).add(pattern_for(rel))
        for path, lines in lines_by_file.items():
            _drop(path, lines)


def _drop(path: Path, lines: set[str]) -> None:
    text = _read(path)
    kept = [line for line in text.split("\n") if line.removesuffix("\r") not in lines]
    if len(kept) == len(text.split("\n")):
        return
    try:
        atomic_write_bytes(path, "\n".join(kept).encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from exc


def ignore_at_root(root: Path, relative_posix: str) -> list[str]:
    """Add the anchored line of a directory (repository-relative, POSIX) to the root
    .gitignore, unless it is there; return the lines added."""
    lock_dir = root / CONFIG_DIR
    with _locked(lock_dir) if lock_dir.is_dir() else contextlib.nullcontext():
        return _extend(root / ".gitignore", [relative_posix.rstrip("/") + "/"], None)
