"""A run killed with SIGKILL in the middle of a transfer, then run again.

The command is the installed package's, with the local store's copying slowed down
(``slowcli.py``), killed once its temporary file holds part of the bytes. Expected: nothing under
a real name is partial, no cfile points at an object that is not stored, the leftovers are
never taken for artifacts, and the next run completes correctly. Retrieve removes leftovers
once they are an hour old, and never a temporary file that a live run may still be writing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from cavorite_localstore import LocalStore

from cavorite_py.stores.base import StoreSettings
from tests.fixtures.repos import Cavorite, git

from .interrupt import partial_temps, running, wait_for
from .support import sha256, temp_files

SIZE = 4 << 20  # 64 chunks of 64 KiB: about 3 s through the slowed store
SLOW = {"CAVORITE_SLOW_CHUNK": str(64 << 10), "CAVORITE_SLOW_DELAY": "0.05"}


@pytest.fixture
def big(repo: Path, cavorite: Cavorite) -> bytes:
    """``big.bin``, 4 MiB, uploaded and committed, then removed from the working tree."""
    data = os.urandom(SIZE)
    (repo / "big.bin").write_bytes(data)
    assert cavorite("upload", "big.bin", cwd=repo).code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "big.bin")
    (repo / "big.bin").unlink()
    return data


def stored_keys(objects: Path) -> list[str]:
    store = LocalStore(StoreSettings(objects.as_uri()))
    return sorted(store.list())


def json_paths(result_stdout: str) -> dict[str, str]:
    return {f["path"]: f["outcome"] for f in json.loads(result_stdout)["files"]}


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9])
def test_retrieve_killed_mid_transfer_then_run_again(
    repo: Path, big: bytes, cavorite: Cavorite, tmp_path: Path, fraction: float
) -> None:
    with running(["retrieve"], repo, cavorite.env, tmp_path / "run", **SLOW) as run:
        wait_for("a partial download", lambda: bool(partial_temps(repo, int(SIZE * fraction))))
        run.kill()
    assert not (repo / "big.bin").exists(), "a partial file under the artifact's name"
    [leftover] = temp_files(repo)
    assert leftover.name.startswith(".big.bin.cavorite-tmp-")
    assert 0 < leftover.stat().st_size < SIZE

    # the leftover is never taken for an artifact
    status = cavorite("status", "--json", cwd=repo)
    assert json_paths(status.stdout) == {"good.bin": "up-to-date", "big.bin": "missing"}
    assert leftover.name not in status.stdout + status.stderr
    upload = cavorite("upload", "--json", ".", cwd=repo)
    assert upload.code == 0, upload.stderr
    assert set(json_paths(upload.stdout)) == {"good.bin"}
    assert leftover.name not in " ".join(stored_keys(repo.parent / "objects"))
    assert not [p for p in repo.iterdir() if p.name.startswith(leftover.name + ".")]

    # the next run completes; the young leftover could be a live run's and stays
    again = cavorite("retrieve", cwd=repo)
    assert again.code == 0, again.stderr
    assert (repo / "big.bin").read_bytes() == big
    assert temp_files(repo) == [leftover]

    # an hour later it is a leftover for sure, and retrieve removes it
    old = time.time() - 3 * 3600
    os.utime(leftover, (old, old))
    again = cavorite("retrieve", cwd=repo)
    assert again.code == 0, again.stderr
    assert temp_files(repo) == []
    assert (repo / "big.bin").read_bytes() == big


def test_retrieve_force_killed_keeps_the_local_file_whole(
    repo: Path, big: bytes, cavorite: Cavorite, tmp_path: Path
) -> None:
    """--force replaces a local edit only once the download is complete and verified: killed
    before that, the edited file is still there, byte for byte."""
    edit = b"my local edit " * 1000
    (repo / "big.bin").write_bytes(edit)
    with running(["retrieve", "--force"], repo, cavorite.env, tmp_path / "run", **SLOW) as run:
        wait_for("a partial download", lambda: bool(partial_temps(repo, SIZE // 2)))
        run.kill()
    assert (repo / "big.bin").read_bytes() == edit
    again = cavorite("retrieve", "--force", cwd=repo)
    assert again.code == 0, again.stderr
    assert (repo / "big.bin").read_bytes() == big


def test_killed_leftover_is_refused_by_the_pre_commit_guard(
    repo: Path, big: bytes, cavorite: Cavorite, tmp_path: Path
) -> None:
    """git sees the leftover (it is not ignored); staged by ``git add -A`` it must not pass the
    pre-commit check as if it were an ordinary file."""
    with running(["retrieve"], repo, cavorite.env, tmp_path / "run", **SLOW) as run:
        wait_for("a partial download", lambda: bool(partial_temps(repo, SIZE // 4)))
        run.kill()
    [leftover] = temp_files(repo)
    git(repo, "add", "-A")
    check = cavorite("check", "--staged", cwd=repo)
    assert check.code != 0, check.stdout + check.stderr
    assert leftover.name in check.stdout + check.stderr


@pytest.mark.parametrize("fraction", [0.05, 0.9])
def test_upload_killed_mid_transfer_then_run_again(
    repo: Path, cavorite: Cavorite, tmp_path: Path, fraction: float
) -> None:
    objects = repo.parent / "objects"
    data = os.urandom(SIZE)
    (repo / "big.bin").write_bytes(data)
    gitignore = (repo / ".gitignore").read_bytes()
    with running(["upload", "big.bin"], repo, cavorite.env, tmp_path / "run", **SLOW) as run:
        wait_for("a partial upload", lambda: bool(partial_temps(objects, int(SIZE * fraction))))
        run.kill()
    # no cfile for an object that is not stored, no object under the key
    assert not (repo / "big.bin.cfile").exists()
    assert stored_keys(objects) == ["good.bin"]
    assert (repo / ".gitignore").read_bytes() == gitignore
    assert (repo / "big.bin").read_bytes() == data
    assert temp_files(repo) == []
    assert len(partial_temps(objects)) == 1  # the store's own leftover, which it never lists

    status = cavorite("status", "--json", cwd=repo)
    assert json_paths(status.stdout)["big.bin"] == "untracked"

    again = cavorite("upload", "big.bin", cwd=repo)
    assert again.code == 0, again.stderr
    meta = json.loads((repo / "big.bin.cfile").read_text())
    assert (meta["name"], meta["checksum"], meta["size"]) == ("big.bin", sha256(data), SIZE)
    assert stored_keys(objects) == ["big.bin", "good.bin"]
    (repo / "big.bin").unlink()
    assert cavorite("retrieve", cwd=repo).code == 0
    assert (repo / "big.bin").read_bytes() == data


def test_kill_retrieve_repeatedly_then_finish(
    repo: Path, big: bytes, cavorite: Cavorite, tmp_path: Path
) -> None:
    """Several interrupted runs in a row leave several leftovers; none is ever under the real
    name, and a final run completes."""
    for attempt in range(3):
        log = tmp_path / f"run{attempt}"
        with running(["retrieve"], repo, cavorite.env, log, **SLOW) as run:
            before = set(temp_files(repo))

            def grew(before: set[Path] = before) -> bool:
                return bool(set(partial_temps(repo, SIZE // 8)) - before)

            wait_for("a new partial download", grew)
            run.kill()
        assert not (repo / "big.bin").exists()
    assert len(temp_files(repo)) == 3
    result = cavorite("retrieve", "--json", cwd=repo)
    assert result.code == 0, result.stderr
    assert json_paths(result.stdout) == {"good.bin": "up-to-date", "big.bin": "retrieved"}
    assert (repo / "big.bin").read_bytes() == big


def test_leftovers_of_every_kind_are_ignored(
    repo: Path, big: bytes, cavorite: Cavorite, local_objects: Path
) -> None:
    """What a kill can leave: a partial download, a half-written cfile's temporary file, the
    probe for a cfile. No command reads, lists, uploads or tracks them."""
    (repo / "big.bin").write_bytes(big)
    leftovers = {
        ".big.bin.cavorite-tmp-0123456789ab": big[:1000],
        ".big.bin.cfile.cavorite-tmp-abcdef012345": b'{"name": "big.b',
        ".new.bin.cfile.cavorite-tmp-aaaaaaaaaaaa": b"",
        "sub/.x.bin.cavorite-tmp-bbbbbbbbbbbb": b"\0" * 10_000,
    }
    for name, content in leftovers.items():
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_bytes(content)
    for args in (["status"], ["verify"], ["verify", "--remote"], ["retrieve"], ["upload", "."]):
        result = cavorite(*args, "--json", cwd=repo)
        assert result.code == 0, (args, result.stdout, result.stderr)
        for name in leftovers:
            assert Path(name).name not in result.stdout + result.stderr
    assert stored_keys(local_objects) == ["big.bin", "good.bin"]
    assert sorted(p.relative_to(repo).as_posix() for p in temp_files(repo)) == sorted(leftovers)
    assert sorted(p.name for p in repo.glob("*.cfile")) == ["big.bin.cfile", "good.bin.cfile"]


def test_only_old_temporary_files_are_removed(repo: Path, big: bytes, cavorite: Cavorite) -> None:
    """Retrieve cleans the directories it works in; a young temporary file may be a live run's,
    a file merely containing the mark in its name is not ours."""
    old = time.time() - 2 * 3600
    names = {
        ".big.bin.cavorite-tmp-0123456789ab": "old, ours: removed",
        ".good.bin.cfile.cavorite-tmp-abcdef012345": "old, ours: removed",
        ".big.bin.cavorite-tmp-fedcba987654": "young: kept",
        "notes.cavorite-tmp-0123456789ab": "not hidden: kept",
        ".x.cavorite-tmp-0123456789abcdef": "not our random part: kept",
        ".x.cavorite-tmp-NOTHEX012345": "not hex: kept",
    }
    for name, what in names.items():
        (repo / name).write_bytes(b"x")
        if what.startswith("old") or what.startswith("not"):
            os.utime(repo / name, (old, old))
    (repo / "linkdir").mkdir()
    (repo / ".y.cavorite-tmp-0123456789ab").symlink_to(repo / "linkdir")
    result = cavorite("retrieve", cwd=repo)
    assert result.code == 0, result.stderr
    left = {p.name for p in repo.iterdir() if ".cavorite-tmp-" in p.name}
    assert left == {n for n, what in names.items() if "kept" in what} | {
        ".y.cavorite-tmp-0123456789ab"
    }
