"""The S3 store against moto_server: what it records, and the errors users really hit.

moto does not check a ``ChecksumSHA256`` against the body, so a corrupted single-part upload is
only shown to carry the checksum (S3 itself rejects a mismatch with ``BadDigest``).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cavorite_py.errors import (
    AccessDenied,
    ConfigError,
    IntegrityError,
    ObjectExists,
    ObjectNotFound,
    StoreDown,
    StoreError,
    StoreUnavailable,
)
from cavorite_py.hashing import HashingWriter
from cavorite_py.stores._s3_download import PIECE, download_config, ranged
from cavorite_py.stores.base import Store, StoreSettings
from cavorite_py.stores.s3 import S3Store
from tests.fixtures.cloud import S3_TEST_OPTIONS
from tests.fixtures.emulators import S3Emulator, isolated_env, running_moto
from tests.stores.support import make, race_for_one_key

MIB = 1 << 20


def open_s3(address: str, tmp_path: Path, **options: Any) -> S3Store:
    """The store, with the test options; a test that sets ``download_chunksize`` downloads every
    larger object as ranges of that size (unless it sets ``download_threshold`` too)."""
    if "download_chunksize" in options:
        options.setdefault("download_threshold", options["download_chunksize"])
    return S3Store(StoreSettings(address, {**S3_TEST_OPTIONS, **options}, tmp_path))


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert exc.value.__cause__ is not None  # the SDK's error is kept as the cause
    return message


def raw_name(store: Store, key: str) -> tuple[str, str]:
    assert isinstance(store, S3Store)
    return store.address.bucket, store.address.key(key)


def test_sha256_is_metadata_and_single_part_uploads_carry_s3s_checksum(
    s3_store: Store, s3_emulator: S3Emulator, tmp_path: Path
) -> None:
    path, info = make(tmp_path, b"checked content")
    s3_store.put("small.bin", path, info)
    bucket, name = raw_name(s3_store, "small.bin")
    head = s3_emulator.client().head_object(Bucket=bucket, Key=name, ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == info.sha256
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(info.sha256 or "")).decode()
    assert s3_store.stat("small.bin") == info


@pytest.mark.parametrize("sink", ["hashing", "plain"])
@pytest.mark.parametrize("threshold", [8 * MIB, MIB], ids=["one-get", "ranges"])
def test_s3s_sha256_of_the_object_is_checked_against_the_bytes_written(
    s3_emulator: S3Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sink: str,
    threshold: int,
) -> None:
    """S3's SHA256 of the whole object comes with its first GET and is compared with what was
    written, whether it came as one body or as ranges: with the engine's own sha256 where the
    sink keeps one (botocore does not hash the body a second time), else hashed by the store.
    moto stores the checksum an upload declares without checking it: a wrong one stands for
    bytes damaged on the way."""
    isolated_env(monkeypatch, s3_emulator)
    bucket = s3_emulator.new_bucket()
    store = open_s3(
        f"{s3_emulator.endpoint}/{bucket}",
        tmp_path,
        download_chunksize=MIB,
        download_threshold=threshold,
    )
    data = os.urandom(3 * MIB + 5)
    store.put("right.bin", *make(tmp_path, data))
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    s3_emulator.client().put_object(
        Bucket=bucket, Key="wrong.bin", Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=wrong
    )

    def target() -> _Sink | HashingWriter:
        return HashingWriter(_Sink()) if sink == "hashing" else _Sink()

    right = target()
    store.get("right.bin", right)  # type: ignore[arg-type]
    if isinstance(right, HashingWriter):
        assert right.hexdigest() == hashlib.sha256(data).hexdigest()
    with pytest.raises(StoreError) as exc:
        store.get("wrong.bin", target())  # type: ignore[arg-type]
    assert "do not match the object's checksum" in one_line(exc)
    body = store._client().get_object(Bucket=bucket, Key="right.bin")["Body"]
    with body:
        # the body as sent: no second sha256 of it by botocore
        assert type(body).__name__ == "StreamingBody"


def test_large_uploads_are_multipart_and_still_conditional(
    s3_store: Store, s3_emulator: S3Emulator, tmp_path: Path
) -> None:
    first, first_info = make(tmp_path, os.urandom(6 * MIB))
    second, second_info = make(tmp_path, os.urandom(6 * MIB + 1))
    s3_store.put("big.bin", first, first_info)
    bucket, name = raw_name(s3_store, "big.bin")
    assert "-" in s3_emulator.client().head_object(Bucket=bucket, Key=name)["ETag"]  # multipart
    with pytest.raises(ObjectExists):
        s3_store.put("big.bin", second, second_info)
    assert s3_store.stat("big.bin") == first_info
    s3_store.put("big.bin", second, second_info, overwrite=True)
    assert s3_store.stat("big.bin") == second_info


@pytest.mark.parametrize("size", [900_000, 11 * MIB + 3])  # one PutObject, three parts
def test_uploads_read_the_file_in_small_pieces(
    s3_store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, size: int
) -> None:
    """botocore asks a body for 1 MiB at a time (to sign it over http, to checksum a part): it
    gets at most 64 KiB, so parts in flight hold little memory; the object is still whole and
    progress still counts every byte once."""
    from s3transfer.utils import ReadFileChunk

    reads: list[int] = []
    original = ReadFileChunk.read

    def read(chunk: ReadFileChunk, amount: int | None = None) -> bytes:
        data: bytes = original(chunk, amount)
        reads.append(len(data))
        return data

    monkeypatch.setattr(ReadFileChunk, "read", read)
    data = os.urandom(size)
    progress: list[int] = []
    s3_store.put("pieces.bin", *make(tmp_path, data), progress=progress.append)
    assert 0 < max(reads) <= 64 * 1024
    assert sum(progress) == size
    sink = _Sink()
    s3_store.get("pieces.bin", sink)  # type: ignore[arg-type]
    assert bytes(sink.data) == data


def test_racing_writers_of_one_key_cannot_both_win(s3_store: Store, tmp_path: Path) -> None:
    won, files = race_for_one_key(s3_store, tmp_path)
    assert len(won) == 1
    assert s3_store.stat("race.bin") == files[won[0]][1]


def test_missing_bucket(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(f"{s3_emulator.endpoint}/no-such-bucket/p", tmp_path)
    path, info = make(tmp_path, b"x")
    for call in (
        lambda: store.put("a.bin", path, info),
        lambda: store.stat("a.bin"),
        lambda: list(store.list("")),
        lambda: store.get("a.bin", io.BytesIO()),
    ):
        with pytest.raises(StoreDown) as exc:
            call()
        assert "bucket 'no-such-bucket' does not exist" in one_line(exc)
        assert "backend_address" in str(exc.value)


def test_no_credentials(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch)
    store = open_s3(f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}", tmp_path)
    with pytest.raises(AccessDenied) as exc:
        store.stat("a.bin")
    assert "no credentials" in one_line(exc)
    assert "AWS_ACCESS_KEY_ID" in str(exc.value)


def test_unknown_profile(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    store = open_s3(f"{s3_emulator.endpoint}/some-bucket", tmp_path)
    with pytest.raises(AccessDenied) as exc:
        store.stat("a.bin")
    assert "AWS_PROFILE" in one_line(exc)


Locked = tuple[S3Emulator, str, dict[str, str]]


@pytest.fixture(scope="module")
def locked_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Locked]:
    """A moto_server that checks credentials after its first three requests, with a bucket and
    an IAM user who has no permission on it."""
    auth_after_three = {"INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    with running_moto(tmp_path_factory.mktemp("moto-auth"), auth_after_three) as emulator:
        emulator.client().create_bucket(Bucket="locked")
        import boto3

        iam = boto3.session.Session().client(
            "iam",
            endpoint_url=emulator.endpoint,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
        )
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        yield (
            emulator,
            "locked",
            {
                "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            },
        )


def test_access_denied(
    locked_s3: Locked,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emulator, bucket, credentials = locked_s3
    isolated_env(monkeypatch)
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)
    store = open_s3(f"{emulator.endpoint}/{bucket}", tmp_path)
    path, info = make(tmp_path, b"x")
    for call in (lambda: store.put("a.bin", path, info), lambda: store.stat("a.bin")):
        with pytest.raises(AccessDenied) as exc:
            call()
        message = one_line(exc)
        assert "refused" in message
        assert "bucket policy" in message
        assert credentials["AWS_SECRET_ACCESS_KEY"] not in message


def test_unknown_access_key(
    locked_s3: Locked,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emulator, bucket, _ = locked_s3
    isolated_env(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = open_s3(f"{emulator.endpoint}/{bucket}", tmp_path)
    with pytest.raises(AccessDenied) as exc:
        store.list("").__next__()
    assert "InvalidAccessKeyId" in one_line(exc)
    assert "not-the-secret" not in str(exc.value)


def test_unreachable_endpoint_fails_fast(
    closed_endpoint: str,
    s3_emulator: S3Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(f"{closed_endpoint}/bucket", tmp_path)  # default timeouts and retries
    path, info = make(tmp_path, b"x")
    started = time.monotonic()
    with pytest.raises(StoreDown) as exc:  # no connection: every request would fail
        store.put("a.bin", path, info)
    assert time.monotonic() - started < 15
    assert f"cannot reach {closed_endpoint}/bucket" in one_line(exc)


def test_silent_endpoint_times_out(
    silent_endpoint: str,
    s3_emulator: S3Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(f"{silent_endpoint}/bucket", tmp_path, read_timeout=1, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as exc:
        store.stat("a.bin")
    assert time.monotonic() - started < 10
    assert not isinstance(exc.value, StoreDown)  # connected: a failure of this request
    assert "cannot reach" in one_line(exc)


@pytest.mark.parametrize(
    ("address", "options"),
    [
        ("s3:/bucket", {}),
        ("ftp://host/bucket", {}),
        ("s3://bucket", {"multipart_threshold": "big"}),
        ("s3://bucket", {"download_threshold": 0}),
        ("s3://bucket", {"read_timeout": 0}),
    ],
)
def test_malformed_settings(address: str, options: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        S3Store(StoreSettings(address, options, tmp_path))


def test_download_settings_bound_memory(tmp_path: Path) -> None:
    store = open_s3("s3://bucket", tmp_path)
    assert (store.download_chunksize, store.download_window) == (16 * MIB, 3)
    assert store.download_threshold == 256 * MIB  # larger objects only are fetched as ranges
    config = store.download_config(window=store.download_window)
    assert config.multipart_chunksize == 16 * MIB
    assert config.max_in_memory_download_chunks == 3
    assert config.max_io_queue_size == 4
    assert config.preferred_transfer_client == store.transfer.preferred_transfer_client == "classic"  # type: ignore[attr-defined]
    # what all downloads of the store hold together: ranges read ahead, plus a write queue each
    assert store.read_ahead.ranges * store.download_chunksize == 32 * MIB
    assert config.max_io_queue_size * config.io_chunksize == MIB
    tuned = open_s3(
        "s3://bucket",
        tmp_path,
        download_chunksize=4 * MIB,
        max_in_memory_download_chunks=8,
        download_memory_chunks=0,
    )
    assert tuned.read_ahead.ranges == 0
    config = tuned.download_config(window=tuned.download_window)
    assert (config.multipart_chunksize, config.max_in_memory_download_chunks) == (4 * MIB, 8)
    assert config.max_request_concurrency == 4  # S3_TEST_OPTIONS' max_concurrency, the lower


@pytest.mark.parametrize(
    "options",
    [
        {"download_chunksize": 0},
        {"max_in_memory_download_chunks": "many"},
        {"download_memory_chunks": -1},
    ],
)
def test_malformed_download_settings(options: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        open_s3("s3://bucket", tmp_path, **options)


def test_ranges_that_arrive_early_are_held_within_the_window(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The first range is held back, so every later one arrives first and waits in memory: never
    more than the window allows (s3transfer's own default would hold nine 1 MiB ranges)."""
    from s3transfer.download import DeferQueue

    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        download_chunksize=MIB,
        max_in_memory_download_chunks=3,
    )
    data = os.urandom(10 * MIB + 5)
    store.put("big.bin", *make(tmp_path, data))

    held: list[int] = []
    # the stubs type the chunk as str
    original: Any = DeferQueue.request_writes

    def request_writes(queue: DeferQueue, offset: int, chunk: bytes) -> list[Any]:
        writes: list[Any] = original(queue, offset, chunk)
        held.append(sum(len(v) for v in queue._pending_offsets.values()))  # type: ignore[attr-defined, misc]
        return writes

    def slow_first_range(params: dict[str, Any], **_: Any) -> None:
        if str(params.get("Range", "")).startswith("bytes=0-"):
            time.sleep(1.0)

    monkeypatch.setattr(DeferQueue, "request_writes", request_writes)
    store._client().meta.events.register("before-parameter-build.s3.GetObject", slow_first_range)
    sink = _Sink()
    store.get("big.bin", sink)  # type: ignore[arg-type]
    assert bytes(sink.data) == data
    assert max(held) <= 2 * MIB  # (window - 1) ranges
    assert max(held) >= MIB  # the test did make ranges wait


