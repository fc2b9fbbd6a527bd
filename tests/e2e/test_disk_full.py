"""A full disk stops a retrieve like a store that is down: one line, the rest not attempted.

The repository is retrieved into a real, small file system (a 2 MiB tmpfs), so the "no space
left on device" comes from the kernel, not from a stand-in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import binary, write
from tests.fixtures.repos import Cavorite

SMALL = 2 * 1024 * 1024


@pytest.fixture
def small_fs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A 2 MiB tmpfs (or the mount options the test passes), mounted for the test (needs root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    options = getattr(request, "param", f"size={SMALL}")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _clone_cfiles(repo: Path, target: Path) -> Path:
    """The repository's configuration and cfiles, without the artifacts: a fresh checkout."""
    clone = target / "clone"
    shutil.copytree(repo / ".cavorite", clone / ".cavorite")
    for cfile in repo.rglob("*.cfile"):
        dest = clone / cfile.relative_to(repo)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cfile, dest)
    return clone


def _upload(cavorite: Cavorite, repo: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        write(repo, rel, data)
    result = cavorite("upload", "data", cwd=repo)
    assert result.code == 0, result.stderr


COUNT = 300


@pytest.mark.parametrize(
    ("small_fs", "message"),
    [
        # 300 files of 16 KiB: 4.7 MiB into 2 MiB; a download is refused before it starts, or
        # (two in flight, both seeing the last 16 KiB free) the kernel's ENOSPC stops the run
        (f"size={SMALL}", r"not enough space: 16\.0 KiB to download|no space left on device"),
        # room for the bytes, not for the files: the kernel's own ENOSPC, as the files are created
        (f"size={8 * SMALL},nr_inodes={COUNT + 40}", "no space left on device"),
    ],
    indirect=["small_fs"],
    ids=["space", "inodes"],
)
@pytest.mark.parametrize("quiet", [False, True])
def test_many_files_into_a_full_disk_stop_after_a_few_lines(
    cavorite_repo: Path, cavorite: Cavorite, small_fs: Path, message: str, quiet: bool
) -> None:
    files = {f"data/f{i:03}.bin": binary(f"f{i}", 16 * 1024) for i in range(COUNT)}
    _upload(cavorite, cavorite_repo, files)
    clone = _clone_cfiles(cavorite_repo, small_fs)

    result = cavorite(*(["-q"] if quiet else []), "retrieve", cwd=clone)

    assert result.code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("cavorite: error")]
    # the files in flight when the disk filled, and one line for all the others
    assert 1 < len(errors) <= 20, result.stderr
    assert any("files not attempted" in line and "free some space" in line for line in errors)
    assert re.search(message, result.stderr), result.stderr
    # no partial file under a real name, no temporary file left
    for path in (clone / "data").iterdir():
        assert path.name.endswith(".cfile") or path.read_bytes() == files[f"data/{path.name}"]
    stdout_lines = result.stdout.splitlines()
    assert len(stdout_lines) <= (1 if quiet else 200)


def test_a_download_larger_than_the_free_space_does_not_start(
    cavorite_repo: Path, cavorite: Cavorite, small_fs: Path
) -> None:
    files = {"data/big.bin": binary("big", 3 * 1024 * 1024)}
    files.update({f"data/small{i}.bin": binary(f"s{i}", 1000) for i in range(30)})
    _upload(cavorite, cavorite_repo, files)
    clone = _clone_cfiles(cavorite_repo, small_fs)
    before = shutil.disk_usage(small_fs).used

    result = cavorite("-q", "retrieve", "data/big.bin", cwd=clone)

    assert result.code == 1
    assert "data/big.bin: not enough space: 3.0 MiB to download" in result.stderr
    assert "free some space" in result.stderr
    assert len(result.stderr.splitlines()) <= 2, result.stderr
    assert not (clone / "data" / "big.bin").exists()
    assert sorted(os.listdir(clone / "data")) == sorted(f"{Path(r).name}.cfile" for r in files)
    assert shutil.disk_usage(small_fs).used <= before + 64 * 1024
