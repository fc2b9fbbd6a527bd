"""The fsspec store: objects as files on any filesystem fsspec knows (``store_type: fsspec``).

``backend_address`` is an fsspec URL: ``memory://team/objects``, ``file:///srv/objects``, or any
protocol whose package is installed (``sftp://``, ``smb://``...). Extra keyword arguments for the
filesystem can be given as the ``fsspec_options`` object in the options of ``.cavorite/config``;
credentials are better left to each filesystem's own environment variables or config files.

A committed configuration decides where bytes go, so the user approves any address that is not
plain (see :mod:`cavorite_py.places`): a chain such as ``filecache::s3://b``, any
``fsspec_options``, or a protocol other than ``memory``, a local path and the cloud buckets
(``s3``, ``gs``, ``az``...). A plain local path outside the repository needs approval too.

A put writes a temporary file next to the target and moves it into place, so a failed upload
never leaves a partial object under the key. Without ``overwrite`` the move must not replace an
object: on local disks it is a hard link, atomic even against other processes; elsewhere it is
"check, then move" under a lock of this store, atomic within one process only. The sha256 is not
recorded (fsspec has no portable metadata), so :meth:`stat` reports it as unknown.

Every exception a filesystem raises is translated at this boundary: fsspec filesystems raise
``OSError`` subclasses by convention, but their backends' own errors (paramiko's
``SSHException``, botocore's, ...) get through as well. They become ``StoreError`` values naming
only the exception's type, since backend messages may quote URLs with credentials.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import fsspec
from fsspec.implementations.local import LocalFileSystem

from .. import places
from ..errors import AccessDenied, CavoriteError, ConfigError, StoreError, StoreUnavailable
from ..fsutil import TMP_MARK
from . import _errors
from ._addresses import check_key, redact
from .base import ObjectInfo, Progress, Store, StoreSettings, check_version, expect_size

__all__ = ["FsspecStore"]

_CHUNK = 1 << 20
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
_LOCAL_PROTOCOLS = ("file", "local", "memory")
_BUCKET_PROTOCOLS = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class FsspecStore(Store):
    """Objects as files under one fsspec URL."""

    default_jobs: ClassVar[int] = 8

    def __init__(self, settings: StoreSettings) -> None:
        super().__init__(settings)
        if not settings.address:
            raise ConfigError(
                "fsspec store needs backend_address: an fsspec URL such as memory://x"
            )
        extra = settings.options.get("fsspec_options") or {}
        if not isinstance(extra, dict):
            raise ConfigError("option 'fsspec_options' must be a JSON object")
        plain = _plain(settings.address, extra)
        if not plain:
            self._require_consent(extra)
        try:
            fs, root = fsspec.core.url_to_fs(settings.address, **extra)
        except (ValueError, ImportError, TypeError) as exc:
            raise ConfigError(
                f"fsspec cannot open {self.describe()!r} ({type(exc).__name__}); check the "
                "protocol name and install its package"
            ) from exc
        except Exception as exc:  # a filesystem that connects on creation (sftp...)
            raise StoreUnavailable(
                f"fsspec cannot open {self.describe()} ({_reason(exc)}); check "
                "backend_address, fsspec_options and the network"
            ) from exc
        self.fs: Any = fs
        self.root: str = root.rstrip("/")
        self._local = isinstance(fs, LocalFileSystem)
        if self._local and plain:
            places.require_directory(Path(self.root), settings.root)
        self._lock = threading.Lock()

    def _require_consent(self, options: dict[str, Any]) -> None:
        """Refuse an address that is not plain (see :func:`_plain`) unless the user approved
        exactly it, with exactly these options; before fsspec creates any filesystem."""
        address = self.settings.address
        entry = places.fsspec_entry(address, options)
        secret = redact(address) != address
        shown = "'fsspec:<backend_address as in .cavorite/config>...'" if secret else None
        with_options = " with its fsspec_options" if options else ""
        what = f"the fsspec address {self.describe()!r}{with_options}"
        places.require(entry, what, shown)

    def describe(self) -> str:
        return redact(self.settings.address)

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    @contextmanager
    def _boundary(self, doing: str, missing: str | None = None) -> Iterator[None]:
        """Translate whatever the filesystem raises while ``doing`` (e.g. ``"read 'a.bin'"``)
        into a ``StoreError``; with ``missing``, "no such file" means that key is not found.
        Our own errors pass unchanged. Only filesystem calls go in here: a local file's errors
        are the engine's to report."""
        try:
            yield
        except CavoriteError:
            raise
        except _MISSING as exc:
            if missing is not None:
                raise _errors.not_found(missing, self.describe()) from exc
            raise StoreError(f"cannot {doing} in {self.describe()}: {_reason(exc)}") from exc
        except PermissionError as exc:
            raise AccessDenied(f"cannot {doing} in {self.describe()}: permission denied") from exc
        except OSError as exc:
            raise StoreError(f"cannot {doing} in {self.describe()}: {_reason(exc)}") from exc
        except Exception as exc:
            raise StoreError(
                f"cannot {doing} in {self.describe()}: the filesystem failed ({_reason(exc)})"
            ) from exc

    def put(
        self,
        key: str,
        path: Path,
        info: ObjectInfo,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> None:
        target = self._path(key)
        tmp = f"{target.rsplit('/', 1)[0]}/{TMP_MARK}{uuid.uuid4().hex}"
        doing = f"write {key!r}"
        try:
            with open(path, "rb") as src:
                with self._boundary(doing):
                    if self._local:
                        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
                    dst = self.fs.open(tmp, "wb")
                try:
                    while chunk := src.read(_CHUNK):
                        with self._boundary(doing):
                            dst.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
                except BaseException:
                    _close_quietly(dst)
                    raise
                with self._boundary(doing):
                    dst.close()  # a remote filesystem sends the last part here
                    self._commit(tmp, target, key, overwrite)
        finally:
            self._discard(tmp)

    def copy(self, source: str, key: str, info: ObjectInfo) -> None:
        """The filesystem's own copy (``fs.copy``) to a temporary name, moved into place as a
        put's is: never over an existing object."""
        target = self._path(key)
        tmp = f"{target.rsplit('/', 1)[0]}/{TMP_MARK}{uuid.uuid4().hex}"
        try:
            with self._boundary(f"copy {source!r}", missing=source):
                if not self.fs.isfile(self._path(source)):
                    raise FileNotFoundError(source)
                if self._local:
                    self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
                self.fs.copy(self._path(source), tmp)
            with self._boundary(f"write {key!r}"):
                self._commit(tmp, target, key, overwrite=False)
        finally:
            self._discard(tmp)

    def _commit(self, tmp: str, target: str, key: str, overwrite: bool) -> None:
        if self._local and not overwrite:
            try:
                os.link(tmp, target)  # fails if the target exists, atomically
            except FileExistsError as exc:
                raise _errors.exists(key, self.describe()) from exc
            return
        with self._lock:
            if not overwrite and self.fs.exists(target):
                raise _errors.exists(key, self.describe())
            self.fs.mv(tmp, target)

    def _discard(self, tmp: str) -> None:
        try:
            if self.fs.exists(tmp):
                self.fs.rm_file(tmp)
        except Exception:
            pass  # a stray temporary file is listed by nobody and harmless

    def get(self, key: str, fileobj: BinaryIO) -> None:
        path = self._path(key)
        doing = f"read {key!r}"
        with self._boundary(doing, missing=key):
            src = self.fs.open(path, "rb")
        try:
            # a buffered fsspec file knows the size from its listing; a local one does not
            size = getattr(src, "size", None)
            if isinstance(size, int):
                expect_size(fileobj, size)
            while True:
                with self._boundary(doing, missing=key):
                    chunk = src.read(_CHUNK)
                if not chunk:
                    break
                fileobj.write(chunk)
        finally:
            _close_quietly(src)

    def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        with self._boundary(f"look up {key!r}"):
            try:
                details = self.fs.info(path)
            except (FileNotFoundError, NotADirectoryError):
                return None
        if details.get("type") != "file":
            return None
        return ObjectInfo(size=int(details.get("size") or 0))

    def list(self, prefix: str = "") -> Iterator[str]:
        return (key for key, _ in self.list_info(prefix))

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo | None]]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = f"{self.root}/{base}" if base else self.root
        with self._boundary(f"list {prefix!r}" if prefix else "list the objects"):
            try:
                found: dict[str, Any] = self.fs.find(top, detail=True)
            except (FileNotFoundError, NotADirectoryError):
                return
        for name, details in found.items():
            key = str(name).removeprefix(self.root + "/")
            if key.startswith(prefix) and TMP_MARK not in key.rsplit("/", 1)[-1]:
                size = int(details.get("size") or 0)
                yield key, ObjectInfo(size, modified=_modified(details))

    def delete(self, key: str, version: str | None = None) -> None:
        # this store reports no versions: a version asked for is never the one it shows
        if version is not None:
            check_version(self, key, version)
        path = self._path(key)
        with self._boundary(f"delete {key!r}", missing=key):
            if not self.fs.isfile(path):
                raise FileNotFoundError(path)
            self.fs.rm_file(path)