class _Sink:
    """Write-only, like the engine's hashing writer."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes | bytearray | memoryview, /) -> int:
        self.data += chunk
        return len(chunk)


class _CutShort:
    """Breaks the bodies of GetObject responses after ``at`` bytes (each body is read up to that
    point, then raises as a reset connection does): the first body to get there if ``once``,
    else every one. ``on_cut`` runs just before the body breaks."""

    def __init__(
        self,
        store: S3Store,
        at: int = 100_000,
        once: bool = True,
        on_cut: Callable[[], None] = lambda: None,
    ) -> None:
        self.at, self.cuts = at, 0
        self._once, self._on_cut = once, on_cut
        self._lock = threading.Lock()
        store._client().meta.events.register("after-call.s3.GetObject", self._wrap)

    def _wrap(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Body" in parsed:
            parsed["Body"] = _Breaking(parsed["Body"], self)

    def may_cut(self) -> bool:
        """Whether a body that reached ``at`` bytes breaks now; atomic: when ``once``, exactly
        one body breaks even if the ranges of an object are fetched by several threads."""
        with self._lock:
            if self._once and self.cuts:
                return False
            self.cuts += 1
        self._on_cut()
        return True


class _Breaking:
    def __init__(self, body: Any, cut: _CutShort) -> None:
        self._body, self._cut, self._sent = body, cut, 0

    def read(self, amount: int | None = None) -> bytes:
        from botocore.exceptions import ResponseStreamingError

        if self._sent == self._cut.at and self._cut.may_cut():  # what came before was handed on
            self._body.close()
            raise ResponseStreamingError(error="Connection broken: reset by the test")
        wanted = amount or 65536
        if self._sent < self._cut.at:
            wanted = min(wanted, self._cut.at - self._sent)
        chunk = self._body.read(wanted)
        self._sent += len(chunk)
        return bytes(chunk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._body, name)


@pytest.mark.parametrize("size", [300_000, 3 * MIB + 7])  # one range, and several
def test_a_body_cut_short_is_fetched_again_without_repeating_bytes(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, size: int
) -> None:
    """A GET whose body breaks off is retried from its first byte not yet written (by the
    store for an object of one GET, by s3transfer for a range): the bytes already passed on
    are not written a second time into the engine's non-seekable file."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        download_chunksize=MIB,
    )
    data = os.urandom(size)
    store.put("cut.bin", *make(tmp_path, data))
    cut = _CutShort(store)
    gets = _gets(store)
    sink = _Sink()
    store.get("cut.bin", sink)  # type: ignore[arg-type]
    assert cut.cuts == 1
    assert len(sink.data) == size
    assert bytes(sink.data) == data
    if size <= MIB:  # the same object (If-Match its ETag) from where the body broke off
        etag = s3_emulator.client().head_object(
            Bucket=store.address.bucket, Key=store.address.key("cut.bin")
        )["ETag"]
        assert gets == [("cut.bin", None, None), ("cut.bin", "bytes=100000-", etag)]


