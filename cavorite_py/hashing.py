"""Streaming sha256: large buffers, one pass, never a whole file in memory."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from .errors import IntegrityError
from .parallel import cores
from .stores.base import Progress

CHUNK = 1 << 20
OVERLAP_MIN = 256 << 10
"""pieces at least this large are hashed while they are written (when a core is spare, see
:class:`HashingWriter`); for smaller ones handing the work to another thread costs more than it
saves"""


def hash_file(path: Path) -> tuple[str, int]:
    """Return ``(sha256 hex, size)`` of the file at ``path``, read once in large chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        expected = os.fstat(f.fileno()).st_size
        # a buffer no larger than the file needs: zeroing 1 MiB per small file costs more
        # than hashing it
        buf = bytearray(max(1, min(CHUNK, expected + 1)))
        view = memoryview(buf)
        while n := f.readinto(buf):
            digest.update(view[:n])
            size += n
            if n == expected < len(buf):  # the whole file in one read: no second read for EOF
                break
    return digest.hexdigest(), size


class Sink(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


class HashingWriter(io.RawIOBase):
    """A non-seekable binary sink that hashes and counts what passes through to ``target``.

    With a ``limit`` (the size its cfile records) it takes no more than that: a piece that
    would go past it raises :class:`IntegrityError` before any of it is written, and so does
    :meth:`expect` with a larger size. ``label`` names the download in those messages (a
    callable: worked out only for a message).
    """

    def __init__(
        self,
        target: Sink,
        progress: Progress | None = None,
        limit: int | None = None,
        label: str | Callable[[], str] = "download",
    ) -> None:
        super().__init__()
        self._target = target
        self._digest = hashlib.sha256()
        self._progress = progress
        self._limit = limit
        self._label = label
        self.size = 0

    def expect(self, size: int) -> None:
        """Called by a store that learns the object's size before its first byte (see
        :func:`cavorite_py.stores.base.expect_size`): a size above the limit is refused before
        anything is written. A smaller one is let through: the check of the whole download
        then reports both sha256s."""
        if self._limit is not None and size > self._limit:
            raise IntegrityError(
                f"{self._shown()}: the store holds {size} bytes where its cfile records "
                f"{self._limit}; nothing was downloaded (the object was replaced, or the cfile "
                "is wrong)"
            )

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Pass ``data`` on; hash and count only the bytes the target accepted.

        A large piece is hashed on another thread while it is being written (both release the
        GIL), into a copy of the digest that is kept only if the target took every byte; but
        only while fewer writers take large pieces than there are cores. Beyond that every core
        is busy already (two downloads on two cores), and the hand-over to another thread only
        makes each piece wait for that thread's turn."""
        view = memoryview(data).cast("B")  # counts bytes, whatever the item size of ``data``
        if self._limit is not None and self.size + len(view) > self._limit:
            raise IntegrityError(
                f"{self._shown()}: the store sent more than the {self._limit} bytes its cfile "
                "records; the download was stopped and deleted"
            )
        ahead = None
        if len(view) >= OVERLAP_MIN and _core_to_spare(self):
            ahead = self._digest.copy()
            hashed = _hashing_pool().submit(ahead.update, view)
        try:
            n = self._target.write(data)
        finally:
            if ahead is not None:
                hashed.result()  # the caller may reuse ``data`` once this returns
        written = len(view) if n is None else n
        if ahead is not None and written == len(view):
            self._digest = ahead
        else:
            self._digest.update(view[:written])
        self.size += written
        if self._progress is not None:
            self._progress(written)
        return written

    def _shown(self) -> str:
        return self._label if isinstance(self._label, str) else self._label()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    @property
    def name(self) -> object:
        """The target's ``name`` (the path of the file being written), so that a store can keep
        its own temporary data on the same file system; None when the target has none."""
        return getattr(self._target, "name", None)

    def hexdigest(self) -> str:
        _large_writers.discard(self)  # its pieces have all arrived
        return self._digest.hexdigest()


_large_writers: weakref.WeakSet[HashingWriter] = weakref.WeakSet()
"""The writers taking large pieces now: each joins with its first, and leaves when its digest is
read or when it is dropped (a download that failed)."""


def _core_to_spare(writer: HashingWriter) -> bool:
    """Whether ``writer`` may hash its next large piece on another thread: while fewer writers
    take large pieces than there are cores, one is idle."""
    _large_writers.add(writer)
    return len(_large_writers) < cores()


@functools.cache
def _hashing_pool() -> ThreadPoolExecutor:
    """Threads that hash pieces of downloads while they are written, shared by every writer."""
    return ThreadPoolExecutor(max_workers=cores(), thread_name_prefix="cavorite-hash")
