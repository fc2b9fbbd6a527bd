"""How the S3 store streams an object into a non-seekable file, in order and in bounded memory.

Every download starts with one GetObject of the whole object; its response decides the rest:

- An object of at most ``download_threshold`` bytes (most files) is written from that response's
  body, :data:`PIECE` bytes at a time (:func:`stream`): one request, no HeadObject, and the
  object's checksum, when S3 has a full-object one, still checked once the body ends.
- A larger object's body is closed unread. Its size and ETag, as a HeadObject would have told
  them, go to s3transfer (:class:`Known`), whose ranged GETs fetch it several at a time within the
  store's read-ahead budget (:class:`ReadAhead`) and hand it over in order (:class:`InOrder`).

Either way a body that breaks off is fetched again from its first byte not yet written, with
``If-Match`` the ETag of the first response: no byte reaches the file twice (the engine hashes all
it receives), and an object replaced meanwhile stops the download instead of mixing two versions.

Where S3 keeps a SHA256 of the whole object (single-part uploads: cavorite's send it), the first
response tells it, and the bytes written are compared with it once all are there
(:class:`WholeSha256`), whichever way they came: by the sha256 the engine's sink computes anyway,
not by botocore's own second pass over every byte (:func:`no_second_sha256`).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import botocore.exceptions as bex
from s3transfer.exceptions import RetriesExceededError
from s3transfer.subscribers import BaseSubscriber
from s3transfer.utils import S3_RETRYABLE_DOWNLOAD_ERRORS

from ..hashing import HashingWriter

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import GetObjectOutputTypeDef

__all__ = [
    "ATTEMPTS",
    "PIECE",
    "Abandoning",
    "InOrder",
    "Inconsistent",
    "Known",
    "ReadAhead",
    "WholeSha256",
    "download_config",
    "no_second_sha256",
    "ranged",
    "stream",
]

_IO_QUEUE = 4
"""Pieces (of 256 KiB) a ranged download may queue for its writer thread: 1 MiB (boto3's default,
100, is 25 MiB per file)."""
PIECE = 1 << 20
"""What :func:`stream` reads and writes at once: as much as a ranged download's write queue."""
ATTEMPTS = 5
"""Responses one body may take to arrive whole: s3transfer's own number for each range."""


class Inconsistent(Exception):
    """S3's answer to a GET that resumes a download does not continue it: the object changed
    since the first response, or another range came back. The message is ours, safe to show."""


def stream(
    client: S3Client, bucket: str, key: str, response: GetObjectOutputTypeDef, fileobj: BinaryIO
) -> None:
    """Write the body of ``response``, a GetObject of the whole object, into ``fileobj``.

    A body that breaks off (reset, timeout, cut short) is fetched again from its first byte not
    yet written, up to :data:`ATTEMPTS` responses in all; then ``RetriesExceededError`` from
    s3transfer, as its own ranges do. botocore retries a request that fails before its body, never
    a body: this is the retry it does not make. A resumed body carries no checksum (S3 sends none
    for a range); S3's SHA256 of the whole object, where it has one, and the engine's sha256 still
    cover every byte. Anything else (a checksum that does not match, a write that raises: Ctrl-C)
    ends the download at once.
    """
    size, etag = response["ContentLength"], response.get("ETag")
    written = 0
    for attempt in range(1, ATTEMPTS + 1):
        body = response["Body"]
        try:
            while True:
                try:
                    piece = body.read(PIECE)
                except S3_RETRYABLE_DOWNLOAD_ERRORS as exc:  # only the read's: an OSError from
                    broken = exc  # the file (a full disk) is no reason to fetch again
                    break
                if not piece:
                    return
                fileobj.write(piece)
                written += len(piece)
        finally:
            body.close()
        if written == size:  # all there: only the end of the stream went wrong
            return
        if attempt == ATTEMPTS or etag is None:  # without an ETag, a resume could mix versions
            raise RetriesExceededError(broken) from broken
        response = _resume(client, bucket, key, etag, size, written)