def test_an_object_of_one_range_is_one_get_streamed_in_pieces(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No HeadObject, one GetObject, its body written a piece at a time (never the whole object
    in memory), and none of the store's read-ahead budget taken."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        download_chunksize=3 * MIB,
    )
    data = {"empty.bin": b"", "small.bin": os.urandom(300_000), "full.bin": os.urandom(3 * MIB)}
    for key, content in data.items():
        store.put(key, *make(tmp_path, content))
    sent = _requests(store)

    class Pieces(_Sink):
        def write(self, chunk: bytes | bytearray | memoryview, /) -> int:
            assert len(chunk) <= PIECE
            with store.read_ahead.lend(99) as free:
                assert free == store.read_ahead.ranges
            return super().write(chunk)

    for key, content in data.items():
        sink = Pieces()
        store.get(key, sink)  # type: ignore[arg-type]
        assert bytes(sink.data) == content
    assert sent == Counter({("GetObject", key): 1 for key in data})


def test_an_object_of_several_ranges_costs_one_get_more_than_its_ranges(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The first GET, closed unread, tells the size and ETag that a HeadObject would; then one
    GET per range, each bound to that ETag."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        download_chunksize=MIB,
    )
    data = os.urandom(3 * MIB + 1)
    store.put("big.bin", *make(tmp_path, data))
    gets = _gets(store)
    sent = _requests(store)
    sink = _Sink()
    store.get("big.bin", sink)  # type: ignore[arg-type]
    assert bytes(sink.data) == data
    assert sent == Counter({("GetObject", "big.bin"): 5})
    assert gets[0] == ("big.bin", None, None)
    etag = s3_emulator.client().head_object(
        Bucket=store.address.bucket, Key=store.address.key("big.bin")
    )["ETag"]
    ranges = {r for _, r, _ in gets[1:]}  # s3transfer leaves the last one open
    assert ranges == {
        "bytes=0-1048575",
        "bytes=1048576-2097151",
        "bytes=2097152-3145727",
        "bytes=3145728-",
    }
    assert {e for _, _, e in gets[1:]} == {etag}


