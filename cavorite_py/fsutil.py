"""File-system helpers: temporary names never mistaken for artifacts, atomic writes."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

TMP_MARK = ".cavorite-tmp-"
"""Every temporary file we create has this in its name; such files are never artifacts."""


NAME_BYTES = 80
"""How much of the original name a temporary name keeps, in bytes: with the mark and a random
part it stays well under the 255-byte limit of common file systems, whatever the encoding."""


def temp_path_for(path: Path) -> Path:
    """A fresh hidden name in the same directory as ``path`` (so a rename is atomic)."""
    return path.with_name(f".{_shorten(path.name)}{TMP_MARK}{uuid.uuid4().hex[:12]}")


def _shorten(name: str) -> str:
    name = name[:NAME_BYTES]
    while len(os.fsencode(name)) > NAME_BYTES:
        name = name[:-1]
    return name


def is_temp_name(name: str) -> bool:
    return TMP_MARK in name


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: all or nothing."""
    tmp = temp_path_for(path)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
