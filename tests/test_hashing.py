"""Streaming sha256 of files and of bytes passing through a writer."""

from __future__ import annotations

import array
import hashlib
import io
import os
import shutil
import weakref
from pathlib import Path
from typing import Any

import pytest

from cavorite_py import hashing
from cavorite_py.errors import IntegrityError
from cavorite_py.hashing import CHUNK, OVERLAP_MIN, HashingWriter, hash_file

EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 12345])
def test_hash_file_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert hash_file(path) == (hashlib.sha256(data).hexdigest(), size)


def test_hash_of_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e").write_bytes(b"")
    assert hash_file(tmp_path / "e") == (EMPTY_SHA, 0)


def test_hash_file_reads_in_chunks_never_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    path.write_bytes(os.urandom(3 * CHUNK + 7))
    reads: list[int] = []
    real_open = open

    class Spy:
        def __init__(self, f: Any) -> None:
            self.f = f

        def __enter__(self) -> Spy:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

        def readinto(self, buf: Any) -> int:
            reads.append(len(buf))
            n: int = self.f.readinto(buf)
            return n

        def read(self, *args: Any) -> bytes:
            raise AssertionError("hash_file must not read(): it reads into one reused buffer")

        def fileno(self) -> int:
            fd: int = self.f.fileno()
            return fd

    monkeypatch.setattr(hashing, "open", lambda *a, **k: Spy(real_open(*a, **k)), raising=False)
    digest, size = hash_file(path)
    assert size == 3 * CHUNK + 7
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert reads and max(reads) <= CHUNK
    assert len(reads) >= 4


def test_hash_file_of_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        hash_file(tmp_path / "missing")


# --------------------------------------------------------------------- HashingWriter


def test_writer_hashes_counts_and_passes_everything_on() -> None:
    target = io.BytesIO()
    progress: list[int] = []
    writer = HashingWriter(target, progress.append)
    parts: list[bytes | bytearray | memoryview] = [
        b"abc",
        bytearray(b"def"),
        memoryview(b"ghij"),
        b"",
    ]
    for part in parts:
        assert writer.write(part) == len(part)
    assert target.getvalue() == b"abcdefghij"
    assert writer.hexdigest() == hashlib.sha256(b"abcdefghij").hexdigest()
    assert writer.size == 10
    assert sum(progress) == 10


def test_writer_of_nothing_has_the_empty_hash() -> None:
    writer = HashingWriter(io.BytesIO())
    assert (writer.hexdigest(), writer.size) == (EMPTY_SHA, 0)


def test_writer_is_a_non_seekable_write_only_stream() -> None:
    writer = HashingWriter(io.BytesIO())
    assert writer.writable()
    assert not writer.seekable()
    assert not writer.readable()
    with pytest.raises(OSError):
        writer.seek(0)


def test_writer_works_with_copyfileobj_in_large_pieces() -> None:
    data = os.urandom(3 * CHUNK + 5)
    target = io.BytesIO()
    writer = HashingWriter(target)
    shutil.copyfileobj(io.BytesIO(data), writer, CHUNK)
    assert target.getvalue() == data
    assert writer.hexdigest() == hashlib.sha256(data).hexdigest()
    assert writer.size == len(data)


def test_writer_counts_bytes_not_items_of_a_typed_buffer() -> None:
    words = array.array("I", [1, 2, 3, 4])
    progress: list[int] = []
    target = io.BytesIO()
    writer = HashingWriter(target, progress.append)
    assert writer.write(memoryview(words)) == len(words.tobytes())
    assert writer.size == len(words.tobytes()) == sum(progress)
    assert writer.hexdigest() == hashlib.sha256(words.tobytes()).hexdigest()


class ShortWriter:
    """A raw sink that accepts at most ``limit`` bytes per call, like a raw file or a pipe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        accepted = bytes(data[: self.limit])
        self.data += accepted
        return len(accepted)


def test_writer_hashes_only_what_a_short_writing_target_accepted() -> None:
    target = ShortWriter(3)
    writer = HashingWriter(target)
    assert writer.write(b"abcdef") == 3
    assert writer.size == 3
    assert writer.hexdigest() == hashlib.sha256(bytes(target.data)).hexdigest()


def test_writer_with_a_retrying_caller_hashes_the_whole_stream() -> None:
    target = ShortWriter(4)
    writer = HashingWriter(target)
    data = os.urandom(1000)
    view = memoryview(data)
    while view:
        view = view[writer.write(view) :]
    assert bytes(target.data) == data
    assert writer.hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two cores, whatever the machine has, and no writer of another test still counted: one
    writer of large pieces overlaps."""
    monkeypatch.setattr(hashing, "cores", lambda: 2)
    monkeypatch.setattr(hashing, "_large_writers", weakref.WeakSet())


