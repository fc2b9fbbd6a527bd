"""Run the real ``cavorite`` command with a slowed-down local store, so that a transfer is in
flight long enough to be killed, raced or disturbed::

    python tests/hardening/slowcli.py retrieve big.bin

Everything is the installed package's code; only the local store's byte copying is slowed:
``CAVORITE_SLOW_CHUNK`` bytes at a time (default 65536), ``CAVORITE_SLOW_DELAY`` seconds after
each chunk (default 0.05). Uploads copy the source file chunk by chunk into the store's
temporary file; downloads write chunk by chunk into the engine's temporary file.
``CAVORITE_SLOW_GITIGNORE`` (seconds, default 0) is a pause between reading ``.gitignore`` and
writing it back, to widen that window for a race.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

import cavorite_localstore
from cavorite_localstore import LocalStore

from cavorite_py import gitignore
from cavorite_py.__main__ import main

CHUNK = int(os.environ.get("CAVORITE_SLOW_CHUNK", "65536"))
DELAY = float(os.environ.get("CAVORITE_SLOW_DELAY", "0.05"))
GITIGNORE_PAUSE = float(os.environ.get("CAVORITE_SLOW_GITIGNORE", "0"))


def slow_copyfile(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    with open(src, "rb") as source, open(dst, "xb") as target:
        while chunk := source.read(CHUNK):
            target.write(chunk)
            target.flush()
            time.sleep(DELAY)


class _SlowWriter:
    def __init__(self, target: BinaryIO) -> None:
        self._target = target

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            self._target.write(view[start : start + CHUNK])
            time.sleep(DELAY)
        return len(view)


_get = LocalStore.get


def slow_get(self: LocalStore, key: str, fileobj: BinaryIO) -> None:
    _get(self, key, _SlowWriter(fileobj))  # type: ignore[arg-type]


class _Shutil:
    """``shutil`` as the local store module sees it, with a slow ``copyfile``."""

    copyfile = staticmethod(slow_copyfile)

    def __getattr__(self, name: str) -> Any:
        return getattr(shutil, name)


_write_bytes = gitignore.atomic_write_bytes


def slow_write_bytes(path: Path, data: bytes) -> None:
    time.sleep(GITIGNORE_PAUSE)
    _write_bytes(path, data)


if __name__ == "__main__":
    gitignore.atomic_write_bytes = slow_write_bytes
    cavorite_localstore.shutil = _Shutil()  # type: ignore[assignment]
    LocalStore.get = slow_get  # type: ignore[method-assign]
    sys.argv[0] = str(Path(sys.argv[0]).with_name("cavorite"))
    main(sys.argv[1:])
