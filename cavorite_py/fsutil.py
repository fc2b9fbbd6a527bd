"""File-system helpers: temporary names never mistaken for artifacts, atomic writes."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

TMP_MARK = ".cavorite-tmp-"
"""Every temporary file we create has this in its name; such files are never artifacts."""


def temp_path_for(path: Path) -> Path:
    """A fresh hidden name in the same directory as ``path`` (so a rename is atomic)."""
    return path.with_name(f".{path.name[:80]}{TMP_MARK}{uuid.uuid4().hex[:12]}")


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