@pytest.mark.usefixtures("two_cores")
def test_a_large_piece_is_hashed_while_written_yet_only_what_was_accepted_counts() -> None:
    """Pieces from OVERLAP_MIN on are hashed on another thread during the write; a target that
    takes only part of one must still leave the digest of exactly the bytes it took."""
    data = os.urandom(3 * OVERLAP_MIN + 7)
    target = ShortWriter(OVERLAP_MIN + 3)
    writer = HashingWriter(target)
    view = memoryview(data)
    while view:
        view = view[writer.write(view) :]
    assert bytes(target.data) == data
    assert writer.hexdigest() == hashlib.sha256(data).hexdigest()
    assert writer.size == len(data)


@pytest.mark.usefixtures("two_cores")
def test_a_target_that_fails_a_large_write_leaves_the_digest_as_it_was() -> None:
    class Full:
        def write(self, data: bytes | bytearray | memoryview) -> int:
            raise OSError(28, "No space left on device")

    writer = HashingWriter(Full())
    with pytest.raises(OSError):
        writer.write(os.urandom(OVERLAP_MIN))
    assert (writer.hexdigest(), writer.size) == (EMPTY_SHA, 0)


@pytest.mark.usefixtures("two_cores")
def test_large_pieces_are_hashed_on_another_thread_only_while_a_core_is_spare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One writer of large pieces hashes them on another thread; as many writers as cores each
    hash their own (every core is busy); when one is done, the other overlaps again. Small pieces
    never go to another thread."""
    handed: list[int] = []
    real = hashing._hashing_pool()

    class Counting:
        def submit(self, fn: Any, view: memoryview) -> Any:
            handed.append(len(view))
            return real.submit(fn, view)

    monkeypatch.setattr(hashing, "_hashing_pool", Counting)
    one, two = HashingWriter(io.BytesIO()), HashingWriter(io.BytesIO())
    piece = os.urandom(OVERLAP_MIN)
    one.write(b"small")
    one.write(piece)
    assert handed == [OVERLAP_MIN]  # alone: overlapped
    two.write(piece)
    one.write(piece)
    assert handed == [OVERLAP_MIN]  # two writers of large pieces on two cores: no hand-over
    assert two.hexdigest() == hashlib.sha256(piece).hexdigest()
    one.write(piece)
    assert handed == [OVERLAP_MIN, OVERLAP_MIN]  # the other is done: a core is spare again
    assert one.hexdigest() == hashlib.sha256(b"small" + 3 * piece).hexdigest()
    failed, last = HashingWriter(io.BytesIO()), HashingWriter(io.BytesIO())
    failed.write(piece)
    last.write(piece)
    assert len(handed) == 3  # the first alone, then two again
    del failed  # dropped without its digest read (a download that failed): it leaves too
    last.write(piece)
    assert len(handed) == 4 and last.hexdigest() == hashlib.sha256(2 * piece).hexdigest()


def test_writer_takes_no_byte_past_its_limit() -> None:
    target = io.BytesIO()
    writer = HashingWriter(target, limit=10, label="a.bin")
    writer.write(b"0123456")
    with pytest.raises(IntegrityError, match=r"^a\.bin: the store sent more than the 10 bytes"):
        writer.write(b"7890")
    assert target.getvalue() == b"0123456" and writer.size == 7
    writer.write(b"789")
    assert target.getvalue() == b"0123456789"


def test_writer_refuses_a_larger_announced_size_only() -> None:
    writer = HashingWriter(io.BytesIO(), limit=10, label="a.bin")
    writer.expect(10)
    writer.expect(3)
    with pytest.raises(IntegrityError, match=r"^a\.bin: the store holds 11 bytes where its cfile"):
        writer.expect(11)
    HashingWriter(io.BytesIO()).expect(1 << 60)


def test_writer_names_the_download_only_for_a_message() -> None:
    asked: list[int] = []

    def label() -> str:
        asked.append(1)
        return "data/x.bin"

    writer = HashingWriter(io.BytesIO(), limit=4, label=label)
    writer.write(b"abcd")
    assert asked == []
    with pytest.raises(IntegrityError, match=r"^data/x\.bin: the store sent more"):
        writer.write(b"e")
    with pytest.raises(IntegrityError, match=r"^data/x\.bin: the store holds 9 bytes"):
        writer.expect(9)
