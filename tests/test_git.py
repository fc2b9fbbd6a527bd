"""git.py: git is found by absolute path, never in the current directory or through a
relative PATH entry; the work tree's top level is asked once per directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cavorite_py import git
from cavorite_py.errors import UsageError
from cavorite_py.fsutil import absolute_path_entries
from tests.fixtures.repos import git as run_git

PLANTED = """#!/bin/sh
echo planted > "$(dirname "$0")/planted-git-ran"
echo "git version 0.planted"
"""


@pytest.fixture
def fresh_lookup() -> Iterator[None]:
    """git looked up again in this test, and again after it."""
    git.executable.cache_clear()
    yield
    git.executable.cache_clear()


def real_git_dir() -> str:
    found = shutil.which("git")
    assert found is not None
    return os.path.dirname(found)


def test_path_lookups_keep_absolute_entries_only() -> None:
    value = os.pathsep.join(["", ".", "bin", "./tools", "/usr/bin", "/opt/git/bin"])
    assert absolute_path_entries(value) == os.pathsep.join(["/usr/bin", "/opt/git/bin"])


@pytest.mark.parametrize("entry", [".", "", "planted"])
def test_a_git_in_the_current_directory_or_a_relative_path_entry_is_never_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_lookup: None, entry: str
) -> None:
    real = real_git_dir()
    planted_dir = tmp_path / "planted"
    planted_dir.mkdir()
    planted = planted_dir / "git"
    planted.write_text(PLANTED)
    planted.chmod(0o755)
    monkeypatch.chdir(planted_dir if entry != "planted" else tmp_path)
    monkeypatch.setenv("PATH", os.pathsep.join([entry, real]))

    assert git.executable() == shutil.which("git", path=real)
    assert git.run(tmp_path, "--version").startswith(b"git version 2")
    assert not (planted_dir / "planted-git-ran").exists()


def test_no_git_on_an_absolute_path_entry_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_lookup: None
) -> None:
    monkeypatch.setenv("PATH", os.pathsep.join([".", str(tmp_path / "empty")]))
    with pytest.raises(git.GitNotFound, match=r"^git not found on PATH \(relative PATH entries"):
        git.executable()
    # outside git there is no top level, and commands that do not need git keep working
    assert git.find_toplevel(tmp_path / "no-git-here") is None


def test_the_top_level_is_asked_once_per_directory(tmp_path: Path) -> None:
    run_git(tmp_path, "init", "-q")
    sub = tmp_path / "sub"
    sub.mkdir()
    before = git._toplevel.cache_info()
    assert git.toplevel(sub) == tmp_path
    assert git.toplevel(sub) == tmp_path
    assert git.find_toplevel(sub) == tmp_path
    after = git._toplevel.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)


def test_outside_a_work_tree_toplevel_says_so(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not inside a git work tree"):
        git.toplevel(tmp_path)


@pytest.mark.parametrize("suffix", [".cfile", ".c*f[i]le?"])
def test_visible_files_leave_out_the_names_ending_with_a_suffix_after_a_character(
    tmp_path: Path, suffix: str
) -> None:
    run_git(tmp_path, "init", "-q", ".")
    names = [
        f"a.bin{suffix}",
        f"sub/b.bin{suffix}",
        suffix,
        f"sub/{suffix}",
        f"dir{suffix}/inside.bin",
        "sub/plain.bin",
        "sub/a.bin.cfilex",
        "sub/xcfile",
    ]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    run_git(tmp_path, "add", f"sub/b.bin{suffix}", f"dir{suffix}/inside.bin")
    every = set(git.visible_files(tmp_path))
    assert every == set(names)
    shown = set(git.visible_files(tmp_path, suffix))
    assert shown == {
        n for n in names if not (n.endswith(suffix) and len(n.rpartition("/")[2]) > len(suffix))
    }
    assert f"dir{suffix}/inside.bin" in shown and suffix in shown
