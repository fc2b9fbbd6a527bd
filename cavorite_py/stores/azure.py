"""The Azure store: objects as block blobs in an Azure Storage container.

Addresses: ``az://container[/prefix]`` (the account comes from the credentials below),
``https://ACCOUNT.blob.core.windows.net/container[/prefix]``, or the emulator's path style
``http://127.0.0.1:10000/ACCOUNT/container[/prefix]``. An endpoint other than Azure's own must
be approved by the user (:mod:`cavorite_py.places`) before credentials from the environment go to
it, and an account key or SAS token goes over plain http only to an approved loopback emulator.

Credentials, first found wins, all from the environment: ``AZURE_STORAGE_CONNECTION_STRING``;
``AZURE_STORAGE_SAS_TOKEN``; ``AZURE_STORAGE_KEY`` (an account key; the account is the address's
or ``AZURE_STORAGE_ACCOUNT``); otherwise azure-identity's ``DefaultAzureCredential`` (Entra ID:
environment, workload or managed identity, Azure CLI...), imported only then.

Files above ``max_single_put_size`` are sent as blocks of ``max_block_size``, ``max_concurrency``
at a time, then committed. The sha256 is kept in the blob's metadata. ``overwrite=False`` sends
``If-None-Match: *``, so the service refuses to replace a blob, even one that appeared meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from azure.core import MatchConditions
from azure.core import exceptions as aexc
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

from .. import places
from ..errors import ConfigError, ConsentError, ObjectChanged, ObjectNotFound, StoreError
from . import _errors
from ._addresses import int_option, parse_azure, seconds_option
from .base import ObjectInfo, Progress, Store, StoreSettings, expect_size

__all__ = ["AzureStore"]

_MIB = 1 << 20
_CREDENTIALS_FIX = (
    "set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_KEY, or sign "
    "in for Entra ID (az login, or a managed identity)"
)
_EXISTS = {"BlobAlreadyExists", "ConditionNotMet"}
COPY_POLL = 0.2
"""seconds between two looks at a copy in progress"""
COPY_WAIT = 600.0
"""seconds a copy may stay in progress before it is given up (and its blob deleted)"""


def _check_endpoint(endpoint: str | None) -> None:
    """Refuse, before any request, to send the environment's credentials to an endpoint the
    user did not approve, and an account key or SAS token over plain http anywhere but to an
    approved emulator on this machine. A connection string names its own endpoint: it is the
    user's, and the address's endpoint is not used then."""
    if endpoint is None or os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
        return
    places.require_endpoint(endpoint, "Azure")
    secret = os.environ.get("AZURE_STORAGE_KEY") or os.environ.get("AZURE_STORAGE_SAS_TOKEN")
    if secret and endpoint.startswith("http://") and not places.is_loopback(endpoint):
        raise ConsentError(
            f"refusing to send an Azure account key or SAS token over plain http to "
            f"{places.origin(endpoint)}: only a storage emulator on this machine may be reached "
            "without https; use an https backend_address"
        )


class AzureStore(Store):
    """Objects in one Azure Storage container, under an optional prefix."""

    default_jobs: ClassVar[int] = 16

    def __init__(self, settings: StoreSettings) -> None:
        super().__init__(settings)
        self.address = parse_azure(settings.address)
        _check_endpoint(self.address.endpoint)
        opts = settings.options
        self.max_concurrency = int_option(opts, "max_concurrency", 4)
        self._client_options: dict[str, Any] = {
            "max_single_put_size": int_option(opts, "max_single_put_size", 32 * _MIB),
            "max_block_size": int_option(opts, "max_block_size", 8 * _MIB),
            "max_single_get_size": int_option(opts, "max_single_get_size", 32 * _MIB),
            "max_chunk_get_size": int_option(opts, "max_chunk_get_size", 8 * _MIB),
            "connection_timeout": seconds_option(opts, "connect_timeout", 10),
            "read_timeout": seconds_option(opts, "read_timeout", 60),
            "retry_policy": ExponentialRetry(
                initial_backoff=1,
                increment_base=2,
                random_jitter_range=1,
                retry_total=int_option(opts, "max_attempts", 3) - 1,
            ),
        }
        self._container: ContainerClient | None = None
        self._credential: Any = None
        self._lock = threading.Lock()
        self._probe = _errors.BucketProbe(self._container_exists)

    def describe(self) -> str:
        return self.address.describe()

    def _client(self) -> ContainerClient:
        with self._lock:
            if self._container is None:
                service = self._service()
                self._container = service.get_container_client(self.address.bucket)
            return self._container

    def _service(self) -> BlobServiceClient:
        connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        if connection_string:
            try:
                service = BlobServiceClient.from_connection_string(
                    connection_string, **self._client_options
                )
            except ValueError as exc:
                raise ConfigError(
                    "AZURE_STORAGE_CONNECTION_STRING is malformed; copy it again from the storage "
                    "account's Access keys"
                ) from exc
            if self.address.account not in (None, service.account_name):
                raise ConfigError(
                    f"backend_address names the storage account {self.address.account!r}, but "
                    "AZURE_STORAGE_CONNECTION_STRING is for another; use az://container, or the "
                    "matching connection string"
                )
            return service
        account = self.address.account or os.environ.get("AZURE_STORAGE_ACCOUNT")
        if not account:
            raise ConfigError(
                "az:// addresses need the storage account: set AZURE_STORAGE_ACCOUNT or "
                "AZURE_STORAGE_CONNECTION_STRING, or use https://ACCOUNT.blob.core.windows.net/container"
            )
        url = self.address.endpoint or f"https://{account}.blob.core.windows.net"
        credential = self._credentials(account, url)
        return BlobServiceClient(url, credential=credential, **self._client_options)

    def _credentials(self, account: str, url: str) -> Any:
        if sas := os.environ.get("AZURE_STORAGE_SAS_TOKEN"):
            return sas.lstrip("?")
        if key := os.environ.get("AZURE_STORAGE_KEY"):
            return {"account_name": account, "account_key": key}
        if not url.startswith("https://"):
            raise _errors.no_credentials(url, f"{_CREDENTIALS_FIX} (Entra ID needs https)")
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as exc:
            raise ConfigError(
                "Entra ID sign-in needs the package 'azure-identity'; install it with: "
                'pip install "cavorite-py[azure]", or set AZURE_STORAGE_CONNECTION_STRING'
            ) from exc
        self._credential = DefaultAzureCredential()
        return self._credential

    def put(
        self,
        key: str,
        path: Path,
        info: ObjectInfo,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> ObjectInfo | None:
        metadata = {"sha256": info.sha256} if info.sha256 is not None else None
        try:
            blob = self._client().get_blob_client(self.address.key(key))
            with open(path, "rb") as f:
                sent = blob.upload_blob(
                    f,
                    length=os.fstat(f.fileno()).st_size,
                    overwrite=overwrite,
                    metadata=metadata,
                    max_concurrency=self.max_concurrency,
                    progress_hook=_ProgressHook(progress) if progress is not None else None,
                )
        except aexc.AzureError as exc:
            raise self._translate(exc, key, writing=True) from exc
        return ObjectInfo(info.size, info.sha256, _etag(sent.get("etag")))

    def copy(self, source: str, key: str, info: ObjectInfo) -> ObjectInfo | None:
        """Copy Blob inside the account (the metadata, so the sha256, copied with it), with
        ``If-None-Match: *``; its status is looked at until the copy is done (within one
        account it usually is at once). A copy that fails leaves no blob under ``key``."""
        container = self._client()
        origin = container.get_blob_client(self.address.key(source))
        blob = container.get_blob_client(self.address.key(key))
        try:
            started = blob.start_copy_from_url(
                origin.url, match_condition=MatchConditions.IfMissing
            )
            status, etag = started.get("copy_status"), str(started.get("etag") or "")
            waited = 0.0
            while status == "pending" and waited < COPY_WAIT:
                time.sleep(COPY_POLL)
                waited += COPY_POLL
                props = blob.get_blob_properties()
                status, etag = props.copy.status, props.etag
            if status != "success":
                with contextlib.suppress(aexc.AzureError):
                    blob.delete_blob()
                raise StoreError(
                    f"Azure could not copy {source!r} to {key!r} at {self.describe()} ({status})"
                )
        except aexc.AzureError as exc:
            # a 404 is about the source: the new key was absent
            blame = source if getattr(exc, "status_code", None) == 404 else key
            raise self._translate(exc, blame, writing=True) from exc
        return ObjectInfo(info.size, info.sha256, _etag(etag))

    def get(self, key: str, fileobj: BinaryIO) -> str | None:
        try:
            blob = self._client().get_blob_client(self.address.key(key))
            # the SDK pins every request after the first to the first one's ETag
            download = blob.download_blob(max_concurrency=1)
            # the first response told the size: one other than the cfile's is refused here
            expect_size(fileobj, download.size)
            for chunk in download.chunks():  # in order
                fileobj.write(chunk)
        except aexc.AzureError as exc:
            raise self._translate(exc, key) from exc
        return _etag(download.properties.etag)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            props = self._client().get_blob_client(self.address.key(key)).get_blob_properties()
        except aexc.AzureError as exc:
            error = self._translate(exc, key)
            if isinstance(error, ObjectNotFound):
                return None
            raise error from exc
        sha256 = (props.metadata or {}).get("sha256")
        return ObjectInfo(props.size, sha256 or None, _etag(props.etag), props.last_modified)

    def list(self, prefix: str = "") -> Iterator[str]:
        return (key for key, _ in self.list_info(prefix))

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo | None]]:
        try:
            for props in self._client().list_blobs(
                name_starts_with=self.address.list_prefix(prefix) or None
            ):
                info = ObjectInfo(props.size, None, _etag(props.etag), props.last_modified)
                yield self.address.unprefix(props.name), info
        except aexc.AzureError as exc:
            raise self._translate(exc, None) from exc

    def delete(self, key: str, version: str | None = None) -> None:
        # for a version: If-Match, so that a blob written since is kept
        condition: dict[str, Any] = (
            {"etag": version, "match_condition": MatchConditions.IfNotModified}
            if version is not None
            else {}
        )
        try:
            self._client().delete_blob(
                self.address.key(key), delete_snapshots="include", **condition
            )
        except aexc.AzureError as exc:
            error = _errors.for_delete(
                self._translate(exc, key, writing=version is not None), key, self.describe()
            )
            # a condition on a blob that is gone fails as unmet too
            if isinstance(error, ObjectChanged) and self.stat(key) is None:
                error = _errors.not_found(key, self.describe())
            raise error from exc

    def close(self) -> None:
        with self._lock:
            container, self._container = self._container, None
            credential, self._credential = self._credential, None
        if container is not None:
            container.close()
        if credential is not None:
            credential.close()

    def _container_exists(self) -> bool:
        try:
            return bool(self._client().exists())
        except aexc.AzureError:
            return True  # cannot tell: let the 404 speak about the blob

    def _translate(
        self, exc: aexc.AzureError, key: str | None, writing: bool = False
    ) -> StoreError:
        where = self.describe()
        error_code = getattr(exc, "error_code", None)
        code = str(getattr(error_code, "value", error_code) or "")
        status = getattr(exc, "status_code", None)
        if code == "ContainerNotFound" or (status == 404 and not self._probe.bucket_exists()):
            return _errors.missing_bucket("container", self.address.bucket, where)
        if status == 404 and key is not None:
            return _errors.not_found(key, where)
        if writing and key is not None and (code in _EXISTS or status == 412):
            return _errors.exists(key, where)
        if isinstance(exc, aexc.ClientAuthenticationError) and status is None:
            return _errors.no_credentials(where, _CREDENTIALS_FIX)
        if status in (401, 403) or isinstance(exc, aexc.ClientAuthenticationError):
            return _errors.denied(
                where,
                code or f"HTTP {status}",
                f"check the credentials in use "
                f"({_CREDENTIALS_FIX}) and their permissions on the container",
            )
        if isinstance(exc, (aexc.ServiceRequestError, aexc.ServiceResponseError)):
            # the SDK's "request" errors mean no request was sent: no connection was made
            down = isinstance(exc, aexc.ServiceRequestError)
            return _errors.unreachable(where, type(exc).__name__, down)
        what = repr(key) if key else "a listing"
        reason = code or status or type(exc).__name__
        return StoreError(f"Azure refused the request for {what} at {where} ({reason})")


class _ProgressHook:
    """Turns the SDK's running totals, reported from several threads, into increments."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._done = 0
        self._lock = threading.Lock()

    def __call__(self, current: int, total: int | None) -> None:
        with self._lock:
            step, self._done = current - self._done, max(current, self._done)
        if step > 0:
            self._progress(step)


def _etag(value: str | None) -> str | None:
    """An ETag as one string whatever the call that gave it (the SDK quotes some, not others)."""
    return value.strip('"') or None if value else None