_MODIFIED_FIELDS = ("LastModified", "last_modified", "updated", "mtime", "modified", "created")


def _modified(details: dict[str, Any]) -> datetime | None:
    """When the object was last written, from whichever field this file system's ``info``
    names it (s3fs, adlfs, gcsfs, local and memory file systems differ); None if none does."""
    for name in _MODIFIED_FIELDS:
        value = details.get(name)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                parsed = datetime.fromisoformat(value)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _plain(address: str, options: dict[str, Any]) -> bool:
    """Whether ``address`` may be opened without the user's consent: no options, a single
    protocol, and that protocol memory, a local path (then the directory rule applies) or a
    cloud bucket at its provider's own endpoint."""
    if options or "::" in address:
        return False
    protocol, rest = fsspec.core.split_protocol(address)
    if protocol in (None, *_LOCAL_PROTOCOLS):
        return True
    bucket = rest.partition("/")[0]
    return protocol in _BUCKET_PROTOCOLS and _BUCKET.match(bucket) is not None


def _reason(exc: BaseException) -> str:
    """What went wrong, without the exception's message (a backend's may quote a signed URL)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    kind = type(exc)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def _close_quietly(file: Any) -> None:
    """Close ``file`` while another error is on its way: that one is the error to report."""
    with contextlib.suppress(Exception):
        file.close()
