"""The GCS store: objects in a Google Cloud Storage bucket.

Addresses: ``gs://bucket[/prefix]``, or a bare ``bucket[/prefix]`` as the Go tool writes it.
Credentials, first found wins: ``STORAGE_EMULATOR_HOST`` set means an emulator and anonymous
access; ``CAVORITE_GCS_CREDENTIALS`` holds a credentials JSON document (a service account key, as
the Go tool reads it); otherwise Application Default Credentials
(``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``, the metadata
server).

Files above ``resumable_threshold`` go as resumable uploads in ``chunk_size`` pieces. The sha256
is kept in the object's custom metadata. ``overwrite=False`` sends ``ifGenerationMatch=0``, so
the service refuses to replace an object that appeared meanwhile; it is also checked beforehand,
because emulators ignore the precondition.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import google.auth
import requests
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exc
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import service_account

from ..errors import ConfigError, StoreError
from . import _errors
from ._addresses import int_option, parse_gcs, seconds_option
from .base import ObjectInfo, Progress, Store, StoreSettings, check_version

__all__ = ["GCSStore"]

_MIB = 1 << 20
_CHUNK_QUANTUM = 256 * 1024  # resumable chunks are multiples of 256 KiB
_SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"]
_SDK_ERRORS = (
    gexc.GoogleAPIError,
    auth_exc.GoogleAuthError,
    requests.RequestException,
    InvalidResponse,
    DataCorruption,
)
_CREDENTIALS_FIX = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
    "key file, or CAVORITE_GCS_CREDENTIALS to its JSON"
)


class GCSStore(Store):
    """Objects in one GCS bucket, under an optional prefix."""

    default_jobs: ClassVar[int] = 16

    def __init__(self, settings: StoreSettings) -> None:
        super().__init__(settings)
        self.address = parse_gcs(settings.address)
        opts = settings.options
        self.chunk_size = int_option(opts, "chunk_size", 16 * _MIB, minimum=_CHUNK_QUANTUM)
        if self.chunk_size % _CHUNK_QUANTUM:
            raise ConfigError(f"option 'chunk_size' must be a multiple of {_CHUNK_QUANTUM} bytes")
        self.resumable_threshold = int_option(opts, "resumable_threshold", 8 * _MIB)
        self.timeout = (
            seconds_option(opts, "connect_timeout", 10),
            seconds_option(opts, "read_timeout", 60),
        )
        self.retry: Retry = DEFAULT_RETRY.with_timeout(seconds_option(opts, "retry_timeout", 15))
        self.project: str | None = opts.get("project") or None
        self._client: storage.Client | None = None
        self._lock = threading.Lock()
        self._probe = _errors.BucketProbe(self._bucket_exists)

    def describe(self) -> str:
        return self.address.describe()

    def _bucket(self) -> storage.Bucket:
        with self._lock:
            if self._client is None:
                credentials, project = _credentials()
                self._client = storage.Client(
                    project=self.project or project, credentials=credentials
                )
            return self._client.bucket(self.address.bucket)

    def put(
        self,
        key: str,
        path: Path,
        info: ObjectInfo,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> ObjectInfo | None:
        if not overwrite and self.stat(key) is not None:
            raise _errors.exists(key, self.describe())
        try:
            blob = self._bucket().blob(self.address.key(key), chunk_size=self.chunk_size)
            if info.sha256 is not None:
                blob.metadata = {"sha256": info.sha256}
            with _ProgressReader(path, progress) as f:
                blob.upload_from_file(
                    f,
                    size=None if info.size > self.resumable_threshold else info.size,
                    content_type="application/octet-stream",
                    if_generation_match=None if overwrite else 0,
                    timeout=self.timeout,
                    retry=self.retry,
                )
        except _SDK_ERRORS as exc:
            raise self._translate(exc, key) from exc
        return ObjectInfo(info.size, info.sha256, _version(blob))

    def copy(self, source: str, key: str, info: ObjectInfo) -> ObjectInfo | None:
        """A rewrite inside GCS (any size, in as many calls as GCS asks for), with
        ``ifGenerationMatch=0``; looked at first, as put does (the emulator ignores the
        condition). The sha256 is set on the new object, with the content type put gives."""
        if self.stat(key) is not None:
            raise _errors.exists(key, self.describe())
        try:
            bucket = self._bucket()
            origin = bucket.blob(self.address.key(source))
            blob = bucket.blob(self.address.key(key))
            blob.content_type = "application/octet-stream"
            if info.sha256 is not None:
                blob.metadata = {"sha256": info.sha256}
            token: str | None = None
            while True:
                token, _, _ = blob.rewrite(
                    origin,
                    token=token,
                    if_generation_match=0,
                    timeout=self.timeout,
                    retry=self.retry,
                )
                if token is None:
                    break
        except _SDK_ERRORS as exc:
            # a 404 is about the source: the new key was absent
            raise self._translate(exc, source if isinstance(exc, gexc.NotFound) else key) from exc
        return ObjectInfo(info.size, info.sha256, _version(blob))

    def get(self, key: str, fileobj: BinaryIO) -> str | None:
        try:
            blob = self._bucket().blob(self.address.key(key))  # streamed in one request
            blob.download_to_file(
                fileobj, raw_download=True, timeout=self.timeout, retry=self.retry
            )
        except _SDK_ERRORS as exc:
            raise self._translate(exc, key) from exc
        # the generation that request's answer named (the client reads it from its headers;
        # GCS sends it, the emulator does not)
        return _version(blob)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            bucket = self._bucket()
            blob = bucket.get_blob(self.address.key(key), timeout=self.timeout, retry=self.retry)
        except _SDK_ERRORS as exc:
            raise self._translate(exc, key) from exc
        if blob is None:
            if not self._probe.bucket_exists():
                raise _errors.missing_bucket("bucket", self.address.bucket, self.describe())
            return None
        sha256 = (blob.metadata or {}).get("sha256")
        return ObjectInfo(blob.size or 0, sha256 or None, _version(blob), blob.updated)

    def list(self, prefix: str = "") -> Iterator[str]:
        return (key for key, _ in self.list_info(prefix))

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo | None]]:
        try:
            bucket = self._bucket()
            blobs = bucket.list_blobs(
                prefix=self.address.list_prefix(prefix), timeout=self.timeout, retry=self.retry
            )
            for blob in blobs:
                info = ObjectInfo(blob.size or 0, None, _version(blob), blob.updated)
                yield self.address.unprefix(blob.name), info
        except _SDK_ERRORS as exc:
            raise self._translate(exc, None) from exc

    def delete(self, key: str, version: str | None = None) -> None:
        # for a version, the look comes first as well: the emulator ignores the condition
        if version is not None:
            check_version(self, key, version)
        try:
            blob = self._bucket().blob(self.address.key(key))
            blob.delete(
                timeout=self.timeout,
                retry=self.retry,
                if_generation_match=int(version) if version is not None else None,
            )
        except _SDK_ERRORS as exc:
            error = self._translate(exc, key)
            raise _errors.for_delete(error, key, self.describe()) from exc

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _bucket_exists(self) -> bool:
        try:
            return bool(self._bucket().exists(timeout=self.timeout, retry=self.retry))
        except _SDK_ERRORS:
            return True  # cannot tell: let the 404 speak about the object

    def _translate(self, exc: BaseException, key: str | None) -> StoreError:
        where = self.describe()
        if isinstance(exc, gexc.NotFound):
            if key is None or not self._probe.bucket_exists():
                return _errors.missing_bucket("bucket", self.address.bucket, where)
            return _errors.not_found(key, where)
        if isinstance(exc, gexc.PreconditionFailed) and key is not None:
            return _errors.exists(key, where)
        if isinstance(exc, (gexc.Forbidden, gexc.Unauthorized)):
            return _errors.denied(
                where,
                f"HTTP {exc.code}",
                f"check the credentials in use ({_CREDENTIALS_FIX}) and the bucket's IAM roles",
            )
        network = (requests.ConnectionError, requests.Timeout, auth_exc.TransportError)
        if _errors.find_cause(exc, network):
            down = _errors.no_connection(exc)
            return _errors.unreachable(where, "connection failed or timed out", down)
        if isinstance(exc, auth_exc.DefaultCredentialsError):
            return _errors.no_credentials(where, _CREDENTIALS_FIX)
        if isinstance(exc, auth_exc.GoogleAuthError):
            return _errors.denied(where, "the credentials were refused", _CREDENTIALS_FIX)
        if isinstance(exc, gexc.RetryError):
            return _errors.unreachable(where, "gave up retrying", _errors.no_connection(exc))
        code = getattr(exc, "code", None) or type(exc).__name__
        what = repr(key) if key else "a listing"
        return StoreError(f"GCS refused the request for {what} at {where} ({code})")


def _credentials() -> tuple[Credentials, str | None]:
    """The credentials to use, and the project they name if any (never logged or printed)."""
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return anonymous, os.environ.get("GOOGLE_CLOUD_PROJECT") or "emulator"
    document = os.environ.get("CAVORITE_GCS_CREDENTIALS")
    if document:
        return _service_account(document)
    try:
        credentials, project = google.auth.default(scopes=_SCOPES)
    except auth_exc.DefaultCredentialsError as exc:
        raise _errors.no_credentials("Google Cloud Storage", _CREDENTIALS_FIX) from exc
    return credentials, project


def _service_account(document: str) -> tuple[Credentials, str | None]:
    """Credentials from a service account key given as JSON text (never echoed: it is secret)."""
    fix = "set CAVORITE_GCS_CREDENTIALS to the contents of a service account key file"
    try:
        info = json.loads(document)
    except ValueError:
        info = None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConfigError(f"CAVORITE_GCS_CREDENTIALS is not a service account key in JSON; {fix}")
    try:
        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=_SCOPES
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"CAVORITE_GCS_CREDENTIALS holds an unusable key; {fix}") from exc
    project = info.get("project_id")
    return credentials, project if isinstance(project, str) else None


class _ProgressReader(io.FileIO):
    """A file that reports how far it has been read, counting re-reads after a retry once."""

    def __init__(self, path: Path, progress: Callable[[int], None] | None) -> None:
        super().__init__(path, "rb")
        self._progress = progress
        self._high = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self._advance()
        return data

    def readinto(self, buffer: Any, /) -> int | None:
        count = super().readinto(buffer)
        self._advance()
        return count

    def _advance(self) -> None:
        position = self.tell()
        if self._progress is not None and position > self._high:
            self._progress(position - self._high)
        self._high = max(self._high, position)


def _version(blob: Any) -> str | None:
    """The blob's generation, which GCS changes whenever the object is written."""
    generation = getattr(blob, "generation", None)
    return str(generation) if generation else None