def test_a_missing_object_costs_one_get(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}", tmp_path)
    store.stat("warm.bin")  # the bucket is known to exist: no probe after the 404
    sent = _requests(store)
    with pytest.raises(ObjectNotFound) as exc:
        store.get("absent.bin", _Sink())  # type: ignore[arg-type]
    assert "'absent.bin' is not in" in one_line(exc)
    assert sent == Counter({("GetObject", "absent.bin"): 1})


@pytest.mark.parametrize("size", [300_000, 3 * MIB + 7])  # one range, and several
def test_an_object_replaced_during_its_download_stops_it(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, size: int
) -> None:
    """Replaced after the first GET: the next GET (a resumed body, or the ranges) carries the
    first one's ETag, fails, and the download ends in a clear error. The file received only
    bytes of the first version, never any of the second."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        download_chunksize=MIB,
    )
    old, new = os.urandom(size), os.urandom(size)
    store.put("moving.bin", *make(tmp_path, old))
    newer = make(tmp_path, new)

    def replace() -> None:
        store.put("moving.bin", *newer, overwrite=True)

    if size <= MIB:
        _CutShort(store, on_cut=replace)
    else:
        event = "after-call.s3.GetObject"

        def replace_after_first_get(**_: Any) -> None:
            store._client().meta.events.unregister(event, replace_after_first_get)
            replace()

        store._client().meta.events.register(event, replace_after_first_get)
    sink = _Sink()
    with pytest.raises(StoreError) as exc:
        store.get("moving.bin", sink)  # type: ignore[arg-type]
    assert "'moving.bin'" in one_line(exc)
    assert "changed while it was being downloaded" in str(exc.value)
    assert bytes(sink.data) == old[: len(sink.data)]


def test_a_body_that_keeps_breaking_ends_in_a_clear_error(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every body of an object of one GET breaks after 100 000 bytes: each resumed GET gets
    further, but after five the download fails as unreachable, having written only the
    object's own bytes, in order, each once."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        download_chunksize=MIB,
    )
    data = os.urandom(900_000)
    store.put("flaky.bin", *make(tmp_path, data))
    cut = _CutShort(store, once=False)
    sent = _requests(store)
    sink = _Sink()
    with pytest.raises(StoreUnavailable) as exc:
        store.get("flaky.bin", sink)  # type: ignore[arg-type]
    assert "cannot reach" in one_line(exc)
    assert cut.cuts == 5
    assert sent == Counter({("GetObject", "flaky.bin"): 5})
    assert bytes(sink.data) == data[:500_000]


class _Held:
    """Counts the bytes of ranges that arrived early and wait in memory, over all the downloads
    running at once (each has its own s3transfer DeferQueue)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from s3transfer.download import DeferQueue

        self.peak = 0
        self._by_queue: dict[int, int] = {}
        self._lock = threading.Lock()
        # the stubs type the chunk as str
        original: Any = DeferQueue.request_writes

        def request_writes(queue: DeferQueue, offset: int, chunk: bytes) -> list[Any]:
            with self._lock:  # one lock: the total is read consistently
                writes: list[Any] = original(queue, offset, chunk)
                pending = queue._pending_offsets.values()  # type: ignore[attr-defined]
                self._by_queue[id(queue)] = sum(len(v) for v in pending)
                self.peak = max(self.peak, sum(self._by_queue.values()))
            return writes

        monkeypatch.setattr(DeferQueue, "request_writes", request_writes)


