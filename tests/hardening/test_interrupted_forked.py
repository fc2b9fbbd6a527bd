"""Ctrl-C in the middle of an upload or a retrieve whose files are shared between forked
processes (and of an upload by one process): the terminal's SIGINT reaches the whole process
group, the parent and its children.
Expected: exit 130 within a few seconds, no traceback, no temporary file left, nothing partial
under a real name, a cfile only for an object that is stored whole, and its artifact ignored by
git; the next run completes.

The command is the installed package's, with the local store's copying slowed down
(``slowcli.py``: each file is one chunk, 50 ms), so that the run lasts about ten seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from cavorite_py.forking import FORK_FILES
from tests.fixtures.repos import Cavorite, git

from .interrupt import Running, running, wait_for
from .support import temp_files

FILES = FORK_FILES + 20
SLOW = {"CAVORITE_SLOW_DELAY": "0.05"}

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or len(os.sched_getaffinity(0)) < 2,
    reason="processes are forked only with two cores or more",
)


def write_files(repo: Path) -> dict[str, bytes]:
    written = {}
    for i in range(FILES):
        rel = f"data/d{i % 7}/f{i:04d}.bin"
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        written[rel] = b"%d\0" % i * (1 + i % 50)
        (repo / rel).write_bytes(written[rel])
    return written


def cfiles(repo: Path) -> Iterator[tuple[str, dict[str, object]]]:
    for cfile in sorted((repo / "data").rglob("*.cfile")):
        yield cfile.relative_to(repo).as_posix()[: -len(".cfile")], json.loads(cfile.read_text())


def shared(done: Iterable[str]) -> bool:
    """Whether files of more than one process's share were done: one process alone does the
    files in order, and the first directory holds more files than were done."""
    return len({rel.split("/")[1] for rel in done}) > 1


def interrupted(run: Running, started: float) -> tuple[int, float, str]:
    """Ctrl-C: SIGINT to the run's process group; its exit code, how long it took to stop,
    and its stderr."""
    os.killpg(run.proc.pid, signal.SIGINT)
    stopped = time.monotonic()
    result = run.wait(timeout=30)
    assert stopped - started < 8, "the run was nearly over before it was interrupted"
    return result.code, time.monotonic() - stopped, result.stderr


@pytest.mark.parametrize("jobs", [[], ["--jobs", "1"]], ids=["forked", "one-process"])
def test_ctrl_c_stops_an_upload_cleanly(
    cavorite_repo: Path, local_objects: Path, cavorite: Cavorite, tmp_path: Path, jobs: list[str]
) -> None:
    written = write_files(cavorite_repo)
    args = [*jobs, "upload", "data"]
    with running(args, cavorite_repo, cavorite.env, tmp_path / "run", **SLOW) as run:
        started = time.monotonic()
        wait_for("some files uploaded", lambda: len(list(cfiles(cavorite_repo))) >= 20)
        code, took, errors = interrupted(run, started)
    assert code == 130, errors
    assert took < 3, f"{took:.1f} s after Ctrl-C"
    assert "Traceback" not in errors
    assert temp_files(cavorite_repo) == []
    assert temp_files(local_objects) == []
    done = dict(cfiles(cavorite_repo))
    assert 20 <= len(done) < FILES
    assert shared(done) == (not jobs)
    # git sees the artifacts with a cfile no more (they are ignored), the others still
    shown = git(cavorite_repo, "status", "--porcelain", "--untracked-files=all", "data").stdout
    seen = {line[3:] for line in shown.splitlines() if line.endswith(".bin")}
    assert seen == set(written) - set(done)
    for rel, meta in done.items():
        # each cfile names an object stored whole, of the file's content
        assert meta["checksum"] == hashlib.sha256(written[rel]).hexdigest()
        assert (local_objects / rel).read_bytes() == written[rel]

    again = cavorite("-q", "upload", "data", cwd=cavorite_repo)
    assert again.code == 0, again.stderr
    # (an object stored as the run was stopped, before its cfile was written, is found stored)
    counts = re.fullmatch(r"(\d+) files: (\d+) uploaded, (\d+) already stored\n", again.stdout)
    assert counts is not None, again.stdout
    total, uploaded, stored = map(int, counts.groups())
    assert (total, uploaded + stored) == (FILES, FILES)
    assert len(done) <= stored <= len(done) + 4
    assert len(list(cfiles(cavorite_repo))) == FILES
    # git sees cfiles and .gitignore files only: every artifact is ignored, the stopped run's too
    shown = git(cavorite_repo, "status", "--porcelain", "--untracked-files=all", "data").stdout
    assert shown and all(line.endswith((".cfile", ".gitignore")) for line in shown.splitlines())


def test_ctrl_c_stops_a_forked_retrieve_cleanly(
    cavorite_repo: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    written = write_files(cavorite_repo)
    assert cavorite("-q", "upload", "data", cwd=cavorite_repo).code == 0
    git(cavorite_repo, "add", "-A")
    git(cavorite_repo, "commit", "-qm", "data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(cavorite_repo), str(clone))
    artifacts = [clone / rel for rel in written]

    with running(["retrieve"], clone, cavorite.env, tmp_path / "run", **SLOW) as run:
        started = time.monotonic()
        wait_for("some files retrieved", lambda: sum(map(Path.exists, artifacts)) >= 20)
        code, took, errors = interrupted(run, started)
    assert code == 130, errors
    assert took < 3, f"{took:.1f} s after Ctrl-C"
    assert "Traceback" not in errors
    assert temp_files(clone) == []
    # the run's lock and its children's directories are gone with it
    assert os.listdir(clone / ".cavorite" / "tmp") == [".gitignore"]
    present = {rel: (clone / rel).read_bytes() for rel in written if (clone / rel).exists()}
    assert 20 <= len(present) < FILES
    assert shared(present)
    # nothing partial under a real name
    assert all(data == written[rel] for rel, data in present.items())

    again = cavorite("-q", "retrieve", cwd=clone)
    assert again.code == 0, again.stderr
    assert all((clone / rel).read_bytes() == data for rel, data in written.items())
