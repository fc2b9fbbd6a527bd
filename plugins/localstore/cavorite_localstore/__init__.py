"""The local store: objects kept as plain files in a directory on disk.

It is cavorite-py's embedded default, and the example to copy when writing a store plugin:
one class, the six methods of the Store contract, errors translated at the boundary, and one
entry point in ``pyproject.toml``::

    [project.entry-points."cavorite_py.stores"]
    localstore = "cavorite_localstore:LocalStore"

The object ``team/a.bin`` lives at ``<directory>/team/a.bin``. Its sha256 is kept in the
extended attribute ``user.cavorite.sha256`` where the file system supports it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import unquote, urlparse

from cavorite_py import places
from cavorite_py.errors import (
    AccessDenied,
    ConfigError,
    ObjectChanged,
    ObjectExists,
    ObjectNotFound,
    StoreError,
)
from cavorite_py.fsutil import TMP_MARK
from cavorite_py.stores.base import (
    ObjectInfo,
    Progress,
    Store,
    StoreSettings,
    check_key,
    expect_size,
    redact,
)

__all__ = ["LocalStore", "directory_from_address"]

_XATTR = "user.cavorite.sha256"
_CHUNK = 1 << 20
_SENDFILE_MAX = 1 << 30
_NO_SENDFILE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV})
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
"""how objects are opened: see :meth:`LocalStore._open`"""
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK})
"""what opening a symbolic link with ``O_NOFOLLOW`` fails with (EMLINK on FreeBSD)"""
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def directory_from_address(address: str, root: Path) -> Path:
    """``file:///abs/dir``, an absolute path, or a path relative to the repository root."""
    if address.startswith("file:"):
        parsed = urlparse(address)
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"local store address {address!r} names a host; use file:///abs/dir")
        return Path(unquote(parsed.path))
    if "://" in address:
        raise ConfigError(
            f"local store address {address!r} is not a directory; use file:///abs/dir or a path"
        )
    if not address:
        raise ConfigError("local store needs a directory: set backend_address in .cavorite/config")
    return (root / Path(address).expanduser()).absolute()


