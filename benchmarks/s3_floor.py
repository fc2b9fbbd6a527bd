"""The S3 floor: a plain boto3 thread-pool loop against the same emulator, on the same files.

No hashing, no metadata files, no existence checks: the least any S3 client must do.

``put ROOT BUCKET``   every file under ROOT becomes the object of its relative path: one
                      ``PutObject`` per file below ``--multipart-threshold`` (256 MiB, as the
                      S3 store); above it boto3's own ``upload_file`` (multipart, with its
                      default concurrency).
``get ROOT BUCKET DST`` the object of every file under ROOT is fetched with one streaming
                      ``GetObject`` into the same relative path under DST (``--ranged``: boto3's
                      ``download_file`` with its default settings, parallel ranged GETs of 8 MiB
                      above 8 MiB).
``head ROOT BUCKET``  one ``HeadObject`` per file: what "is it already there?" costs per file.
``list ROOT BUCKET``  one paginated ``ListObjectsV2`` of the bucket: the batched alternative.

All modes run ``--threads`` files at once on one shared client (boto3 clients are thread-safe).
Prints one JSON object: files, bytes, requests, seconds (of the work, after the client is made).
Endpoint and credentials: ``--endpoint`` and the standard AWS environment variables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

CHUNK = 1 << 20
SKIP = frozenset({".git", ".cavorite"})


def walk(root: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP)
        for name in sorted(filenames):
            if name.endswith(".cfile") or name == ".gitignore":
                continue
            path = Path(dirpath) / name
            found.append((path, path.relative_to(root).as_posix()))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["put", "get", "head", "list"])
    parser.add_argument("root", type=Path, help="the files (their relative paths are the keys)")
    parser.add_argument("bucket")
    parser.add_argument("dst", type=Path, nargs="?", help="where get writes")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--ranged", action="store_true", help="get with download_file")
    parser.add_argument("--multipart-threshold", type=int, default=256 * CHUNK)
    args = parser.parse_args(argv)

    files = walk(args.root)
    client: Any = boto3.session.Session().client(
        "s3",
        endpoint_url=args.endpoint,
        config=Config(max_pool_connections=max(10, args.threads), s3={"addressing_style": "path"}),
    )
    transfer = TransferConfig(multipart_threshold=args.multipart_threshold)
    # boto3's defaults: ranges of 8 MiB above 8 MiB
    ranged = TransferConfig()
    bucket: str = args.bucket
    started = time.perf_counter()
    requests = 0

    def put(item: tuple[Path, str]) -> int:
        path, key = item
        size = path.stat().st_size
        if size >= args.multipart_threshold:
            client.upload_file(str(path), bucket, key, Config=transfer)
        else:
            with open(path, "rb") as f:
                client.put_object(Bucket=bucket, Key=key, Body=f)
        return size

    def get(item: tuple[Path, str]) -> int:
        _, key = item
        target = args.dst / key
        target.parent.mkdir(parents=True, exist_ok=True)
        if args.ranged:
            client.download_file(bucket, key, str(target), Config=ranged)
            return target.stat().st_size
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        size = 0
        with open(target, "xb") as f:
            while chunk := body.read(CHUNK):
                f.write(chunk)
                size += len(chunk)
        return size

    def head(item: tuple[Path, str]) -> int:
        size: int = client.head_object(Bucket=bucket, Key=item[1])["ContentLength"]
        return size

    if args.mode == "list":
        total = count = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            requests += 1
            for obj in page.get("Contents", []):
                total += obj["Size"]
                count += 1
        result = {"files": count, "bytes": total, "requests": requests}
    else:
        fn = {"put": put, "get": get, "head": head}[args.mode]
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            sizes = list(pool.map(fn, files))
        result = {"files": len(files), "bytes": sum(sizes), "requests": len(files)}
    result["seconds"] = time.perf_counter() - started
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
