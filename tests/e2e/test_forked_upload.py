"""An upload of many new files to the local store shares them between processes, one per core:
the objects, cfiles, .gitignore lines, the state cache's knowledge, the messages and the exit
code are what one process alone gives."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from cavorite_py.forking import FORK_FILES
from cavorite_py.state import StateDB
from tests.fixtures.repos import Cavorite, CliResult, git, tree

FILES = FORK_FILES + 20
IN_CHILD = re.compile(r": uploaded in a child process$", re.MULTILINE)
# a file's work done by the run's usual path (a file the state cache answers for logs nothing)
DEBUG = "cavorite: cavorite_py."
"""the start of a line of -vv's log"""
WORKED = re.compile(r": [a-z-]+ in [0-9.]+ s", re.MULTILINE)

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or len(os.sched_getaffinity(0)) < 2,
    reason="processes are forked only with two cores or more",
)

Make = Callable[[str], Path]


@pytest.fixture
def make(make_git_repo: Callable[..., Path], tmp_path: Path, cavorite: Cavorite) -> Make:
    """A new repository with a local store of its own, holding the same FILES small files
    (their modification times too: a cfile records them)."""
    master = tmp_path / "master"
    for i in range(FILES):
        path = master / "data" / f"d{i % 7}" / f"f{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%d\0" % i * (1 + i % 50))
        # written well before any upload reads it: its hash can be remembered at once
        os.utime(path, (1_700_000_000, 1_700_000_000))

    def made(name: str) -> Path:
        repo = make_git_repo(name)
        objects = tmp_path / f"{name}-objects"
        result = cavorite(
            "init", "--store-type", "localstore", "--backend-address", objects, cwd=repo
        )
        assert result.code == 0, result.stderr
        shutil.copytree(master / "data", repo / "data")
        return repo

    return made


def objects(repo: Path) -> dict[str, bytes]:
    return tree(repo.parent / f"{repo.name}-objects")


def files(repo: Path) -> dict[str, bytes]:
    """The repository's files, its state cache and temporary area left out."""
    return {k: v for k, v in tree(repo).items() if not k.startswith(".cavorite/")}


def test_many_files_go_as_from_one_process(make: Make, cavorite: Cavorite) -> None:
    forked, alone = make("forked"), make("alone")

    first = cavorite("-vv", "upload", "data", cwd=forked)
    assert first.code == 0, first.stderr
    assert len(IN_CHILD.findall(first.stderr)) == FILES
    one = cavorite("-vv", "--jobs", "1", "upload", "data", cwd=alone)
    assert one.code == 0, one.stderr
    assert not IN_CHILD.search(one.stderr)
    assert len(WORKED.findall(one.stderr)) == FILES

    assert first.stdout == one.stdout
    assert files(forked) == files(alone)
    assert objects(forked) == objects(alone)
    assert len(objects(forked)) == FILES
    # what the children learnt is in the state cache: no file is read again
    state = StateDB(forked)
    try:
        artifacts = sorted((forked / "data").rglob("*.bin"))
        known = [state.lookup(path, os.lstat(path)) for path in artifacts]
    finally:
        state.close()
    assert known == [hashlib.sha256(path.read_bytes()).hexdigest() for path in artifacts]
    assert cavorite("status", cwd=forked).code == 0


def test_a_no_op_upload_is_shared_and_reads_no_file(make: Make, cavorite: Cavorite) -> None:
    forked, alone = make("forked"), make("alone")
    for repo in (forked, alone):
        assert cavorite("-q", "--jobs", "1", "upload", "data", cwd=repo).code == 0

    result: list[CliResult] = []
    opened = opened_during(
        forked / "data", lambda: result.append(cavorite("-vv", "upload", "data", cwd=forked))
    )
    again = result[0]
    one = cavorite("--jobs", "1", "upload", "data", cwd=alone)
    assert again.code == one.code == 0, again.stderr
    # each child listed its share of the store and knew every file from the state cache
    assert opened == set()
    assert len(re.findall(r": already-stored in a child process$", again.stderr, re.M)) == FILES
    assert f"{FILES} files: {FILES} already stored" in again.stdout
    assert again.stdout == one.stdout
    assert files(forked) == files(alone)


