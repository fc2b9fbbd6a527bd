"""Make git ignore uploaded artifacts, so that ``git add .`` picks up the cfile, not the binary.

Entries go into the ``.gitignore`` at the cavorite repository root, one anchored line per
artifact (``/assets/logo.png``), added once and never reordered or removed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from .config import CONFIG_DIR
from .fsutil import atomic_write_bytes

_SPECIAL = re.compile(r"([*?\[\]\\!#])")


def in_git_work_tree(root: Path) -> bool:
    return any((d / ".git").exists() for d in (root, *root.parents))


def pattern_for(relative_posix: str) -> str:
    """An anchored .gitignore pattern matching exactly this path."""
    escaped = _SPECIAL.sub(r"\\\1", relative_posix)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def expressible(relative_posix: str) -> bool:
    """Whether a .gitignore line can name this path: git has no escape for a line break, and a
    name cut at one would add a different pattern (``x\n*`` would ignore everything)."""
    return "\n" not in relative_posix and "\r" not in relative_posix


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (cavorite's own ``.cavorite/``): two runs that
    finish together must not both read, extend and rewrite .gitignore, losing one's lines."""
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


def ignore(root: Path, relative_paths: Iterable[str]) -> list[str]:
    """Add an entry for every path not listed yet; return the entries added.

    Paths that no .gitignore line can express (see :func:`expressible`) are skipped.
    """
    lock_dir = root / CONFIG_DIR
    if not lock_dir.is_dir():
        return _ignore(root, relative_paths)
    with _locked(lock_dir):
        return _ignore(root, relative_paths)


def _ignore(root: Path, relative_paths: Iterable[str]) -> list[str]:
    path = root / ".gitignore"
    try:
        # bytes that are not UTF-8 (a name written by another tool) are kept as they were
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        text = ""
    # lines as git splits them: at "\n" only (not at the other separators of str.splitlines),
    # a trailing "\r" dropped
    present = {line.removesuffix("\r") for line in text.split("\n")}
    added: list[str] = []
    for rel in relative_paths:
        if not expressible(rel):
            continue
        entry = pattern_for(rel)
        if entry not in present:
            present.add(entry)
            added.append(entry)
    if added:
        if text and not text.endswith("\n"):
            text += "\n"
        data = text + "\n".join(added) + "\n"
        atomic_write_bytes(path, data.encode("utf-8", "surrogateescape"))
    return added
