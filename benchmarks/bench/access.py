"""Which files a command opened and read, seen by the kernel (inotify), without tracing the command.

``with AccessWatch(repo / "data", ".cfile") as watch: ...`` watches every directory under the
workload's data directory; afterwards ``watch.counts`` tells how many distinct artifacts and
metadata files were opened (``IN_OPEN``) and read from (``IN_ACCESS``, one event per read
call that returned data). A no-op run that trusts its hash cache opens no artifact at all.

Linux only (inotify through ctypes); on other systems ``available`` is False and nothing is
counted.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

IN_ACCESS = 0x00000001
IN_OPEN = 0x00000020
IN_Q_OVERFLOW = 0x00004000
IN_ISDIR = 0x40000000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")
TMP_MARK = ".cavorite-tmp-"
"""in every temporary file's name (``cavorite_py.fsutil.TMP_MARK``; not imported, so that the
benchmark does not load the package it measures)"""


@dataclass
class AccessCounts:
    artifacts_opened: set[str] = field(default_factory=set)
    artifacts_read: set[str] = field(default_factory=set)
    metadata_opened: set[str] = field(default_factory=set)
    overflowed: bool = False


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "inotify_init1") else None


class AccessWatch:
    def __init__(self, top: Path, metadata_suffix: str) -> None:
        self.top = top
        self.suffix = metadata_suffix
        self.counts = AccessCounts()
        self._libc = _libc()
        self.available = self._libc is not None
        self._fd = -1
        self._dirs: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._buffer = b""

    def __enter__(self) -> AccessWatch:
        if self._libc is None:
            return self
        fd = self._libc.inotify_init1(IN_CLOEXEC)
        if fd < 0:
            self.available = False
            return self
        self._fd = fd
        for dirpath, _, _ in os.walk(self.top):
            wd = self._libc.inotify_add_watch(fd, os.fsencode(dirpath), IN_ACCESS | IN_OPEN)
            if wd >= 0:
                self._dirs[wd] = os.path.relpath(dirpath, self.top)
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd < 0:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._drain(0)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = -1

    def _pump(self) -> None:
        while not self._stop.is_set():
            self._drain(0.05)

    def _drain(self, timeout: float) -> None:
        while True:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return
            self._parse(os.read(self._fd, 1 << 16))
            timeout = 0

    def _parse(self, data: bytes) -> None:
        buf = self._buffer + data
        offset = 0
        while offset + _EVENT.size <= len(buf):
            wd, mask, _, length = _EVENT.unpack_from(buf, offset)
            end = offset + _EVENT.size + length
            if end > len(buf):
                break
            name = buf[offset + _EVENT.size : end].rstrip(b"\0").decode(errors="replace")
            offset = end
            if mask & IN_Q_OVERFLOW:
                self.counts.overflowed = True
                continue
            if mask & IN_ISDIR or not name or name == ".gitignore" or TMP_MARK in name:
                continue  # git's own file, read by git and by upload, and cavorite's temporary
                # files (a .gitignore being rewritten, a download): no artifact
            rel = f"{self._dirs.get(wd, '?')}/{name}"
            if name.endswith(self.suffix):
                if mask & IN_OPEN:
                    self.counts.metadata_opened.add(rel)
                continue
            if mask & IN_OPEN:
                self.counts.artifacts_opened.add(rel)
            if mask & IN_ACCESS:
                self.counts.artifacts_read.add(rel)
        self._buffer = buf[offset:]
