"""The machine-wide content cache: objects by sha256, shared by every repository of the user.

Layout under the cache directory (see docs/cache.md)::

    objects/ab/cdef...   one entry per content, named by its sha256, read-only (0444)
    tmp/                 entries being written (same file system: a link puts them in place)
    pins/<pid>-<rand>    sha256s a running process uses; held under a shared flock while alive
    pending/<store>/...  objects kept for a store they have not reached yet (never evicted)
    lock                 flock: exclusive while evicting, shared while a pin is written

Never trusted: :meth:`Cache.place` hashes every byte it hands out and removes an entry whose
content or size is wrong. Safe for concurrent processes: entries appear whole (written aside,
then hard-linked into their name, never overwritten), a reader that opened an entry keeps
reading it if it is evicted (POSIX unlink), and eviction skips what a live process pinned.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from io import FileIO
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from . import cacheevict
from .cachepending import PendingEntries
from .cachesettings import CacheSettings, load_settings
from .fsutil import temp_path_for
from .hashing import CHUNK, HashingWriter, hash_file
from .stores.base import Progress

log = logging.getLogger(__name__)

FICLONE = 0x40049409
"""Linux ioctl: make the destination file share the source's extents (btrfs, xfs, bcachefs)."""
NO_CLONES = frozenset(
    {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.ENOSYS, getattr(errno, "ENOTSUP", 95)}
)
"""what a reflink fails with where the file systems cannot clone at all (not one file alone)"""
_SHA256 = re.compile(r"[0-9a-f]{64}")
T = TypeVar("T")