def _resume(
    client: S3Client, bucket: str, key: str, etag: str, size: int, start: int
) -> GetObjectOutputTypeDef:
    """A GetObject of the same object (``etag``) from byte ``start`` on."""
    extra: dict[str, Any] = {"Range": f"bytes={start}-"} if start else {}
    try:
        response = client.get_object(Bucket=bucket, Key=key, IfMatch=etag, **extra)
    except bex.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("412", "PreconditionFailed"):
            raise Inconsistent("the object changed while it was being downloaded") from exc
        raise
    expected = f"bytes {start}-{size - 1}/{size}" if start else None
    if response.get("ETag") != etag:  # a service that ignores If-Match
        response["Body"].close()
        raise Inconsistent("the object changed while it was being downloaded")
    if response.get("ContentRange") != expected or response["ContentLength"] != size - start:
        response["Body"].close()
        raise Inconsistent(f"S3 did not answer with the bytes from {start} on, as asked")
    return response


def download_config(chunk: int, window: int, concurrency: int) -> TransferConfig:
    """The transfer settings of a ranged download into a non-seekable file.

    Every object is fetched as ranges of ``chunk`` bytes, even below ``multipart_threshold``: for
    a whole-object GET whose body breaks off, s3transfer retries from byte 0 and writes again what
    it had already written, which a non-seekable file cannot undo; ranges go through its queue
    that drops bytes already written.

    The transfer manager fetches ranges in parallel and must hand them over in order, so a range
    that completes before the ones ahead of it is held in memory. s3transfer bounds that by a
    sliding window of ``max_in_memory_download_chunks`` ranges (1000 in older releases, 10 in
    recent ones: up to 144 MiB per file at 16 MiB ranges); here it is ``window``, which also caps
    the ranges in flight. The range at the front of the window is written as it arrives, so the
    file holds at most ``(window - 1) * chunk`` plus the writer's queue (``_IO_QUEUE`` pieces of
    256 KiB). With ``window`` 1 the ranges are fetched one after the other, each written as it
    arrives.

    boto3 (for its ``TransferConfig``) is imported here, by the first object large enough to be
    fetched in ranges: a run of smaller files never imports it (see :mod:`.s3`).
    """
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(
        multipart_threshold=1,
        multipart_chunksize=chunk,
        max_concurrency=min(concurrency, window),
        max_io_queue=_IO_QUEUE,
        preferred_transfer_client="classic",
    )
    config.max_in_memory_download_chunks = window
    return config


class ReadAhead:
    """The ranges that the downloads of one store may fetch ahead of the range each is writing.

    Only those wait in memory (the front range of a download is written as it arrives), so this
    budget bounds what all downloads hold together, whatever their number and size: ``ranges``
    times ``download_chunksize``. A download of several ranges takes what it can use, up to its
    window less one, when it starts, without waiting, and gives it back when it ends; one that
    gets nothing fetches its ranges one after the other (one stream, like a plain GET). A
    download of one range is streamed from its first GET and takes nothing.

    Why not share one s3transfer manager between downloads, whose sliding-window semaphore does
    count every transfer's ranges against one total: the front ranges count too, so a budget
    sized for memory would also cap how many files, even small ones, download at once; the
    semaphore keeps an entry per transfer forever (memory that grows with the number of files);
    and all files would share one writer thread.
    """

    def __init__(self, ranges: int) -> None:
        self.ranges = ranges
        self._free = ranges
        self._lock = threading.Lock()

    @contextmanager
    def lend(self, wanted: int) -> Iterator[int]:
        with self._lock:
            got = min(wanted, self._free)
            self._free -= got
        try:
            yield got
        finally:
            with self._lock:
                self._free += got


class Known(BaseSubscriber):
    """Hands s3transfer the size and ETag already read, so it sends no HeadObject of its own
    (and still sends ``If-Match`` with each range)."""

    def __init__(self, size: int, etag: str | None) -> None:
        self._size, self._etag = size, etag

    def on_queued(self, future: Any, **_: Any) -> None:
        future.meta.provide_transfer_size(self._size)
        future.meta.provide_object_etag(self._etag)


