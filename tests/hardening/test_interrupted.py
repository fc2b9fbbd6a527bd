"""A run killed with SIGKILL in the middle of a transfer, then run again.

The command is the installed package's, with the local store's copying slowed down
(``slowcli.py``), killed once its temporary file holds part of the bytes. Expected: nothing under
a real name is partial, no cfile points at an object that is not stored, the leftovers are
never taken for artifacts nor seen by git (they are in ``.cavorite/tmp``), and the next run
removes them and completes correctly, while a temporary file of a live run is left alone.
Leftovers beside the artifacts (of earlier versions) are removed once they are an hour old.
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

from .interrupt import partial_temps, running, temp_area, wait_for
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
    porcelain = git(repo, "status", "--porcelain", "--untracked-files=all").stdout
    with running(["retrieve"], repo, cavorite.env, tmp_path / "run", **SLOW) as run:
        wait_for(
            "a partial download",
            lambda: bool(partial_temps(temp_area(repo), int(SIZE * fraction))),
        )
        run.kill()
    assert not (repo / "big.bin").exists(), "a partial file under the artifact's name"
    [leftover] = temp_files(repo)
    assert leftover.parent == temp_area(repo)
    assert ".big.bin.cavorite-tmp-" not in leftover.name
    assert "big.bin.cavorite-tmp-" in leftover.name
    assert 0 < leftover.stat().st_size < SIZE

    # git does not see it: nothing new to show, nothing for ``git add -A`` to stage
    assert git(repo, "status", "--porcelain", "--untracked-files=all").stdout == porcelain
    assert git(repo, "add", "--all", "--dry-run").stdout == ""

    # the leftover is never taken for an artifact
    status = cavorite("status", "--json", cwd=repo)
    assert json_paths(status.stdout) == {"good.bin": "up-to-date", "big.bin": "missing"}
    assert leftover.name not in status.stdout + status.stderr
    upload = cavorite("upload", "--json", ".", cwd=repo)
    assert upload.code == 0, upload.stderr
    assert set(json_paths(upload.stdout)) == {"good.bin"}
    assert leftover.name not in " ".join(stored_keys(repo.parent / "objects"))

    # the killed run is over (its lock is free): the next run removes its file and completes
    again = cavorite("retrieve", cwd=repo)
    assert again.code == 0, again.stderr
    assert (repo / "big.bin").read_bytes() == big
    assert temp_files(repo) == []
    assert os.listdir(temp_area(repo)) == [".gitignore"]
    assert git(repo, "status", "--porcelain", "--untracked-files=all").stdout == porcelain


def test_a_live_run_keeps_its_temporary_file(
    repo: Path, big: bytes, cavorite: Cavorite, tmp_path: Path
) -> None:
    """Runs that start while a slow one downloads (a retrieve, an upload that writes a cfile)
    remove ended runs' files, never the live run's: it completes with the verified file."""
    (repo / "new.bin").write_bytes(b"new")
    with running(["retrieve"], repo, cavorite.env, tmp_path / "slow", **SLOW) as slow:
        wait_for("a partial download", lambda: bool(partial_temps(temp_area(repo), SIZE // 8)))
        [live] = partial_temps(temp_area(repo))
        for args in (["retrieve", "good.bin"], ["upload", "new.bin"]):
            other = cavorite(*args, cwd=repo)
            assert other.code == 0, other.stderr
            assert live.exists(), f"{args} removed the live run's temporary file"
        result = slow.wait()
    assert result.code == 0, result.stderr
    assert (repo / "big.bin").read_bytes() == big
    assert temp_files(repo) == []


def test_retrieve_force_killed_keeps_the_local_file_whole(
    repo: Path, big: bytes, cavorite: Cavorite, tmp_path: Path
) -> None:
    """--force replaces a local edit only once the download is complete and verified: killed
    before that, the edited file is still there, byte for byte."""
    edit = b"my local edit " * 1000
    (repo / "big.bin").write_bytes(edit)
    with running(["retrieve", "--force"], repo, cavorite.env, tmp_path / "run", **SLOW) as run:
        wait_for("a partial download", lambda: bool(partial_temps(temp_area(repo), SIZE // 2)))
        run.kill()
    assert (repo / "big.bin").read_bytes() == edit
    again = cavorite("retrieve", "--force", cwd=repo)
    assert again.code == 0, again.stderr
    assert (repo / "big.bin").read_bytes() == big


def test_killed_leftover_is_not_committed(
    repo: Path, big: bytes, cavorite: Cavorite, tmp_path: Path
) -> None:
    """``git add -A`` after a killed retrieve stages nothing of its leftover, and the pre-commit
    check passes; a leftover that an earlier version wrote beside the artifact, which git does
    see, is refused by the check once staged."""
    with running(["retrieve"], repo, cavorite.env, tmp_path / "run", **SLOW) as run:
        wait_for("a partial download", lambda: bool(partial_temps(temp_area(repo), SIZE // 4)))
        run.kill()
    [leftover] = temp_files(repo)
    git(repo, "add", "-A")
    assert git(repo, "diff", "--cached", "--name-only").stdout == ""
    check = cavorite("check", "--staged", cwd=repo)
    assert check.code == 0, check.stdout + check.stderr

    beside = repo / ".big.bin.cavorite-tmp-0123456789ab"
    beside.write_bytes(leftover.read_bytes())
    git(repo, "add", "-A")
    check = cavorite("check", "--staged", cwd=repo)
    assert check.code != 0, check.stdout + check.stderr
    assert beside.name in check.stdout + check.stderr


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
    """Several interrupted runs in a row: none leaves a file under the real name, each removes
    the leftover of the one before, and a final run completes and removes the last."""
    for attempt in range(3):
        log = tmp_path / f"run{attempt}"
        with running(["retrieve"], repo, cavorite.env, log, **SLOW) as run:
            before = set(temp_files(repo))

            def grew(before: set[Path] = before) -> bool:
                return bool(set(partial_temps(temp_area(repo), SIZE // 8)) - before)

            wait_for("a new partial download", grew)
            run.kill()
        assert not (repo / "big.bin").exists()
        assert len(temp_files(repo)) == 1
    result = cavorite("retrieve", "--json", cwd=repo)
    assert result.code == 0, result.stderr
    assert json_paths(result.stdout) == {"good.bin": "up-to-date", "big.bin": "retrieved"}
    assert (repo / "big.bin").read_bytes() == big
    assert temp_files(repo) == []


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