class Cache:
    """One cache directory. Thread-safe; one instance per process (pins are not fork-safe).

    ``stats`` counts what happened: ``hit``, ``miss``, ``corrupt``, ``reflink``, ``copy``,
    ``hardlink``, ``added``."""

    def __init__(self, settings: CacheSettings | None = None) -> None:
        self.settings = settings or load_settings()
        self.root = self.settings.dir
        self._objects = str(self.root / "objects")
        self.stats: Counter[str] = Counter()
        self.pending = PendingEntries(self.root / "pending", self.path_of)
        self._pinned: set[str] = set()
        self._pin_file: Path | None = None
        self._pin_fd: int | None = None
        self._pin_lock = threading.Lock()
        self._no_reflink: set[int] = set()
        """devices whose files were found unable to be reflinked into the cache"""
        self._no_clone_into: set[str] = set()
        """directories entries were found unable to be reflinked into"""

    def __enter__(self) -> Cache:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Drop this process's pins (its entries may be evicted from now on)."""
        with self._pin_lock:
            if self._pin_fd is not None and self._pin_file is not None:
                self._pin_file.unlink(missing_ok=True)
                os.close(self._pin_fd)
            self._pin_fd, self._pin_file = None, None
            self._pinned.clear()

    def path_of(self, sha256: str) -> Path:
        """Where the entry for ``sha256`` lives (whether or not it is there)."""
        return Path(self._entry(sha256))

    def _entry(self, sha256: str) -> str:
        """:meth:`path_of` as a string (a Path costs more to build than the work it names)."""
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a lowercase hex sha256: {sha256!r}")
        return f"{self._objects}{os.sep}{sha256[:2]}{os.sep}{sha256[2:]}"

    def has(self, sha256: str) -> bool:
        """Whether an entry for ``sha256`` is present (its content is checked only on use)."""
        return os.path.isfile(self._entry(sha256))

    def pin(self, sha256s: Iterable[str]) -> None:
        """Keep these entries from eviction by any process until :meth:`close` (or this process
        ends). :meth:`place` and :meth:`add` pin what they touch; a run pins what it will need."""
        with self._pin_lock:
            new = sorted({s for s in sha256s if s not in self._pinned})
            if not new:
                return
            for sha256 in new:
                self._entry(sha256)
            with self._lock(fcntl.LOCK_SH):
                os.write(self._pin_descriptor(), "".join(f"{s}\n" for s in new).encode())
            self._pinned.update(new)

    def place(
        self,
        sha256: str,
        size: int | None,
        target: Path,
        *,
        hardlink: bool | None = None,
        progress: Progress | None = None,
    ) -> bool:
        """Write the cached content of ``sha256`` to ``target`` (a temporary path the caller owns
        and later renames) and return True, or return False with ``target`` removed: not cached,
        or the entry's sha256 or size is not ``sha256``/``size`` (the entry is then removed;
        ``size`` None: any, as for a cfile that records none).

        Placed by reflink where the file system can, else by a copy hashed as it is written;
        by hard link (``target`` shares the read-only entry) when ``hardlink``, default the
        ``hardlink`` setting. Every placed byte is hashed once."""
        self.pin([sha256])
        entry = self._entry(sha256)
        try:
            source = open(entry, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            self.stats["miss"] += 1
            return False
        with source:
            link = self.settings.hardlink if hardlink is None else hardlink
            try:
                method, digest, got = self._write(entry, source, target, link, progress)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            if digest != sha256 or got != (got if size is None else size):
                self._discard(entry, source, target, f"sha256 {digest[:12]}..., {got} bytes")
                return False
        self._touch(entry)
        self.stats["hit"] += 1
        self.stats[method] += 1
        return True

    def add(self, sha256: str, path: Path, *, always: bool = True, dev: int | None = None) -> bool:
        """Keep the content of the file at ``path`` (whose sha256 is ``sha256``) in the cache;
        return whether the cache now holds it. A reflink costs no second copy; otherwise the
        file is copied (and hashed on the way: a file that changed is not added) only when
        ``always``. An entry already present is only marked as used. ``dev``: the device of
        ``path``'s file system, if the caller knows it (spares a ``stat``)."""
        entry_name = self._entry(sha256)
        if not always and self._reflink_fails(path, dev) and not os.path.exists(entry_name):
            # neither present nor free to add: nothing to pin, nothing to open or write
            return False
        self.pin([sha256])
        entry = Path(entry_name)
        if self._touch(entry):
            return True
        tmp = self._temp(sha256)
        try:
            if not self._fill(tmp, sha256, path, always):
                return False
            os.chmod(tmp, 0o444)
            entry.parent.mkdir(parents=True, exist_ok=True)
            # a link never replaces an entry: whoever came first wins, readers see it whole
            with suppress(FileExistsError):
                os.link(tmp, entry)
        finally:
            tmp.unlink(missing_ok=True)
        self.stats["added"] += 1
        return True

    def incoming(self, sha256: str, beside: Path) -> Incoming | None:
        """A new entry for ``sha256``, to be written as its content arrives (a download into the
        empty file at ``beside``, hashed by its receiver); :meth:`Incoming.keep` once verified.
        None when no copy is needed: the entry is present (now marked as used), or ``beside``'s
        file system can clone into the cache, so that :meth:`add` costs nothing once the file
        is complete."""
        entry = self.path_of(sha256)
        self.pin([sha256])
        if self._touch(entry):
            return None
        tmp = self._temp(sha256)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            if not self._reflink_fails(beside) and self._clones(beside, fd):
                os.close(fd)
                tmp.unlink()
                return None
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return Incoming(self, entry, tmp, fd)

    def _clones(self, path: Path, fd: int) -> bool:
        """Whether the file at ``path`` can be cloned into ``fd`` (both empty: nothing copied);
        a file system that cannot is remembered, as :meth:`_fill` does. A file that cannot be
        opened to try is taken for one that cannot be cloned (the cache is not at fault)."""
        try:
            src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            failed = clone_error(src, fd)
            if failed in NO_CLONES:
                self._no_reflink.add(os.fstat(src).st_dev)
        finally:
            os.close(src)
        return failed is None

    def usage(self) -> cacheevict.Usage:
        """Size and count of the entries, pending ones, and the limits."""
        return cacheevict.usage(self.root, self.settings, self.pending)

    def enforce(self, *, dry_run: bool = False, wait: bool = False) -> cacheevict.CleanReport:
        """Remove least recently used entries until both limits hold, skipping entries that are
        pending or pinned by another live process (this instance's own pins do not count: call
        it when the run is done). Returns at once, having done nothing, when another process is
        evicting, unless ``wait``."""
        return self._evict(everything=False, dry_run=dry_run, wait=wait)

    def clear(self, *, dry_run: bool = False) -> cacheevict.CleanReport:
        """Remove every entry that is neither pending nor pinned by another live process."""
        return self._evict(everything=True, dry_run=dry_run, wait=True)

    def _evict(self, *, everything: bool, dry_run: bool, wait: bool) -> cacheevict.CleanReport:
        mode = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            with self._lock(mode):
                return cacheevict.evict(
                    self.root,
                    self.settings,
                    self.pending,
                    own_pins=self._pin_file,
                    everything=everything,
                    dry_run=dry_run,
                )
        except BlockingIOError:
            return cacheevict.CleanReport(dry_run=dry_run, busy=True)

    def _write(
        self,
        entry: str,
        source: FileIO,
        target: Path,
        hardlink: bool,
        progress: Progress | None,
    ) -> tuple[str, str, int]:
        """Put ``entry``, open as ``source``, at ``target``; return (method, sha256, size)."""
        if hardlink and _fresh(lambda: _hard_link(entry, target), target):
            return ("hardlink", *hash_file(target))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        fd = _fresh(lambda: os.open(target, flags, 0o666), target)
        with open(fd, "wb", buffering=0) as dst:
            if self._reflink(source, dst, os.path.dirname(target)):
                return ("reflink", *hash_file(target))
            size = os.fstat(source.fileno()).st_size
            return ("copy", *copy_hashing(source, dst, progress, size))

    def _reflink(self, source: FileIO, dst: FileIO, directory: str) -> bool:
        """:func:`reflink`, not tried again into a directory whose file system refused one
        (it does not gain reflinks while a run goes)."""
        if directory in self._no_clone_into:
            return False
        failed = clone_error(source.fileno(), dst.fileno())
        if failed in NO_CLONES:
            self._no_clone_into.add(directory)
        return failed is None

    def _fill(self, tmp: Path, sha256: str, path: Path, always: bool) -> bool:
        """Write ``path``'s content to the new file ``tmp``: by reflink, else (when ``always``)
        by a hashed copy; False when not written or the copy's hash is not ``sha256``."""
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with open(fd, "wb", buffering=0) as dst, open(path, "rb", buffering=0) as src:
            failed = clone_error(src.fileno(), fd)
            if failed is None:
                return True
            if failed in NO_CLONES:
                self._no_reflink.add(os.fstat(src.fileno()).st_dev)
            if not always:
                return False
            digest, _ = copy_hashing(src, dst, None)
        if digest != sha256:
            log.warning("%s changed while it was added to the cache; not added", path)
        return digest == sha256

    def _reflink_fails(self, path: Path, dev: int | None = None) -> bool:
        """Whether a file on ``path``'s file system (device ``dev``, if known) was found unable
        to be reflinked into the cache (by this instance: a file system does not gain reflinks
        while a run goes)."""
        if not self._no_reflink:
            return False
        if dev is None:
            try:
                dev = os.stat(path).st_dev
            except OSError:
                return False
        return dev in self._no_reflink

    def _discard(self, entry: str, source: FileIO, target: Path, found: str) -> None:
        """Remove a corrupted ``entry`` (only if its name still holds the file we read)."""
        target.unlink(missing_ok=True)
        self.stats["corrupt"] += 1
        log.warning("removed corrupted cache entry %s (%s)", entry, found)
        with suppress(FileNotFoundError):
            if os.stat(entry).st_ino == os.fstat(source.fileno()).st_ino:
                os.unlink(entry)

    def _touch(self, entry: Path | str) -> bool:
        """Mark ``entry`` as just used (its mtime orders eviction); False if it is absent."""
        try:
            os.utime(entry)
        except FileNotFoundError:
            return False
        return True

    def _temp(self, sha256: str) -> Path:
        tmp_dir = self.root / "tmp"
        if not tmp_dir.is_dir():
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp_dir.mkdir(exist_ok=True)
        return temp_path_for(tmp_dir / sha256)

    def _pin_descriptor(self) -> int:
        """This instance's pin file, created (and share-locked for its life) on first use."""
        if self._pin_fd is None:
            pins = self.root / "pins"
            pins.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = pins / f"{os.getpid()}-{os.urandom(4).hex()}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
            fd = os.open(path, flags, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
            self._pin_fd, self._pin_file = fd, path
        return self._pin_fd

    @contextmanager
    def _lock(self, mode: int) -> Iterator[None]:
        """Hold the cache-wide lock file in ``mode`` (shared: pin; exclusive: evict)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)


class Incoming:
    """A new entry being written, under a temporary name of the cache, from the buffers of a
    download as they arrive (see :meth:`Cache.incoming`). Its receiver hashes the bytes:
    :meth:`keep` gives the entry its sha256 name once they are verified; anything else
    (:meth:`drop`, or leaving a ``with`` block) removes it. Never a partial or unverified
    entry under a sha256 name."""

    def __init__(self, cache: Cache, entry: Path, tmp: Path, fd: int) -> None:
        self._cache, self._entry, self._tmp = cache, entry, tmp
        self._fd: int | None = fd
        self.size = 0

    def __enter__(self) -> Incoming:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def write(self, data: memoryview) -> None:
        """Append all of ``data``; an ``OSError`` (a full disk) leaves the entry to be dropped."""
        assert self._fd is not None, "written after keep or drop"
        rest = data
        while rest:
            rest = rest[os.write(self._fd, rest) :]
        self.size += len(data)

    def keep(self, size: int) -> bool:
        """Put the entry in place, read-only, if it holds the ``size`` bytes verified; whoever
        came first wins (a link never replaces an entry). Returns whether the cache holds it."""
        if self._fd is None:
            return False
        try:
            self._close()
            if self.size != size:
                return False
            os.chmod(self._tmp, 0o444)
            self._entry.parent.mkdir(parents=True, exist_ok=True)
            with suppress(FileExistsError):
                os.link(self._tmp, self._entry)
        finally:
            self._tmp.unlink(missing_ok=True)
        self._cache.stats["added"] += 1
        return True

    def drop(self) -> None:
        """Remove the entry unless kept (nothing of it stays)."""
        if self._fd is not None:
            self._close()
            self._tmp.unlink(missing_ok=True)

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def reflink(src_fd: int, dst_fd: int) -> bool:
    """Make ``dst_fd``'s file a copy-on-write clone of ``src_fd``'s; False where the file
    system (or platform) cannot, or the two are on different file systems."""
    return clone_error(src_fd, dst_fd) is None


def clone_error(src_fd: int, dst_fd: int) -> int | None:
    """:func:`reflink`, returning None once done, else the errno it failed with."""
    try:
        fcntl.ioctl(dst_fd, FICLONE, src_fd)
    except OSError as exc:
        return exc.errno or errno.EOPNOTSUPP
    return None


def _fresh(create: Callable[[], T], target: Path) -> T:
    """``create()`` of the new file ``target``; a file left there (the caller owns the name) is
    removed first only when found in the way, which spares a removal per file."""
    try:
        return create()
    except FileExistsError:
        target.unlink(missing_ok=True)
        return create()


def _hard_link(entry: Path | str, target: Path) -> bool:
    try:
        os.link(entry, target)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            return False
        raise
    return True


def copy_hashing(
    source: FileIO, dst: FileIO, progress: Progress | None, size: int | None = None
) -> tuple[str, int]:
    """Copy ``source`` to ``dst`` from where each stands; return the sha256 and size written.
    ``size``: what is left of ``source`` when known, for a buffer no larger than it needs
    (zeroing 1 MiB costs more than copying a small file) and no second read for its end."""
    writer = HashingWriter(dst, progress)
    buf = bytearray(CHUNK if size is None else max(1, min(CHUNK, size + 1)))
    view = memoryview(buf)
    while n := source.readinto(buf):
        chunk = view[:n]
        while chunk:
            chunk = chunk[writer.write(chunk) :]
        if n == size and n < len(buf):
            # the whole of it in one read: it ended there
            break
    return writer.hexdigest(), writer.size
