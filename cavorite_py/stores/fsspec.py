"""The fsspec store: objects as files on any filesystem fsspec knows (``store_type: fsspec``).

``backend_address`` is an fsspec URL: ``memory://team/objects``, ``file:///srv/objects``, or any
protocol whose package is installed (``sftp://``, ``smb://``...). Extra keyword arguments for the
filesystem can be given as the ``fsspec_options`` object in the options of ``.cavorite/config``;
credentials are better left to each filesystem's own environment variables or config files.

A put writes a temporary file next to the target and moves it into place, so a failed upload
never leaves a partial object under the key. Without ``overwrite`` the move must not replace an
object: on local disks it is a hard link, atomic even against other processes; elsewhere it is
"check, then move" under a lock of this store, atomic within one process only. The sha256 is not
recorded (fsspec has no portable metadata), so :meth:`stat` reports it as unknown.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..errors import AccessDenied, ConfigError, StoreError
from . import _errors
from ._addresses import check_key
from .base import ObjectInfo, Progress, Store, StoreSettings

__all__ = ["FsspecStore"]

_TMP_MARK = ".cavorite-tmp-"
_CHUNK = 1 << 20


class FsspecStore(Store):
    """Objects as files under one fsspec URL."""

    default_jobs: ClassVar[int] = 8

    def __init__(self, settings: StoreSettings) -> None:
        super().__init__(settings)
        if not settings.address:
            raise ConfigError("fsspec store needs backend_address: an fsspec URL such as memory://x")
        extra = settings.options.get("fsspec_options") or {}
        if not isinstance(extra, dict):
            raise ConfigError("option 'fsspec_options' must be a JSON object")
        try:
            fs, root = fsspec.core.url_to_fs(settings.address, **extra)
        except (ValueError, ImportError, TypeError) as exc:
            raise ConfigError(
                f"fsspec cannot open {_safe(settings.address)!r} ({type(exc).__name__}); check the "
                "protocol name and install its package"
            ) from exc
        self.fs: Any = fs
        self.root: str = root.rstrip("/")
        self._local = isinstance(fs, LocalFileSystem)
        self._lock = threading.Lock()

    def describe(self) -> str:
        return _safe(self.settings.address)

    def _path(self, key: str) -> str:
        check_key(key)
        return f"{self.root}/{key}"

    def put(
        self, key: str, path: Path, info: ObjectInfo, overwrite: bool = False,
        progress: Progress | None = None,
    ) -> None:
        target = self._path(key)
        tmp = f"{target.rsplit('/', 1)[0]}/{_TMP_MARK}{uuid.uuid4().hex}"
        try:
            if self._local:
                self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            with open(path, "rb") as src, self.fs.open(tmp, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    dst.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
            self._commit(tmp, target, key, overwrite)
        except PermissionError as exc:
            raise AccessDenied(f"cannot write {key!r} in {self.describe()}: permission denied") \
                from exc
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise StoreError(f"cannot write {key!r} in {self.describe()}: {reason}") from exc
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
        except OSError:
            pass  # a stray temporary file is listed by nobody and harmless

    def get(self, key: str, fileobj: BinaryIO) -> None:
        try:
            with self.fs.open(self._path(key), "rb") as src:
                while chunk := src.read(_CHUNK):
                    fileobj.write(chunk)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise _errors.not_found(key, self.describe()) from exc
        except PermissionError as exc:
            raise AccessDenied(f"cannot read {key!r} in {self.describe()}: permission denied") \
                from exc

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            details = self.fs.info(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if details.get("type") != "file":
            return None
        return ObjectInfo(size=int(details.get("size") or 0))

    def list(self, prefix: str = "") -> Iterator[str]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = f"{self.root}/{base}" if base else self.root
        try:
            found = self.fs.find(top)
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in found:
            key = str(name).removeprefix(self.root + "/")
            if key.startswith(prefix) and _TMP_MARK not in key.rsplit("/", 1)[-1]:
                yield key

    def delete(self, key: str) -> None:
        path = self._path(key)
        if not self.fs.isfile(path):
            raise _errors.not_found(key, self.describe())
        try:
            self.fs.rm_file(path)
        except FileNotFoundError as exc:
            raise _errors.not_found(key, self.describe()) from exc


def _safe(address: str) -> str:
    """The address without any ``user:password@`` part."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        return address
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.rsplit('@', 1)[-1]}{slash}{path}"