class LocalStore(Store):
    """Objects as files under one directory."""

    default_jobs: ClassVar[int] = 2
    """two files at a time: creating a file (the object's temporary name, the cfile's) waits
    on the file system's journal, and a second thread's work fills that wait (2,000 x 32 KiB
    on ext4 with 2 cores, paired medians of 7: upload 1.98 s with 2 jobs against 3.13 s with
    1, retrieve 1.84 s against 2.27 s, faster in every pair); more threads only add GIL
    hand-offs (a retrieve from the content cache, which waits on nothing, is faster with 1)"""
    objects_on_this_machine: ClassVar[bool] = True
    """a download costs what a content-cache hit costs: the cache keeps it only if a reflink
    makes that free (a copy would double the writes and the disk used, and save nothing)"""

    def __init__(self, settings: StoreSettings) -> None:
        super().__init__(settings)
        self.directory = directory_from_address(settings.address, settings.root)
        # a directory outside the repository and cavorite's data directory is the user's to
        # approve: a repository must not read from or write to any place it likes
        places.require_directory(self.directory, settings.root)
        self._root = str(self.directory)
        self._made: set[str] = set()  # directories known to exist

    def describe(self) -> str:
        # an absolute path: redact() leaves it as it is, and keeps a store that shows an
        # address safe (a URL loses any user:password@, query and fragment)
        return redact(str(self.directory))

    def _path(self, key: str) -> Path:
        return Path(self._place(key))

    def _place(self, key: str) -> str:
        """The object's path, as a string (one string built: a path joined part by part costs
        several times as much, per object)."""
        # the engine checked the key already; a store that maps keys to paths checks again,
        # with the same rule (a StoreError here), which also leaves no way out of the directory
        rel = check_key(key)
        return f"{self._root}{os.sep}{rel if os.sep == '/' else rel.replace('/', os.sep)}"

    def put(
        self,
        key: str,
        path: Path,
        info: ObjectInfo,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> ObjectInfo | None:
        target = self._place(key)
        # no look first: the engine puts only keys it found absent, and a key stored since is
        # caught by the link below, which never replaces anything
        tmp = os.path.join(os.path.dirname(target), f"{TMP_MARK}{os.urandom(16).hex()}")
        placed = False
        try:
            self._make_parent(target)
            written = _copy_new(path, tmp, info.sha256)
            if overwrite:
                os.replace(tmp, target)
                placed = True
            else:
                _link_new(tmp, target, key, self.directory)
        except PermissionError as exc:
            raise AccessDenied(f"cannot write {target}: permission denied") from exc
        except OSError as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from exc
        finally:
            if not placed:  # a link leaves the temporary name behind; a rename does not
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        if progress is not None:
            progress(info.size)
        # the file written, now under the key: a link or a rename keeps its inode and mtime
        return _info(written, info.sha256)

    def copy(self, source: str, key: str, info: ObjectInfo) -> None:
        """A hard link of the object file: no byte copied, its sha256 attribute shared (an
        object is never written in place: an overwrite replaces the name, not the file)."""
        origin, target = self._path(source), self._path(key)
        try:
            with self._open(source, origin):
                # a regular file of its own, never a link to follow
                pass
            self._make_parent(target)
            _link_new(origin, target, key, self.directory)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"object {source!r} is not in {self.directory}") from exc
        except OSError as exc:
            # no hard links here (another file system, too many links): the engine uploads
            raise NotImplementedError(f"cannot link {target}: {exc.strerror or exc}") from exc

    def _make_parent(self, target: Path | str) -> None:
        """Create the object's directory, once per directory and run."""
        parent = os.path.dirname(target)
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)

    def get(self, key: str, fileobj: BinaryIO) -> None:
        source = self._path(key)
        try:
            fd, size = self._open_fd(key, source)
            try:
                expect_size(fileobj, size)
                if size <= _CHUNK:
                    # a small object: one read, one write (an object file is never written
                    # again once in place, so its size does not change while it is read)
                    fileobj.write(_read_small(fd, size))
                    return
                with io.FileIO(fd, "rb", closefd=False) as f:
                    # one buffer for the whole object, written out as it fills
                    buf = bytearray(_CHUNK)
                    view = memoryview(buf)
                    while n := f.readinto(buf):
                        fileobj.write(view[:n])
            finally:
                os.close(fd)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"object {key!r} is not in {self.directory}") from exc
        except PermissionError as exc:
            raise AccessDenied(f"cannot read {source}: permission denied") from exc

    def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            with self._open(key, path) as f:
                return _info(os.fstat(f.fileno()), _get_sha256(f.fileno()))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except PermissionError as exc:
            raise AccessDenied(f"cannot read {path}: permission denied") from exc

    def _open(self, key: str, path: Path) -> io.FileIO:
        """The object at ``path``, open for reading (see :meth:`_open_fd`)."""
        fd, _ = self._open_fd(key, path)
        # returned open: the caller closes it
        return io.FileIO(fd, "rb")

    def _open_fd(self, key: str, path: Path) -> tuple[int, int]:
        """The object at ``path``, open for reading, and its size, if it is a regular file of
        its own.

        Never through a symbolic link (which could lead anywhere, ``/dev/zero`` included) and
        never waiting (a FIFO opens at once, then is refused). A directory is no object
        (``IsADirectoryError``); anything else that is not a regular file is a ``StoreError``.
        """
        try:
            fd = os.open(path, _READ_FLAGS)
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                raise self._not_regular(key, "a symbolic link") from exc
            raise
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            return fd, st.st_size
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        raise self._not_regular(key, _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file"))

    def _not_regular(self, key: str, what: str) -> StoreError:
        return StoreError(
            f"object {key!r} in {self.directory} is {what}; a local store reads only regular "
            "files: remove it from the store directory"
        )

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo | None]]:
        for key, entry in self._entries(prefix):
            with contextlib.suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):
                    yield key, _info(st, None)

    def list(self, prefix: str = "") -> Iterator[str]:
        for key, _ in self._entries(prefix):
            yield key

    def _entries(self, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """The key of every file under the directory (but temporary ones) that starts with
        ``prefix``, with its directory entry: sorted by name in each directory, a directory's
        files before its subdirectories', as ``os.walk`` goes (links to directories not
        followed, a directory that cannot be listed skipped)."""
        # from the deepest directory the prefix names: a prefix of one directory of a large
        # store is not a walk of all of it
        start = self.directory.joinpath(*prefix.split("/")[:-1])
        if not start.is_relative_to(self.directory) or ".." in prefix.split("/"):
            start = self.directory
        rel = start.relative_to(self.directory).as_posix()
        yield from _walk(str(start), "" if rel == "." else rel + "/", prefix)

    def delete(self, key: str, version: str | None = None) -> None:
        path = self._path(key)
        try:
            if not path.is_file():
                raise FileNotFoundError(path)
            # no conditional unlink on a file system: compare, then unlink at once
            if version is not None and _version(os.lstat(path)) != version:
                raise ObjectChanged(f"object {key!r} in {self.directory} was written again")
            path.unlink()
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"object {key!r} is not in {self.directory}") from exc


