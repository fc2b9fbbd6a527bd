"""Make git ignore uploaded artifacts, so that ``git add .`` picks up the cfile, not the binary.

Entries go into the ``.gitignore`` at the cavorite repository root, one anchored line per
artifact (``/assets/logo.png``), added once and never reordered or removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

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


def ignore(root: Path, relative_paths: Iterable[str]) -> list[str]:
    """Add an entry for every path not listed yet; return the entries added."""
    path = root / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    present = set(text.splitlines())
    added: list[str] = []
    for rel in relative_paths:
        entry = pattern_for(rel)
        if entry not in present:
            present.add(entry)
            added.append(entry)
    if added:
        if text and not text.endswith("\n"):
            text += "\n"
        atomic_write_bytes(path, (text + "\n".join(added) + "\n").encode("utf-8"))
    return added
