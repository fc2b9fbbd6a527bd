"""Helpers shared by the backend-specific store tests."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cavorite_py.errors import ObjectExists
from cavorite_py.stores.base import ObjectInfo, Store


def make(tmp_path: Path, data: bytes) -> tuple[Path, ObjectInfo]:
    """A file holding ``data`` (named by content and thread, so threads never share one)."""
    path = tmp_path / f"f-{hashlib.sha256(data).hexdigest()[:12]}-{threading.get_ident()}"
    path.write_bytes(data)
    return path, ObjectInfo(len(data), hashlib.sha256(data).hexdigest())


def race_for_one_key(
    store: Store, tmp_path: Path, writers: int = 8
) -> tuple[list[int], list[tuple[Path, ObjectInfo]]]:
    """``writers`` threads put different content under one key without overwrite; return the
    indexes of those whose put succeeded, and the files they wrote."""
    files = [make(tmp_path, f"writer {i}".encode()) for i in range(writers)]

    def put(i: int) -> bool:
        try:
            store.put("race.bin", *files[i])
        except ObjectExists:
            return False
        return True

    with ThreadPoolExecutor(writers) as pool:
        won = [i for i, ok in enumerate(pool.map(put, range(writers))) if ok]
    return won, files
