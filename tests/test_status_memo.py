"""Status answers from the state cache a directory at a time; a cfile it remembers is trusted
only as far as the cfile memo's rules allow: one edited in place, replaced by a checkout of
another version (same size and mtime) or touched is read again, and so is one written in the
clock tick it was read in."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

import cavorite_py
from cavorite_py import metadata
from cavorite_py.results import Outcome
from cavorite_py.state import RACY_NS, StateDB
from tests.fixtures.repos import git

HOUR_NS = 3600 * 10**9


def age(path: Path, ns: int = HOUR_NS) -> None:
    then = time.time_ns() - ns
    os.utime(path, ns=(then, then))


def same_times(path: Path, like: os.stat_result) -> None:
    os.utime(path, ns=(like.st_atime_ns, like.st_mtime_ns))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", ".")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    cavorite_py.init(root, backend_address=(tmp_path / "objects").as_uri(), key_scheme="versioned")
    return root


def upload(root: Path, data: bytes, name: str = "d/a.bin") -> Path:
    """``name`` holding ``data``, uploaded, committed, and both files dated an hour ago."""
    artifact = root / name
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(data)
    # a date with all nine digits of nanoseconds: every version's cfile has the same size
    then = (time.time_ns() - 2 * HOUR_NS) // 10**9 * 10**9 + 123_456_789
    os.utime(artifact, ns=(then, then))
    with cavorite_py.Repo.find(root) as repo:
        assert repo.upload([artifact]).ok
    cfile = artifact.with_name(artifact.name + ".cfile")
    git(root, "add", "-A", ".")
    git(root, "commit", "-q", "-m", name)
    for path in (artifact, cfile):
        age(path)
    return cfile


def status(root: Path) -> dict[str, tuple[Outcome, str | None]]:
    with cavorite_py.Repo.find(root) as repo:
        report = repo.status()
        return {r.path.name: (r.outcome, r.checksum) for r in report.results}


def warmed(root: Path, cfile: Path, reads: list[Path]) -> None:
    """Status has learnt the cfile, and a later status reads nothing."""
    checksum = metadata.read(cfile).checksum
    status(root)
    reads.clear()
    assert status(root) == {"a.bin": (Outcome.UP_TO_DATE, checksum)}
    assert reads == []


def test_every_known_file_is_answered_without_reading_it(root: Path, reads: list[Path]) -> None:
    names = [f"d{i % 2}/f{i}.bin" for i in range(6)]
    cfiles = [upload(root, b"content %d" % i, name) for i, name in enumerate(names)]
    checksums = {metadata.read(c).checksum for c in cfiles}
    status(root)
    reads.clear()
    with cavorite_py.Repo.find(root) as repo:
        results = list(repo.status().results)
        assert (repo.state.hits, repo.state.misses) == (0, 0)  # nothing hashed either
    assert [r.path for r in results] == [root / n for n in sorted(names)]
    assert {r.outcome for r in results} == {Outcome.UP_TO_DATE}
    assert reads == []
    assert {r.checksum for r in results} == checksums


def test_a_checkout_of_another_version_with_the_same_size_and_mtime_is_read(
    root: Path, reads: list[Path]
) -> None:
    cfile = upload(root, b"version 1")
    first = metadata.read(cfile).checksum
    second_cfile = upload(root, b"version 2")
    assert second_cfile == cfile
    warmed(root, cfile, reads)
    before = cfile.stat()
    git(root, "checkout", "-q", "HEAD~1", "--", "d/a.bin.cfile")
    same_times(cfile, before)
    after = cfile.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    # the artifact holds version 2, which cavorite uploaded: retrieve replaces it
    assert status(root) == {"a.bin": (Outcome.OUTDATED, first)}
    assert reads == [cfile]


def test_a_cfile_edited_in_place_with_its_old_size_and_mtime_is_read(
    root: Path, reads: list[Path]
) -> None:
    cfile = upload(root, b"content")
    warmed(root, cfile, reads)
    before = cfile.stat()
    other = hashlib.sha256(b"other").hexdigest()
    text = cfile.read_text().replace(json.loads(cfile.read_text())["checksum"], other)
    with open(cfile, "r+", encoding="utf-8") as f:
        f.write(text)
    same_times(cfile, before)
    after = cfile.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert status(root)["a.bin"][1] == other
    assert reads == [cfile]


def test_a_touched_cfile_is_read_again(root: Path, reads: list[Path]) -> None:
    cfile = upload(root, b"content")
    warmed(root, cfile, reads)
    age(cfile, 60 * 10**9)
    assert status(root)["a.bin"][0] is Outcome.UP_TO_DATE
    assert reads == [cfile]


def test_a_cfile_read_in_the_tick_it_was_written_is_read_every_time(
    root: Path, reads: list[Path]
) -> None:
    cfile = upload(root, b"content")
    age(cfile, RACY_NS // 4)
    status(root)
    status(root)
    assert reads == [cfile, cfile]


def test_an_artifact_changed_with_its_old_size_and_mtime_is_modified(root: Path) -> None:
    cfile = upload(root, b"content")
    status(root)
    artifact = root / "d" / "a.bin"
    before = artifact.stat()
    with open(artifact, "r+b") as f:
        f.write(b"CONTENT")
    same_times(artifact, before)
    assert status(root)["a.bin"] == (Outcome.MODIFIED, metadata.read(cfile).checksum)


def test_known_cfile_trusts_what_cfile_would_read(root: Path, reads: list[Path]) -> None:
    """The public memo: the content for the stat it was read with, None for any other."""
    cfile = upload(root, b"content")
    cache = StateDB(root)
    meta = cache.cfile(cfile)
    assert cache.known_cfile(cfile, os.lstat(cfile)) == meta
    before = cfile.stat()
    cfile.write_bytes(cfile.read_bytes())  # rewritten, same size
    same_times(cfile, before)
    assert cache.known_cfile(cfile, os.lstat(cfile)) is None
    cache.close()
    assert reads == [cfile]


def test_an_orphan_is_found_among_tracked_files_of_its_directory(root: Path) -> None:
    """The .gitignore's directory is listed once: files whose cfile it holds are skipped, the
    one whose cfile is gone is still orphaned."""
    cfiles = [upload(root, b"content %d" % i, f"d/f{i}.bin") for i in range(4)]
    cfiles[2].unlink()
    found = status(root)
    assert found["f2.bin"][0] is Outcome.ORPHANED
    assert [found[f"f{i}.bin"][0] for i in (0, 1, 3)] == [Outcome.UP_TO_DATE] * 3
