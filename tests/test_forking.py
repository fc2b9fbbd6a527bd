"""The state cache as a forked child sees it (forking.Recorder): what a file's work learns is
recorded for the parent, with the time it was learnt; anything else is the parent's."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from cavorite_py import metadata
from cavorite_py.errors import ParentOnly
from cavorite_py.forking import Recorder
from cavorite_py.metadata import Metadata
from cavorite_py.state import StateDB
from cavorite_py.stores.base import ObjectInfo


@pytest.fixture
def parents(tmp_path: Path) -> StateDB:
    (tmp_path / ".cavorite").mkdir()
    return StateDB(tmp_path)


def test_a_hash_is_recorded_with_the_time_before_the_file_was_read(
    tmp_path: Path, parents: StateDB
) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"content")
    st = os.lstat(path)
    recorder = Recorder(parents)

    before = time.time_ns()
    sha = recorder.file_sha256(path, st)
    after = time.time_ns()

    assert sha == hashlib.sha256(b"content").hexdigest()
    [(method, (where, seen, recorded, read_ns))] = recorder.take()
    assert (method, where, seen, recorded) == ("remember", path, st, sha)
    assert before <= read_ns <= after
    assert recorder.take() == []
    # replayed in the parent at that time: a file written just before is not trusted yet
    parents.remember(where, seen, recorded, read_ns)
    assert parents.lookup(path, st) is None
    parents.remember(where, seen, recorded, read_ns + 10_000_000_000)
    assert parents.lookup(path, st) == sha


def test_what_is_learnt_is_recorded_and_the_rest_is_the_parents(
    tmp_path: Path, parents: StateDB
) -> None:
    cfile = tmp_path / "a.bin.cfile"
    meta = Metadata("a.bin", "ab" * 32, "2024-01-01T00:00:00Z", 3, {})
    metadata.write(cfile, meta)
    recorder = Recorder(parents)

    assert recorder.cfile(cfile) == metadata.read(cfile)
    info = ObjectInfo(3, "ab" * 32)
    recorder.remember_object("store", "a.bin", info)
    assert recorder.take() == [("remember_object", ("store", "a.bin", info))]
    assert recorder.objects_holding("store", "ab" * 32) == []
    with pytest.raises(ParentOnly):
        recorder.placed(tmp_path / "a.bin")


def test_what_the_parents_cache_knows_is_asked_of_it(tmp_path: Path, parents: StateDB) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"content")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    st = os.lstat(path)
    sha = hashlib.sha256(b"content").hexdigest()
    parents.remember(path, st, sha)
    parents.remember_object("store", "a.bin", ObjectInfo(7, sha, "v1"))
    parents.close()
    # as in a child: the parent's rows read from its file, by a connection of the child's own
    reopened = StateDB(tmp_path)
    reopened.forked()
    recorder = Recorder(reopened)

    assert recorder.file_sha256(path, st) == sha
    assert recorder.lookup(path, st) == sha
    assert recorder.directory(tmp_path).sha256("a.bin", st) == sha
    assert recorder.object_sha256("store", "a.bin", ObjectInfo(7, None, "v1")) == sha
    assert recorder.object_sha256("store", "a.bin", ObjectInfo(7, None, "v2")) is None
    # nothing was read or hashed, so nothing was learnt
    assert recorder.take() == []
    path.write_bytes(b"changed")
    assert recorder.file_sha256(path, os.lstat(path)) == hashlib.sha256(b"changed").hexdigest()
    assert [method for method, _ in recorder.take()] == ["remember"]