def test_a_file_refused_in_a_child_fails_as_in_one_process(make: Make, cavorite: Cavorite) -> None:
    forked, alone = make("forked"), make("alone")
    for repo in (forked, alone):
        # where its cfile would go: the file is refused before it is read
        (repo / "data" / "d3" / "f0010.bin.cfile").mkdir()

    got = cavorite("-vv", "upload", "data", cwd=forked)
    expected = cavorite("--jobs", "1", "upload", "data", cwd=alone)
    assert (got.code, got.stdout) == (expected.code, expected.stdout)
    assert got.code != 0
    # every other file was done in a child; this one again by the parent, with its message
    assert len(IN_CHILD.findall(got.stderr)) == FILES - 1
    shown = [line for line in got.stderr.splitlines() if not line.startswith(DEBUG)]
    # (-vv's last line: how long the run took)
    assert shown[:-1] == expected.stderr.splitlines()
    errors = [line for line in shown if "f0010.bin" in line]
    assert len(errors) == 1
    assert "not a regular file" in errors[0]
    assert "data/d3/f0010.bin" not in objects(forked)
    assert files(forked) == files(alone)


def test_content_stored_under_another_key_is_copied_in_a_child(
    make: Make, cavorite: Cavorite
) -> None:
    forked, alone = make("forked"), make("alone")
    for repo in (forked, alone):
        first = cavorite("-q", "--jobs", "1", "upload", "data", cwd=repo)
        assert first.code == 0, first.stderr
        shutil.copytree(
            repo / "data", repo / "again", ignore=shutil.ignore_patterns("*.cfile", ".gitignore")
        )

    got = cavorite("-vv", "upload", "again", cwd=forked)
    expected = cavorite("--jobs", "1", "upload", "again", cwd=alone)
    assert got.code == expected.code == 0, got.stderr
    assert len(IN_CHILD.findall(got.stderr)) == FILES
    assert got.stdout == expected.stdout
    assert got.stdout.count("(copied)") == FILES
    assert objects(forked) == objects(alone)


def opened_during(top: Path, run: Callable[[], object]) -> set[str]:
    """The files under ``top`` (cfiles and .gitignore files left out) that were opened while
    ``run()`` ran, as the kernel saw it (inotify)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK)
    assert fd >= 0
    try:
        dirs = {}
        for dirpath, _, _ in os.walk(top):
            dirs[libc.inotify_add_watch(fd, os.fsencode(dirpath), IN_OPEN)] = dirpath
        run()
        opened: set[str] = set()
        with contextlib.suppress(BlockingIOError):
            while data := os.read(fd, 1 << 16):
                at = 0
                while at < len(data):
                    wd, mask, _, length = EVENT.unpack_from(data, at)
                    name = data[at + EVENT.size : at + EVENT.size + length].rstrip(b"\0")
                    at += EVENT.size + length
                    assert not mask & IN_Q_OVERFLOW
                    if mask & IN_ISDIR or name.endswith((b".cfile", b".gitignore")):
                        continue
                    if name:
                        opened.add(os.path.join(dirs[wd], os.fsdecode(name)))
        return opened
    finally:
        os.close(fd)


IN_OPEN, IN_Q_OVERFLOW, IN_ISDIR = 0x20, 0x4000, 0x40000000
EVENT = struct.Struct("iIII")


def test_files_retrieved_then_uploaded_are_not_read_again(
    make: Make, cavorite: Cavorite, make_git_repo: Callable[..., Path]
) -> None:
    source = make("source")
    assert cavorite("-q", "--jobs", "1", "upload", "data", cwd=source).code == 0
    git(source, "add", "-A")
    git(source, "commit", "-qm", "data")
    clone = source.parent / "clone"
    git(source.parent, "clone", "-q", str(source), str(clone))
    assert cavorite("-q", "retrieve", cwd=clone).code == 0

    # the hashes retrieve learnt are the children's: no file is read to upload it
    result: list[CliResult] = []
    opened = opened_during(
        clone / "data", lambda: result.append(cavorite("-q", "upload", "data", cwd=clone))
    )
    assert result[0].code == 0, result[0].stderr
    assert opened == set()