class InOrder:
    """Hides ``seek`` from the transfer manager, which then writes ranges in order (holding
    early ones in memory, within the bounds of :func:`download_config`)."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._fileobj = fileobj

    def write(self, data: bytes) -> int:
        return self._fileobj.write(data)


def ranged(
    client: S3Client,
    config: TransferConfig,
    bucket: str,
    key: str,
    fileobj: BinaryIO,
    size: int,
    etag: str | None,
) -> None:
    """Fetch the object of ``size`` bytes and ``etag`` as ranged GETs (see
    :func:`download_config`), written in order into ``fileobj``. A write that raises (the
    cfile's size passed, Ctrl-C) ends the download: the ranges under way stop at their next
    piece, and no other range is asked for (:class:`Abandoning`)."""
    from s3transfer.manager import TransferManager

    with TransferManager(client, config, executor_cls=Abandoning) as manager:
        manager.download(
            bucket, key, cast(Any, InOrder(fileobj)), subscribers=[Known(size, etag)]
        ).result()


class Abandoned(Exception):
    """A range not fetched: its download had already failed or been cancelled."""


class Abandoning(ThreadPoolExecutor):
    """The transfer manager's thread pools, refusing the ranges of a download that has already
    ended (failed, or cancelled by Ctrl-C).

    s3transfer submits one task per range of the object whatever happens meanwhile; those of an
    ended download return at once, but at about 100 µs each an object that claims terabytes
    keeps the manager busy for minutes after Ctrl-C. Refusing the next one ends that loop:
    s3transfer records the first error, not this one.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        from s3transfer.download import GetObjectTask

        coordinator = getattr(fn, "_transfer_coordinator", None)
        if isinstance(fn, GetObjectTask) and coordinator is not None and coordinator.done():
            raise Abandoned("the download has ended")
        return super().submit(fn, *args, **kwargs)


def no_second_sha256(context: dict[str, Any], **_: Any) -> None:
    """``before-call`` of GetObject: botocore would check a whole-object body against S3's
    SHA256 by hashing every byte in the thread that reads them, a second sha256 beside the
    engine's (with the same value, for the objects cavorite uploads); :class:`WholeSha256`
    makes that check with the sink's sha256 instead. Other algorithms (a CRC32 that another
    client had S3 keep) are still checked by botocore. (Returns None: a value returned here
    would be taken for the response.)"""
    checksum = context.get("checksum", {})
    algorithms = checksum.get("response_algorithms")
    if algorithms:
        checksum["response_algorithms"] = [a for a in algorithms if a != "sha256"]


class WholeSha256:
    """S3's SHA256 of the whole object, from a GetObject of all of it, to compare with what was
    written into ``fileobj``: through :attr:`sink`, which hashes only where ``fileobj`` does not
    (the engine's :class:`HashingWriter` does, for its own check against the cfile)."""

    def __init__(self, expected: bytes, fileobj: BinaryIO) -> None:
        self.expected = expected
        self.sink: BinaryIO = fileobj
        self._sha256: Callable[[], str]
        own: object = fileobj
        if isinstance(own, HashingWriter):
            self._sha256 = own.hexdigest
        else:
            digest = hashlib.sha256()
            self._sha256 = digest.hexdigest
            self.sink = cast(BinaryIO, _Hashing(fileobj, digest))

    @classmethod
    def of(cls, response: GetObjectOutputTypeDef, fileobj: BinaryIO) -> WholeSha256 | None:
        """The check of ``response``'s object; None where S3 keeps no SHA256 of all of it (a
        multipart upload's checksum is one of its parts' checksums: ``...-N``)."""
        value = response.get("ChecksumSHA256")
        if not value or "-" in value:
            return None
        return cls(base64.b64decode(value), fileobj)

    def verify(self) -> None:
        """Raise botocore's ``FlexibleChecksumError`` if the bytes written are not the object's
        (damaged on the way), as its own check of the body does."""
        if bytes.fromhex(self._sha256()) != self.expected:
            raise bex.FlexibleChecksumError(
                error_msg="the bytes received do not match the object's SHA256 checksum"
            )


class _Hashing:
    """``fileobj``, hashing what it accepts into ``digest``."""

    def __init__(self, fileobj: BinaryIO, digest: Any) -> None:
        self._fileobj, self._digest = fileobj, digest

    def write(self, data: bytes) -> int:
        n = self._fileobj.write(data)
        self._digest.update(memoryview(data)[:n])
        return n
