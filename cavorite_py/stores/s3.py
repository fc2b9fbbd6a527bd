"""The S3 store: objects in an S3 bucket, on AWS or any S3-compatible service (MinIO, moto...).

Addresses: ``s3://bucket[/prefix]``, or ``http(s)://host:port/bucket[/prefix]`` for a custom
endpoint (path-style addressing), which must be approved by the user (:mod:`cavorite_py.places`)
before any request is sent to it. Credentials come only from boto3's standard chain (environment,
shared profiles, instance or task roles), never from ``.cavorite/config``.

Uploads go through boto3's transfer manager above ``multipart_threshold`` (multipart), and are
one PutObject below it; either way the file is read in small pieces (see :mod:`._s3_upload`),
which keeps their memory small whatever the size and number of the files. A download is one
GetObject for an object of up to ``download_threshold`` bytes, streamed as it arrives; a larger
one is fetched as ranged GETs of ``download_chunksize``, several at a time. Downloads are
written strictly in order (the engine hashes while writing), so ranges fetched ahead of the one
being written wait in memory. All the downloads of a store share one budget of such ranges
(``download_memory_chunks``), so together they hold a few tens of MiB whatever the size and the
number of the files (see :mod:`._s3_download`).

The clients are botocore's, made from botocore's own session: the credentials chain, the
configuration (``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, ``~/.aws/config``) and the client are
those a boto3 session gives, which only wraps it. What boto3 adds (its resource layer, the
transfer methods it attaches to every S3 client) is not used, and boto3 and s3transfer's
transfer manager are imported by the first file above the thresholds only: together 20-45 ms
of CPU less before the first byte of every run (measured; docs/performance.md).

The sha256 is kept as the object metadata ``x-amz-meta-sha256``; single-part uploads also send
it as S3's own ``ChecksumSHA256``, so a body corrupted on the way is rejected.
``overwrite=False`` is a conditional write: ``If-None-Match: *`` on the PutObject or on the
CompleteMultipartUpload, so two writers racing for one key cannot both win.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, cast

import botocore.exceptions as bex
import botocore.session
from botocore.config import Config
from botocore.utils import determine_content_length
from s3transfer.exceptions import RetriesExceededError, S3DownloadFailedError, S3ValidationError

from .. import places
from ..errors import AccessDenied, ObjectNotFound, StoreDown, StoreError
from . import _errors, _s3_models
from ._addresses import int_option, parse_s3, seconds_option
from ._s3_download import (
    Inconsistent,
    ReadAhead,
    WholeSha256,
    download_config,
    no_second_sha256,
    ranged,
    stream,
)
from ._s3_upload import multipart, whole_file
from .base import ObjectInfo, Progress, Store, StoreSettings, check_version, expect_size

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from botocore.config import _S3Dict
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CopySourceTypeDef, GetObjectOutputTypeDef

__all__ = ["S3Store"]

if importlib.util.find_spec("boto3") is None:
    # boto3 is imported only by the first file above the thresholds (its transfer settings and
    # manager): a missing one is told now, as the store is loaded, not in the middle of a run
    raise ModuleNotFoundError("No module named 'boto3'", name="boto3")

_MIB = 1 << 20
_SDK_ERRORS = (bex.BotoCoreError, bex.ClientError, RetriesExceededError)
_DOWNLOAD_ERRORS = (*_SDK_ERRORS, Inconsistent, S3DownloadFailedError, S3ValidationError)
_MISSING = {"404", "NoSuchKey", "NotFound"}
_DENIED = {
    "403",
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
}
_WRONG_REGION = {"301", "PermanentRedirect", "AuthorizationHeaderMalformed"}
_CREDENTIALS_FIX = (
    "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an instance role"
)
_HEAD_FIRST: dict[str, Any] = (
    {"response_checksum_validation": "when_supported"}
    if "response_checksum_validation" in Config.OPTION_DEFAULTS
    else {}
)
"""botocore's default, pinned. It has S3 send its checksum of the object with a whole-object GET,
checked against the body (a SHA256 by :class:`._s3_download.WholeSha256`, with the engine's own
sha256 of the bytes, not by botocore's second pass). And it keeps s3transfer's ranged downloads
on the path that takes the size it is given (or asks it with a HeadObject): with
``when_required`` (from AWS_RESPONSE_CHECKSUM_VALIDATION or ~/.aws/config) it requests the first
range instead and queues the others from that range's completion, before its place in the window
is given back: with a window smaller than the object's ranges, the download waits for itself
forever."""

_CHECKSUMS_SENT: dict[str, Any] = (
    {"request_checksum_calculation": "when_supported"}
    if "request_checksum_calculation" in Config.OPTION_DEFAULTS
    else {}
)
"""botocore's default, pinned: every PutObject and UploadPart body goes with a checksum header
(the file's SHA256 where the store sends it, else botocore's CRC32), which S3 checks against the
body it receives. That is what lets the body itself go unsigned (:func:`_s3_config`)."""
SINGLE_PUT_MAX = 256 * _MIB
"""Files below this size are one PutObject (``multipart_threshold``): measured on the S3
emulator, with and without 50 ms of latency per request (benchmarks/s3_sweep.py), one request
beats a multipart upload of 16 MiB parts at 64 MiB, and S3 then checks the whole body against
its SHA256."""
SINGLE_GET_MAX = 256 * _MIB
"""Objects up to this size are streamed from the first GET (``download_threshold``); larger
ones are fetched as ranges of ``download_chunksize``, several at a time."""


def _s3_config(path_style: bool) -> _S3Dict:
    """The client's S3 settings: path-style addressing for a custom endpoint; and bodies sent
    as ``UNSIGNED-PAYLOAD``. Over http botocore otherwise hashes every body with SHA256 for the
    signature, a whole extra pass over each file uploaded; the body's own checksum header
    (:data:`_CHECKSUMS_SENT`) is signed and checked by S3 all the same, and over https botocore
    leaves such bodies unsigned anyway."""
    if path_style:
        return {"payload_signing_enabled": False, "addressing_style": "path"}
    return {"payload_signing_enabled": False}


class S3Store(Store):
    """Objects in one S3 bucket, under an optional prefix."""

    default_jobs: ClassVar[int] = 16

    def __init__(self, settings: StoreSettings) -> None:
        super().__init__(settings)
        self.address = parse_s3(settings.address)
        if self.address.endpoint is not None:
            places.require_endpoint(self.address.endpoint, "S3")
        opts = settings.options
        self.region = str(opts.get("region") or "us-east-1")
        concurrency = int_option(opts, "max_concurrency", 8)
        self.multipart_threshold = int_option(opts, "multipart_threshold", SINGLE_PUT_MAX)
        self.multipart_chunksize = int_option(opts, "multipart_chunksize", 16 * _MIB)
        self.download_chunksize = int_option(opts, "download_chunksize", 16 * _MIB)
        self.download_threshold = int_option(opts, "download_threshold", SINGLE_GET_MAX)
        self.download_window = int_option(opts, "max_in_memory_download_chunks", 3)
        self.read_ahead = ReadAhead(int_option(opts, "download_memory_chunks", 2, minimum=0))
        self._concurrency = concurrency
        pool = int_option(opts, "max_pool_connections", self.default_jobs * concurrency)
        self._config = Config(
            region_name=self.region,
            connect_timeout=seconds_option(opts, "connect_timeout", 10),
            read_timeout=seconds_option(opts, "read_timeout", 60),
            retries={"mode": "standard", "max_attempts": int_option(opts, "max_attempts", 3)},
            max_pool_connections=pool,  # enough for every file of a run to use all its threads
            s3=_s3_config(path_style=self.address.endpoint is not None),
            **_HEAD_FIRST,
            **_CHECKSUMS_SENT,
        )
        self._clients: dict[bool, S3Client] = {}
        self._session: botocore.session.Session | None = None
        self._lock = threading.Lock()
        self._probe = _errors.BucketProbe(self._bucket_exists)

    def describe(self) -> str:
        return self.address.describe()

    @functools.cached_property
    def transfer(self) -> TransferConfig:
        """The settings of a multipart upload, made (and boto3 imported) only for the first."""
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self._concurrency,
            preferred_transfer_client="classic",  # the CRT client would ignore all of this
        )

    def _client(self, conditional: bool = False) -> S3Client:
        """The shared client; the ``conditional`` one adds ``If-None-Match: *`` to every write
        (for multipart uploads, whose last request s3transfer makes without a way to add it)."""
        with self._lock:
            client = self._clients.get(conditional)
            if client is None:
                # both clients from one session, which loads S3's service model once (~0.1 s);
                # botocore's own, not boto3's (see the module's docstring)
                if self._session is None:
                    self._session = botocore.session.get_session()
                    # S3's model and botocore's other data from the user's cache, parsed once
                    _s3_models.use_cache(self._session)
                client = cast(
                    "S3Client",
                    self._session.create_client(
                        "s3", endpoint_url=self.address.endpoint, config=self._config
                    ),
                )
                # after botocore's own handler of the same event, which adds the header
                client.meta.events.register_last("before-call.s3", _no_expect_for_small_bodies)
                client.meta.events.register("before-call.s3.GetObject", no_second_sha256)
                if conditional:
                    for op in ("PutObject", "CompleteMultipartUpload"):
                        event = f"before-parameter-build.s3.{op}"
                        client.meta.events.register(event, _if_none_match)
                self._clients[conditional] = client
            return client

    def put(
        self,
        key: str,
        path: Path,
        info: ObjectInfo,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> ObjectInfo | None:
        extra: dict[str, Any] = {}
        single = info.size < self.multipart_threshold
        if info.sha256 is not None:
            extra["Metadata"] = {"sha256": info.sha256}
            if single:
                extra["ChecksumAlgorithm"] = "SHA256"  # with the value below: sent, not computed
                extra["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(info.sha256)).decode()
        if single and not overwrite:
            # the condition as a parameter of the one request, through the shared client: an
            # upload of such files makes no second client (~5 ms of CPU, measured)
            extra["IfNoneMatch"] = "*"
        client = self._client(conditional=not (overwrite or single))
        bucket, name = self.address.bucket, self.address.key(key)
        try:
            if single:
                # one request, without the transfer manager's threads and futures: most of the
                # cost of a small file
                with whole_file(path) as body:
                    sent = client.put_object(
                        Bucket=bucket, Key=name, Body=cast(BinaryIO, body), **extra
                    )
                if progress is not None:
                    progress(info.size)
                return ObjectInfo(info.size, info.sha256, sent.get("ETag"))
            else:
                multipart(client, self.transfer, path, bucket, name, extra, progress)
                return None  # the transfer manager does not tell the ETag
        except _SDK_ERRORS as exc:
            raise self._translate(exc, key) from exc

    def copy(self, source: str, key: str, info: ObjectInfo) -> ObjectInfo | None:
        """CopyObject inside the bucket, the metadata (the sha256) copied with the object, with
        ``If-None-Match: *``; the key is looked at first as well, since not every S3-compatible
        server honours that condition on a copy (moto does not). An object over 5 GiB, which
        CopyObject refuses, is uploaded instead (no UploadPartCopy)."""
        if info.size > COPY_MAX:
            raise NotImplementedError("CopyObject is limited to 5 GiB")
        if self.stat(key) is not None:
            raise _errors.exists(key, self.describe())
        bucket = self.address.bucket
        origin: CopySourceTypeDef = {"Bucket": bucket, "Key": self.address.key(source)}
        try:
            sent = self._client().copy_object(
                Bucket=bucket,
                Key=self.address.key(key),
                CopySource=origin,
                MetadataDirective="COPY",
                IfNoneMatch="*",
            )
        except _SDK_ERRORS as exc:
            raise self._translate(exc, self._copy_blame(exc, source, key)) from exc
        return ObjectInfo(info.size, info.sha256, sent.get("CopyObjectResult", {}).get("ETag"))

    def _copy_blame(self, exc: BaseException, source: str, key: str) -> str:
        """The key a failed copy is about: a missing object is the source (the new key was
        absent)."""
        error = _errors.find_cause(exc, bex.ClientError)
        return source if error is not None and _code(error) in _MISSING else key

    def get(self, key: str, fileobj: BinaryIO) -> str | None:
        client = self._client()
        bucket, name = self.address.bucket, self.address.key(key)
        try:
            # one GET of the whole object: its body is the download up to download_threshold,
            # else it tells the size and ETag, as a HeadObject would; every later request
            # (a body resumed, the ranges) is pinned to that ETag with If-Match
            response = client.get_object(Bucket=bucket, Key=name)
            size = response["ContentLength"]
            etag: str | None = response.get("ETag")
            # a size other than the cfile's is refused before any byte or range
            _expect(response, fileobj)
            # S3's SHA256 of the object, if it has one, compared with all the bytes written
            check = WholeSha256.of(response, fileobj)
            sink = fileobj if check is None else check.sink
            if size <= self.download_threshold:
                stream(client, bucket, name, response, sink)
            else:
                response["Body"].close()  # unread, its connection dropped: the ranges fetch it
                ranges = -(-size // self.download_chunksize)
                with self.read_ahead.lend(min(self.download_window, ranges) - 1) as ahead:
                    config = self.download_config(window=1 + ahead)
                    ranged(client, config, bucket, name, sink, size, etag)
            if check is not None:
                check.verify()
            return etag
        except _DOWNLOAD_ERRORS as exc:
            raise self._translate(exc, key) from exc

    def download_config(self, window: int) -> TransferConfig:
        """The transfer settings of a ranged download that may fetch ``window`` ranges at once."""
        return download_config(self.download_chunksize, window, self._concurrency)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self._client().head_object(Bucket=self.address.bucket, Key=self.address.key(key))
        except _SDK_ERRORS as exc:
            error = self._translate(exc, key)
            if isinstance(error, ObjectNotFound):
                return None
            raise error from exc
        sha256 = head.get("Metadata", {}).get("sha256")
        return ObjectInfo(
            head["ContentLength"], sha256 or None, head.get("ETag"), head.get("LastModified")
        )

    def list(self, prefix: str = "") -> Iterator[str]:
        return (key for key, _ in self.list_info(prefix))

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo | None]]:
        try:
            pages = (
                self._client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.address.bucket, Prefix=self.address.list_prefix(prefix))
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    info = ObjectInfo(obj["Size"], None, obj.get("ETag"), obj.get("LastModified"))
                    yield self.address.unprefix(obj["Key"]), info
        except _SDK_ERRORS as exc:
            raise self._translate(exc, None) from exc

    def delete(self, key: str, version: str | None = None) -> None:
        # S3 deletes a missing key silently: look first. For a version, If-Match makes the
        # delete conditional (S3 since 2025); a server that ignores it is still checked by the
        # look, and then wrong only for the moment between the two requests
        if version is not None:
            check_version(self, key, version)
        elif self.stat(key) is None:
            raise _errors.not_found(key, self.describe())
        condition: dict[str, Any] = {"IfMatch": version} if version is not None else {}
        try:
            self._client().delete_object(
                Bucket=self.address.bucket, Key=self.address.key(key), **condition
            )
        except _SDK_ERRORS as exc:
            error = self._translate(exc, key)
            raise _errors.for_delete(error, key, self.describe()) from exc

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _bucket_exists(self) -> bool:
        try:
            self._client().head_bucket(Bucket=self.address.bucket)
        except bex.ClientError as exc:
            return _code(exc) not in (_MISSING | {"NoSuchBucket"})
        except _SDK_ERRORS:
            return True  # cannot tell: let the 404 speak about the object
        return True

    def _translate(self, exc: BaseException, key: str | None) -> StoreError:
        where = self.describe()
        broken = _broken_download(exc)
        if broken is not None:
            return StoreError(f"the download of {key!r} from {where} stopped: {broken}; try again")
        error = _errors.find_cause(exc, bex.ClientError)
        if error is not None:
            code = _code(error)
            if code == "NoSuchBucket" or (code in _MISSING and not self._probe.bucket_exists()):
                return _errors.missing_bucket("bucket", self.address.bucket, where)
            if code in _MISSING and key is not None:
                return _errors.not_found(key, where)
            if code in ("412", "PreconditionFailed") and key is not None:
                return _errors.exists(key, where)
            if code in _DENIED:
                return _errors.denied(
                    where,
                    code,
                    f"check the AWS credentials in use ({_CREDENTIALS_FIX}) and the "
                    "bucket policy; stat and delete also need s3:ListBucket",
                )
            if code in _WRONG_REGION:
                return StoreDown(
                    f"bucket {self.address.bucket!r} is not in region {self.region!r}; set "
                    '"region" in the options of .cavorite/config'
                )
            what = repr(key) if key else "a listing"
            return StoreError(f"S3 refused the request for {what} at {where} ({code})")
        if _errors.find_cause(exc, (bex.NoCredentialsError, bex.PartialCredentialsError)):
            return _errors.no_credentials(where, _CREDENTIALS_FIX)
        if _errors.find_cause(exc, bex.ProfileNotFound):
            return AccessDenied(
                f"the AWS profile in AWS_PROFILE is not configured; {_CREDENTIALS_FIX}"
            )
        net = _errors.find_cause(exc, (bex.ConnectionError, bex.HTTPClientError))
        if net is not None or isinstance(exc, RetriesExceededError):
            return _errors.unreachable(
                where, type(net or exc).__name__, down=_errors.no_connection(exc)
            )
        what = repr(key) if key else "a listing"
        return StoreError(f"S3 transfer of {what} at {where} failed ({type(exc).__name__})")


def _expect(response: GetObjectOutputTypeDef, fileobj: BinaryIO) -> None:
    """:func:`expect_size` with the response's size; its body is dropped unread if refused."""
    try:
        expect_size(fileobj, response["ContentLength"])
    except BaseException:
        response["Body"].close()
        raise


def _broken_download(exc: BaseException) -> str | None:
    """Why a download was stopped for bytes that cannot be trusted, if it was."""
    if isinstance(exc, Inconsistent):
        return str(exc)  # our own words
    if isinstance(exc, S3DownloadFailedError):  # a range's If-Match failed
        return "the object changed while it was being downloaded"
    if isinstance(exc, S3ValidationError):
        return "S3 did not answer with the byte range asked for"
    if _errors.find_cause(exc, bex.FlexibleChecksumError):
        return "the bytes received do not match the object's checksum (damaged on the way)"
    return None


def _code(error: bex.ClientError) -> str:
    code = error.response.get("Error", {}).get("Code")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(code or status)


COPY_MAX = 5 * 1024**3
"""the largest object CopyObject copies in one request"""


def _if_none_match(params: dict[str, Any], **_: Any) -> None:
    params["IfNoneMatch"] = "*"


EXPECT_MIN = 1 << 20
"""PutObject bodies from this size on are sent with ``Expect: 100-continue``."""


def _no_expect_for_small_bodies(params: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore sends every body given as a file object with ``Expect: 100-continue``: it sends
    the headers, waits for the server's interim answer, and only then the body. That round trip
    saves sending a large body the server would refuse; for a small one it only doubles the
    latency of the upload. A PutObject body below :data:`EXPECT_MIN` goes with its headers.
    (Returns None: a value returned here would be taken for the response.)"""
    if model.name == "PutObject" and "Expect" in params["headers"]:
        size = determine_content_length(params["body"])
        if size is not None and size < EXPECT_MIN:
            del params["headers"]["Expect"]