def _gets(store: S3Store) -> list[tuple[str, str | None, str | None]]:
    """(key, Range, IfMatch) of every GetObject the store sends from now on, in order."""
    sent: list[tuple[str, str | None, str | None]] = []
    lock = threading.Lock()

    def record(params: dict[str, Any], **_: Any) -> None:
        with lock:
            sent.append(
                (params["Key"].rsplit("/", 1)[-1], params.get("Range"), params.get("IfMatch"))
            )

    store._client().meta.events.register("before-parameter-build.s3.GetObject", record)
    return sent


def _requests(store: S3Store) -> Counter[tuple[str, str]]:
    """(operation, key) of every HeadObject and GetObject the store sends from now on."""
    sent: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        with lock:
            sent[model.name, params["Key"].rsplit("/", 1)[-1]] += 1

    for op in ("HeadObject", "GetObject"):
        store._client().meta.events.register(f"before-parameter-build.s3.{op}", count)
    return sent


def test_downloads_at_once_share_one_memory_budget(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Six downloads run at once; the first range of every large one is held back, so all their
    other ranges would arrive early. Together they never hold more ranges than the store's
    budget (each file's own window would allow 3 x 4 = 12), every file arrives whole and in
    order, an object of one range is one GET, and a larger one a GET more than its ranges
    (the first, closed unread, tells its size instead of a HeadObject)."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        download_chunksize=MIB,
        max_in_memory_download_chunks=4,
        download_memory_chunks=2,
    )
    sizes = {
        "a.bin": 5 * MIB + 3,
        "b.bin": 6 * MIB,
        "c.bin": 4 * MIB + 1,
        "d.bin": 5 * MIB,
        "one.bin": MIB,
        "small.bin": 300_000,
    }
    data = {key: os.urandom(size) for key, size in sizes.items()}
    for key, content in data.items():
        store.put(key, *make(tmp_path, content))

    held = _Held(monkeypatch)
    sent = _requests(store)

    def slow_first_range(params: dict[str, Any], **_: Any) -> None:
        if (
            str(params.get("Range", "")).startswith("bytes=0-")
            and sizes[params["Key"].rsplit("/", 1)[-1]] > MIB
        ):
            time.sleep(0.5)

    store._client().meta.events.register("before-parameter-build.s3.GetObject", slow_first_range)
    start = threading.Barrier(len(data))

    def get(key: str) -> str:
        sink = _HashingSink()
        start.wait()
        store.get(key, sink)  # type: ignore[arg-type]
        return sink.sha256.hexdigest()

    with ThreadPoolExecutor(len(data)) as pool:
        got = dict(zip(data, pool.map(get, data), strict=True))
    assert got == {key: hashlib.sha256(content).hexdigest() for key, content in data.items()}
    assert held.peak <= 2 * MIB  # the budget: 2 ranges
    assert held.peak >= MIB  # the test did make ranges wait
    for key, size in sizes.items():
        assert sent["HeadObject", key] == 0
        ranges = -(-size // MIB)
        assert sent["GetObject", key] == (1 if ranges == 1 else 1 + ranges)
    with store.read_ahead.lend(99) as free:
        assert free == 2  # all of it given back


@pytest.mark.parametrize("size", [MIB, 16 * MIB])  # one GET, and 16 ranges
def test_a_sink_that_fails_stops_the_download_and_returns_its_budget(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, size: int
) -> None:
    """The engine stops a download (Ctrl-C, a failed run) by raising from the file's write."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        download_chunksize=MIB,
        download_memory_chunks=1,
    )
    store.put("big.bin", *make(tmp_path, os.urandom(size)))
    sent = _requests(store)

    class Stopped(Exception):
        pass

    class Failing:
        def write(self, chunk: bytes) -> int:
            raise Stopped

    with pytest.raises(Stopped):
        store.get("big.bin", Failing())  # type: ignore[arg-type]
    assert sent["GetObject", "big.bin"] < (2 if size == MIB else 16)
    with store.read_ahead.lend(99) as free:
        assert free == 1


def test_a_full_disk_is_not_taken_for_a_broken_body(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An OSError from the file's write ends a one-GET download as it is, at once: only an
    error reading the body makes the store fetch the rest again."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}", tmp_path)
    store.put("small.bin", *make(tmp_path, os.urandom(300_000)))
    sent = _requests(store)

    class Full:
        def write(self, chunk: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as exc:
        store.get("small.bin", Full())  # type: ignore[arg-type]
    assert exc.value.errno == errno.ENOSPC
    assert sent == Counter({("GetObject", "small.bin"): 1})


def test_downloads_do_not_stall_when_response_checksums_are_validated_only_when_required(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With this setting s3transfer would fetch the first range instead of a HeadObject and wait
    forever for itself once an object has more ranges than the download's window."""
    isolated_env(monkeypatch, s3_emulator)
    monkeypatch.setenv("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        download_chunksize=MIB,
        download_memory_chunks=0,
    )
    assert store._client().meta.config.response_checksum_validation == "when_supported"  # type: ignore[attr-defined]
    data = os.urandom(3 * MIB + 1)
    store.put("big.bin", *make(tmp_path, data))
    sink = _Sink()
    store.get("big.bin", sink)  # type: ignore[arg-type]
    assert bytes(sink.data) == data


class _HashingSink:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()

    def write(self, chunk: bytes) -> int:
        self.sha256.update(chunk)
        return len(chunk)


def _operations(store: S3Store) -> Counter[str]:
    """How many requests of each operation the store sends from now on."""
    sent: Counter[str] = Counter()
    lock = threading.Lock()

    def count(model: Any, **_: Any) -> None:
        with lock:
            sent[model.name] += 1

    for conditional in (False, True):  # puts that must not overwrite use a client of their own
        store._client(conditional).meta.events.register("before-parameter-build.s3", count)
    return sent


def test_unchanged_files_are_recognised_from_one_listing(s3_store: Store, tmp_path: Path) -> None:
    """A listing shows each object's ETag; once the sha256 behind an ETag is known (from the
    put that created it, or one HeadObject), uploading the same files again costs one listing
    and nothing per file. An object rewritten meanwhile has a new ETag: it is looked at again,
    so different content is still refused."""
    from cavorite_py.engine import Engine
    from cavorite_py.results import Outcome
    from cavorite_py.state import StateDB
    from cavorite_py.upload import LIST_MIN_FILES
    from cavorite_py.workspace import Workspace

    assert isinstance(s3_store, S3Store)
    root = tmp_path / "repo"
    (root / ".cavorite").mkdir(parents=True)
    files = []
    for i in range(LIST_MIN_FILES):
        files.append(root / f"f{i:03}.bin")
        files[-1].write_bytes(b"%03d" % i * 100)
    ws = Workspace(root)

    def upload() -> tuple[list[Outcome], Counter[str]]:
        sent = _operations(s3_store)
        with contextlib.closing(StateDB(root)) as state:
            report = Engine(ws, lambda: s3_store, cache=state).upload(files)
        return [r.outcome for r in report.results], Counter(sent)

    outcomes, sent = upload()
    assert outcomes == [Outcome.UPLOADED] * LIST_MIN_FILES
    assert sent == {"ListObjectsV2": 1, "PutObject": LIST_MIN_FILES}
    outcomes, sent = upload()
    assert outcomes == [Outcome.ALREADY_STORED] * LIST_MIN_FILES
    assert sent == {"ListObjectsV2": 1}  # no HeadObject: the ETags are those of our puts

    bucket, name = raw_name(s3_store, "f007.bin")  # another writer, same size, other bytes
    other = b"x" * 300
    s3_store._client().put_object(
        Bucket=bucket, Key=name, Body=other, Metadata={"sha256": hashlib.sha256(other).hexdigest()}
    )
    outcomes, sent = upload()
    assert outcomes[7] is Outcome.FAILED
    assert outcomes[:7] + outcomes[8:] == [Outcome.ALREADY_STORED] * (LIST_MIN_FILES - 1)
    assert sent == {"ListObjectsV2": 1, "HeadObject": 1}


def test_a_forgotten_version_is_looked_up_once(s3_store: Store, tmp_path: Path) -> None:
    """Objects stored by someone else (or before the state cache existed) cost one HeadObject
    each the first time, and nothing after that."""
    from cavorite_py.engine import Engine
    from cavorite_py.results import Outcome
    from cavorite_py.state import StateDB
    from cavorite_py.upload import LIST_MIN_FILES
    from cavorite_py.workspace import Workspace

    assert isinstance(s3_store, S3Store)
    root = tmp_path / "repo"
    (root / ".cavorite").mkdir(parents=True)
    files = [root / f"f{i:03}.bin" for i in range(LIST_MIN_FILES)]
    for i, f in enumerate(files):
        f.write_bytes(b"%03d" % i * 100)
    ws = Workspace(root)
    assert Engine(ws, lambda: s3_store).upload(files).ok  # no state cache: nothing remembered
    for attempt in (1, 2):
        sent = _operations(s3_store)
        with contextlib.closing(StateDB(root)) as state:
            report = Engine(ws, lambda: s3_store, cache=state).upload(files)
        assert {r.outcome for r in report.results} == {Outcome.ALREADY_STORED}
        heads = LIST_MIN_FILES if attempt == 1 else 0
        assert Counter(sent) == Counter({"ListObjectsV2": 1, "HeadObject": heads}) - Counter()


def test_a_small_file_is_sent_without_waiting_for_100_continue(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """botocore sends a file object with ``Expect: 100-continue`` and waits a round trip for
    the server's interim answer before the body; a body below EXPECT_MIN goes with its
    headers, a larger one (still a single PutObject here) keeps the header, as do the parts of
    a multipart upload."""
    from cavorite_py.stores.s3 import EXPECT_MIN

    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        multipart_threshold=4 * MIB,
        multipart_chunksize=5 * MIB,
    )
    expect: dict[str, set[str | None]] = {}
    lock = threading.Lock()

    def headers(request: Any, **_: Any) -> None:
        value = request.headers.get("Expect")
        with lock:
            expect.setdefault(request.url.split("?")[0].rsplit("/", 1)[-1], set()).add(
                value.decode() if isinstance(value, bytes) else value
            )

    for conditional in (False, True):
        for op in ("PutObject", "UploadPart"):
            event = f"before-send.s3.{op}"
            store._client(conditional).meta.events.register(event, headers)
    data = {
        "small.bin": os.urandom(300_000),
        "below.bin": os.urandom(EXPECT_MIN - 1),
        "at.bin": os.urandom(EXPECT_MIN),
        "parts.bin": os.urandom(6 * MIB),
    }
    for key, content in data.items():
        store.put(key, *make(tmp_path, content))
        sink = _Sink()
        store.get(key, sink)  # type: ignore[arg-type]
        assert bytes(sink.data) == content
    assert expect == {
        "small.bin": {None},
        "below.bin": {None},
        "at.bin": {"100-continue"},
        "parts.bin": {"100-continue"},
    }


class _Untold(HashingWriter):
    """The engine's sink, deaf to the size S3 announces: only its limit on writes is left."""

    def expect(self, size: int) -> None:
        pass


@pytest.mark.parametrize("told", [True, False])
def test_a_ranged_download_stops_at_the_cfile_size(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, told: bool
) -> None:
    """An object of many ranges, larger than its cfile: refused from the first response's size,
    before any range is asked for; and, were that size not heard, stopped by the sink at the
    range that would go past the cfile's size, the other ranges abandoned."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(
        f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}",
        tmp_path,
        download_chunksize=256 << 10,
    )
    data = os.urandom(8 * MIB)
    store.put("big.bin", *make(tmp_path, data))
    sent = _requests(store)
    target = _Sink()
    limit = 300_000
    sink = (HashingWriter if told else _Untold)(target, limit=limit, label="big.bin")
    started = time.monotonic()
    with pytest.raises(IntegrityError, match=r"^big\.bin: the store "):
        store.get("big.bin", sink)  # type: ignore[arg-type]
    assert time.monotonic() - started < 5
    assert len(target.data) <= limit
    assert bytes(target.data) == data[: len(target.data)]
    if told:
        assert sent == Counter({("GetObject", "big.bin"): 1})
    else:
        assert sent[("GetObject", "big.bin")] < 1 + 32  # not every range of the object
    assert fetch_all(store, "big.bin") == data


def fetch_all(store: Store, key: str) -> bytes:
    sink = _Sink()
    store.get(key, sink)  # type: ignore[arg-type]
    return bytes(sink.data)


def test_a_ranged_download_that_fails_asks_for_no_more_ranges(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An object that claims 200,000 ranges (50 GB), whose first write raises, as the engine's
    sink does at Ctrl-C: the download ends at once instead of submitting every other range."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}", tmp_path)
    store.put("big.bin", *make(tmp_path, os.urandom(MIB)))
    info = store.stat("big.bin")
    assert info is not None

    class Interrupted(Exception):
        pass

    class Stopped:
        def write(self, chunk: bytes) -> int:
            raise Interrupted

    chunk = 256 << 10
    config = download_config(chunk, window=3, concurrency=2)
    bucket, name = raw_name(store, "big.bin")
    started = time.monotonic()
    with pytest.raises(Interrupted):
        ranged(
            store._client(),
            config,
            bucket,
            name,
            Stopped(),  # type: ignore[arg-type]
            200_000 * chunk,
            info.version,
        )
    assert time.monotonic() - started < 3


def test_a_large_file_is_one_request_each_way_by_default(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Below 256 MiB a file is one conditional PutObject that carries its SHA256, and one
    streamed GetObject: no multipart upload, no HeadObject, no ranges (measured faster on the
    emulator, with and without latency: benchmarks/s3_sweep.py)."""
    isolated_env(monkeypatch, s3_emulator)
    bucket = s3_emulator.new_bucket()
    store = S3Store(StoreSettings(f"{s3_emulator.endpoint}/{bucket}", {}, tmp_path))
    sent = _operations(store)
    data = os.urandom(17 * MIB)
    path, info = make(tmp_path, data)
    store.put("big.bin", path, info)
    sink = _Sink()
    store.get("big.bin", sink)  # type: ignore[arg-type]
    assert bytes(sink.data) == data
    assert sent == Counter({"PutObject": 1, "GetObject": 1})
    head = s3_emulator.client().head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(info.sha256 or "")).decode()
    assert "-" not in head["ETag"]
    with pytest.raises(ObjectExists):
        store.put("big.bin", *make(tmp_path, os.urandom(17 * MIB)))


def test_bodies_go_unsigned_under_a_signed_checksum(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Over http botocore would hash every body with SHA256 for the signature: an extra pass
    over the file. Each body is sent as UNSIGNED-PAYLOAD instead, with its checksum header (the
    file's SHA256 on a PutObject, a CRC32 on each part) among the signed headers, so S3 still
    refuses a body that does not match."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}", tmp_path)
    seen: dict[str, tuple[str, str]] = {}
    lock = threading.Lock()

    def headers(request: Any, event_name: str, **_: Any) -> None:
        def text(name: str) -> str:
            value = request.headers.get(name, b"")
            return value.decode() if isinstance(value, bytes) else str(value)

        with lock:
            seen[event_name.rsplit(".", 1)[1]] = (
                text("X-Amz-Content-SHA256"),
                text("Authorization"),
            )

    for conditional in (False, True):
        for op in ("PutObject", "UploadPart"):
            store._client(conditional).meta.events.register(f"before-send.s3.{op}", headers)
    store.put("one.bin", *make(tmp_path, os.urandom(300_000)))
    store.put("parts.bin", *make(tmp_path, os.urandom(6 * MIB)))
    for op, checksum in (("PutObject", "x-amz-checksum-sha256"), ("UploadPart", "x-amz-checksum")):
        payload, authorization = seen[op]
        assert payload == "UNSIGNED-PAYLOAD"
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        assert any(h.startswith(checksum) for h in signed), (op, signed)


def test_files_looked_up_at_once_probe_the_bucket_once(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A 404 on HeadObject does not tell a missing key from a missing bucket: the bucket is
    asked once, however many files find their key absent at the same moment."""
    isolated_env(monkeypatch, s3_emulator)
    store = open_s3(f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}", tmp_path)
    sent = _operations(store)
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(store.stat, [f"absent{i}.bin" for i in range(8)]))
    assert found == [None] * 8
    assert sent == Counter({"HeadObject": 8, "HeadBucket": 1})


SMALL_ONLY = """
import io, sys
from pathlib import Path
from cavorite_py.stores.base import StoreSettings
from cavorite_py.stores.s3 import S3Store
from tests.stores.support import make

def loaded():
    return sorted(m for m in ("boto3", "s3transfer.manager") if m in sys.modules)

tmp = Path(sys.argv[1])
store = S3Store(StoreSettings(sys.argv[2], {"multipart_threshold": 1 << 20}, tmp))
store.put("small.bin", *make(tmp, b"small" * 1000))
store.get("small.bin", io.BytesIO())
store.stat("small.bin")
print(loaded())
store.put("large.bin", *make(tmp, bytes(1 << 20)))
print(loaded())
"""


def test_objects_below_the_thresholds_import_no_boto3(
    s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """boto3 (its session, resource layer and the methods it attaches to every S3 client) and
    s3transfer's manager cost a run tens of milliseconds before its first byte: objects below
    the thresholds are moved with botocore alone; the first multipart upload imports them."""
    isolated_env(monkeypatch, s3_emulator)
    address = f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}"
    env = {**os.environ, "CAVORITE_ALLOW_ENDPOINT": s3_emulator.endpoint}
    result = subprocess.run(
        [sys.executable, "-c", SMALL_ONLY, str(tmp_path), address],
        cwd=Path(__file__).parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "['boto3', 's3transfer.manager']"]
