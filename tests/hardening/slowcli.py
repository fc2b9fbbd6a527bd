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
import signal
import sys
import time
from pathlib import Path
from typing import BinaryIO

import cavorite_localstore
from cavorite_localstore import LocalStore

from cavorite_py import gitignore
from cavorite_py.__main__ import main

CHUNK = int(os.environ.get("CAVORITE_SLOW_CHUNK", "65536"))
DELAY = float(os.environ.get("CAVORITE_SLOW_DELAY", "0.05"))
GITIGNORE_PAUSE = float(os.environ.get("CAVORITE_SLOW_GITIGNORE", "0"))


def slow_copy_fd(fin: int, fout: int) -> None:
    """The local store's copy into its new temporary file, a chunk at a time."""
    while chunk := os.read(fin, CHUNK):
        os.write(fout, chunk)
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


# the name gitignore imported, which the slow version replaces
_write_bytes = gitignore.atomic_write_bytes  # type: ignore[attr-defined]


def slow_write_bytes(path: Path, data: bytes) -> None:
    time.sleep(GITIGNORE_PAUSE)
    _write_bytes(path, data)


if __name__ == "__main__":
    # Ctrl-C as a terminal's job gets it, even when the tests run where SIGINT is ignored (a
    # background job's children ignore it, and Python then leaves it so)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    gitignore.atomic_write_bytes = slow_write_bytes  # type: ignore[attr-defined]
    cavorite_localstore._copy_fd = slow_copy_fd
    LocalStore.get = slow_get  # type: ignore[method-assign]
    sys.argv[0] = str(Path(sys.argv[0]).with_name("cavorite"))
    main(sys.argv[1:])
