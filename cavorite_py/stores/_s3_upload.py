"""How the S3 store reads the files it uploads: in pieces of 64 KiB, whoever asks for more.

botocore reads a request's body in pieces of 1 MiB: to hash it for the signature (over http
only) and to compute its checksum (the CRC32 of each part of a multipart upload: a header over
http; over https a trailer, the body sent in aws-chunked chunks of what each read returned).
Every part in flight so held 1 MiB pieces, and s3transfer sends up to ``max_concurrency`` parts
of each file, for every file being uploaded: the memory grew with the number of large files in
flight (six files of 64 MiB, 24 parts at once: about 40 MiB of peak RSS). A body that hands out
at most :data:`PIECE` bytes per read makes those loops read more often, not more at once: every
part in flight holds tens of KiB, the size of the file and of its parts does not matter, and even
128 parts at once (16 files times 8) stay within a few MiB.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3transfer.utils import OSUtils, ReadFileChunk

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from mypy_boto3_s3 import S3Client

    from .base import Progress

__all__ = ["PIECE", "SmallReads", "SmallReadsOSUtils", "multipart", "whole_file"]

PIECE = 64 * 1024
"""The most one read of an uploaded body returns: four times what urllib3 sends at once."""


class SmallReads(ReadFileChunk):
    """s3transfer's view of a part of a file, whose reads return at most :data:`PIECE` bytes
    (fewer than asked is allowed: every reader loops until the end). ``read()`` of everything
    keeps its meaning."""

    def read(self, amount: int | None = None) -> bytes:
        if amount is not None and amount > PIECE:
            amount = PIECE
        data: bytes = super().read(amount)
        return data


def whole_file(path: Path) -> SmallReads:
    """The file at ``path``, all of it as it is when opened, as the body of one PutObject."""
    body: SmallReads = SmallReads.from_filename(str(path), 0, sys.maxsize)
    return body


class SmallReadsOSUtils(OSUtils):
    """The file utilities of a transfer manager whose uploads read through :class:`SmallReads`."""

    def open_file_chunk_reader_from_fileobj(
        self,
        fileobj: Any,
        chunk_size: int,
        full_file_size: int,
        callbacks: Any,
        close_callbacks: Any = None,
    ) -> SmallReads:
        return SmallReads(
            fileobj,
            chunk_size,
            full_file_size,
            callbacks=callbacks,
            enable_callbacks=False,
            close_callbacks=close_callbacks,
        )


def multipart(
    client: S3Client,
    config: TransferConfig,
    path: Path,
    bucket: str,
    key: str,
    extra: dict[str, Any],
    progress: Progress | None,
) -> None:
    """boto3's ``upload_file`` of ``path`` as ``key``: a multipart upload by s3transfer's
    manager, its file read through :class:`SmallReads`. The manager (and boto3, for the
    progress callback) is imported here, by the first file large enough: a run of smaller files
    never imports them."""
    from boto3.s3.transfer import ProgressCallbackInvoker
    from s3transfer.manager import TransferManager

    subscribers = [ProgressCallbackInvoker(progress)] if progress else None
    with TransferManager(client, config, osutil=SmallReadsOSUtils()) as manager:
        manager.upload(str(path), bucket, key, extra_args=extra, subscribers=subscribers).result()
