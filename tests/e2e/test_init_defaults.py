"""What ``init`` leaves behind: a store location whose reach is said plainly, a store directory
inside the repository kept out of git, and nothing untracked after ``git add .cavorite/config``."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.support import binary, write
from tests.fixtures.repos import Cavorite, git


def _porcelain(repo: Path) -> list[str]:
    return git(repo, "status", "--porcelain", "--untracked-files=all").stdout.splitlines()


def test_the_default_store_says_it_is_this_machines_only(
    git_repo: Path, cavorite: Cavorite
) -> None:
    result = cavorite("init", cwd=git_repo)
    assert result.code == 0, result.stderr
    assert "on this machine only: a colleague's clone cannot reach it" in result.stdout
    assert "cavorite init --force --store-type s3 --backend-address s3://" in result.stdout


def test_a_store_outside_the_repository_says_so_too(
    git_repo: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    result = cavorite("init", "--backend-address", tmp_path / "objects", cwd=git_repo)
    assert result.code == 0, result.stderr
    assert f"objects will be stored in {tmp_path / 'objects'}, on this machine only" in (
        result.stdout
    )


def test_nothing_is_left_untracked_after_adding_the_config(
    git_repo: Path, cavorite: Cavorite
) -> None:
    assert cavorite("init", cwd=git_repo).code == 0
    assert (git_repo / ".cavorite" / ".gitignore").is_file()
    git(git_repo, "add", ".cavorite/config")
    assert _porcelain(git_repo) == ["A  .cavorite/config"]
    # and after the first upload, only what the README adds
    write(git_repo, "a.bin", binary("a"))
    assert cavorite("upload", "a.bin", cwd=git_repo).code == 0
    assert sorted(_porcelain(git_repo)) == [
        "?? .gitignore",
        "?? a.bin.cfile",
        "A  .cavorite/config",
    ]


def test_a_store_directory_inside_the_repository_is_ignored_by_git(
    git_repo: Path, cavorite: Cavorite
) -> None:
    write(git_repo, ".gitignore", b"*.log")
    result = cavorite("init", "--backend-address", "store/objects", cwd=git_repo)
    assert result.code == 0, result.stderr
    assert "objects will be stored in store/objects/, which .gitignore now keeps out of git" in (
        result.stdout
    )
    assert (git_repo / ".gitignore").read_text() == "*.log\n/store/objects/\n"
    write(git_repo, "a.bin", binary("a"))
    assert cavorite("upload", "a.bin", cwd=git_repo).code == 0
    # its versioned key: a.bin@<sha256>
    assert any((git_repo / "store" / "objects").rglob("a.bin@*"))
    git(git_repo, "add", ".")
    staged = git(git_repo, "diff", "--cached", "--name-only").stdout.split()
    assert not any(name.startswith("store/") for name in staged), staged
    # init again (--force) adds no second line
    assert cavorite("init", "--force", "--backend-address", "store/objects", cwd=git_repo).code == 0
    assert (git_repo / ".gitignore").read_text().count("/store/objects/") == 1
