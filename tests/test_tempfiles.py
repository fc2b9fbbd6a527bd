"""The temporary area of a repository (``.cavorite/tmp``): where temporary files go, the lock
each run holds there, what the next run removes, and where the area is not used."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cavorite_py import tempfiles
from cavorite_py.fsutil import atomic_write_bytes, is_temp_name, temp_path_for

HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """A repository root (``.cavorite`` exists) registered for this test."""
    root = tmp_path / "repo"
    (root / ".cavorite").mkdir(parents=True)
    registration = tempfiles.enter(root)
    yield root
    registration.close()


def area(root: Path) -> Path:
    return root / ".cavorite" / "tmp"


def test_outside_a_registered_root_the_name_is_beside_the_target(tmp_path: Path) -> None:
    tmp = temp_path_for(tmp_path / "a.bin")
    assert tmp.parent == tmp_path
    assert tmp.name.startswith(".a.bin") and is_temp_name(tmp.name)
    assert not (tmp_path / ".cavorite").exists()


def test_inside_a_root_the_name_is_in_the_area(root: Path) -> None:
    tmp = temp_path_for(root / "sub" / "a.bin")
    assert tmp.parent == area(root) and is_temp_name(tmp.name)
    assert (area(root) / ".gitignore").read_bytes() == tempfiles.IGNORE_ALL
    [lock] = [n for n in os.listdir(area(root)) if n.endswith(".lock")]
    assert tmp.name.startswith(lock.removesuffix(".lock") + "-")
    # held: another descriptor cannot take it
    fd = os.open(area(root) / lock, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_an_atomic_write_leaves_only_the_file(root: Path) -> None:
    atomic_write_bytes(root / "a.cfile", b"{}")
    assert (root / "a.cfile").read_bytes() == b"{}"
    assert [p for p in area(root).iterdir() if is_temp_name(p.name)] == []


def test_leaving_removes_the_lock_and_what_is_left(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / ".cavorite").mkdir(parents=True)
    first, second = tempfiles.enter(root), tempfiles.enter(root)
    temp_path_for(root / "a.bin").write_bytes(b"partial")
    first.close()
    first.close()
    assert len(os.listdir(area(root))) == 3, "left while another user remains"
    second.close()
    assert os.listdir(area(root)) == [".gitignore"]


def test_a_forked_child_writes_in_a_directory_of_its_own(tmp_path: Path) -> None:
    """A child process of a run (sharing its lock) puts its files in a directory of the area
    named for the run; the run's end removes the directory with what is left in it."""
    root = tmp_path / "repo"
    (root / ".cavorite").mkdir(parents=True)
    registration = tempfiles.enter(root)
    parents = temp_path_for(root / "a.bin")
    assert parents.parent == area(root)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        # the child: its name, and a file it leaves behind (as a child killed mid-download)
        os.close(read)
        tempfiles.forked()
        tmp = temp_path_for(root / "b.bin")
        tmp.write_bytes(b"partial")
        os.write(write, str(tmp).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        tmp = Path(f.read().decode())
    os.waitpid(pid, 0)
    run = parents.name[: tempfiles.RUN_ID_LEN]
    assert tmp.parent == area(root) / f"{run}-p{pid}" and is_temp_name(tmp.name)
    assert tmp.name.startswith(f"{run}-") and tmp.read_bytes() == b"partial"
    registration.close()
    assert os.listdir(area(root)) == [".gitignore"]


def fake_run(directory: Path, run: str) -> list[Path]:
    """A lock file and two temporary files of run ``run``, as a killed run leaves them."""
    files = [directory / f"{run}.lock", directory / f"{run}-a.bin.cavorite-tmp-0123456789ab"]
    files.append(directory / f"{run}-b.cfile.cavorite-tmp-0123456789ab")
    for path in files:
        path.write_bytes(b"x")
    return files


def test_ended_runs_files_are_removed_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    area(root).mkdir(parents=True)
    ended = fake_run(area(root), "0123456789ab")
    live = fake_run(area(root), "abcdef012345")
    orphan = area(root) / "fedcba987654-c.bin.cavorite-tmp-0123456789ab"
    orphan.write_bytes(b"x")
    # a directory of the ended run's child process, with a file it left
    (area(root) / "0123456789ab-p42").mkdir()
    childs = area(root) / "0123456789ab-p42" / "0123456789ab-d.bin.cavorite-tmp-0123456789ab"
    childs.write_bytes(b"x")
    others = [area(root) / n for n in ("notes", "0123456789ab", "XYZ456789abc-a", ".gitignore")]
    for path in others:
        path.write_bytes(b"x")
    # the live run is another process, holding its lock
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(live[0])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        removed = tempfiles.remove_ended(root)
    finally:
        holder.communicate("")
    assert sorted(removed) == sorted([*ended[1:], orphan, childs])
    assert sorted(area(root).iterdir()) == sorted([*live, *others])


def test_a_linked_area_is_not_used(root: Path, tmp_path: Path) -> None:
    """A repository may commit ``.cavorite/tmp`` as a link: nothing is written through it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    area(root).symlink_to(elsewhere)
    tmp = temp_path_for(root / "a.bin")
    assert tmp.parent == root
    assert list(elsewhere.iterdir()) == []


def test_a_foreign_gitignore_in_the_area_is_replaced(root: Path) -> None:
    area(root).mkdir()
    (area(root) / ".gitignore").write_text("!*\n")
    temp_path_for(root / "a.bin")
    assert (area(root) / ".gitignore").read_bytes() == tempfiles.IGNORE_ALL


def test_same_device_judges_a_missing_directory_by_its_ancestor(tmp_path: Path) -> None:
    assert tempfiles.same_device(tmp_path, tmp_path / "not" / "yet")
    assert not tempfiles.same_device(tmp_path, Path("/proc/self"))
    assert not tempfiles.same_device(tmp_path / "missing", tmp_path)


@pytest.fixture
def mounted(root: Path) -> Iterator[Path]:
    """A tmpfs mounted at ``root/mnt`` (as root only)."""
    mnt = root / "mnt"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "tmpfs", str(mnt)], check=False, capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_a_target_on_another_file_system_keeps_its_name_beside(root: Path, mounted: Path) -> None:
    tmp = temp_path_for(mounted / "d" / "a.bin")
    assert tmp.parent == mounted / "d"
    atomic_write_bytes(mounted / "a.cfile", b"{}")
    assert os.listdir(mounted) == ["a.cfile"]
    assert temp_path_for(root / "a.bin").parent == area(root)