def _walk(directory: str, base: str, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """:meth:`LocalStore._entries` of ``directory``, whose keys start with ``base``."""
    try:
        with os.scandir(directory) as found:
            entries = sorted(found, key=lambda e: e.name)
    except OSError:
        return
    subdirectories = []
    for entry in entries:
        if _is_dir(entry):
            subdirectories.append(entry)
            continue
        key = base + entry.name
        if TMP_MARK not in entry.name and key.startswith(prefix):
            yield key, entry
    for entry in subdirectories:
        if not entry.is_symlink():
            yield from _walk(entry.path, f"{base}{entry.name}/", prefix)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """As ``os.walk`` tells a directory: a link to one included."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _info(st: os.stat_result, sha256: str | None) -> ObjectInfo:
    modified = datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC)
    return ObjectInfo(st.st_size, sha256, _version(st), modified)


def _version(st: os.stat_result) -> str:
    """The object's inode and modification time: every write makes a new file (a rename or a
    link of a temporary one), so another write gives another version."""
    return f"{st.st_ino}-{st.st_mtime_ns}"


def _link_new(tmp: Path | str, target: Path | str, key: str, directory: Path) -> None:
    """Move ``tmp`` to ``target`` only if ``target`` does not exist, atomically."""
    try:
        os.link(tmp, target)
    except FileExistsError as exc:
        raise ObjectExists(f"object {key!r} already exists in {directory}") from exc


def _copy_new(source: Path, target: str, sha256: str | None) -> os.stat_result:
    """Copy ``source`` to the new file ``target`` (never over an existing one), labelled with
    its sha256 before anyone can see it under its final name; return the new file's stat."""
    fin = os.open(source, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        fout = os.open(target, flags | getattr(os, "O_BINARY", 0), 0o666)
        try:
            _copy_fd(fin, fout)
            if sha256 is not None:
                _set_sha256(fout, sha256)
            return os.fstat(fout)
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _copy_fd(fin: int, fout: int) -> None:
    """Copy the file open as ``fin`` to ``fout``: in the kernel where it can."""
    offset = 0
    try:
        while sent := os.sendfile(fout, fin, offset, _SENDFILE_MAX):
            offset += sent
        return
    except OSError as exc:  # a file system (or platform) without sendfile to files
        if offset or exc.errno not in _NO_SENDFILE:
            raise
    except AttributeError:  # no os.sendfile at all
        pass
    while chunk := os.read(fin, _CHUNK):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fout, view) :]


def _read_small(fd: int, size: int) -> bytes:
    """The ``size`` bytes of the file open as ``fd`` (fewer if it ends sooner)."""
    data = os.read(fd, size)
    while len(data) < size and (more := os.read(fd, size - len(data))):
        data += more
    return data


def _set_sha256(file: int | Path, sha256: str) -> None:
    # without extended attributes, stat() reports the sha256 as unknown
    with contextlib.suppress(AttributeError, OSError):
        os.setxattr(file, _XATTR, sha256.encode("ascii"))


def _get_sha256(file: int | Path) -> str | None:
    try:
        value = os.getxattr(file, _XATTR).decode("ascii")
    except (AttributeError, OSError, UnicodeDecodeError):
        return None
    return value if len(value) == 64 else None
