"""Fixtures of the hardening tests: a repository with one artifact uploaded and committed.

It is made once per session with the installed command, then copied for each test (a copy is
much faster than ``git init`` + ``cavorite init`` + ``upload`` + ``git commit`` every time).
The local store's address is relative (``../objects``), so each copy uses its own store.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures.repos import Cavorite, git

GOOD = b"good artifact\0" * 100


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("hardening-template")
    repo = top / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "config", "user.name", "Test User")
    git(repo, "config", "user.email", "test@example.invalid")
    git(repo, "config", "commit.gpgsign", "false")
    home = top / "home"
    home.mkdir()
    run = Cavorite(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "PATH": "/usr/bin:/bin",
            "LC_ALL": "C.UTF-8",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
    )
    # object keys are the paths, as the hardening tests expect
    scheme = ("--key-scheme", "path")
    result = run(
        "init", "--store-type", "localstore", "--backend-address", "../objects", *scheme, cwd=repo
    )
    assert result.code == 0, result.stderr
    (repo / "good.bin").write_bytes(GOOD)
    result = run("upload", "good.bin", cwd=repo)
    assert result.code == 0, result.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "good.bin")
    return top


@pytest.fixture
def repo(template: Path, tmp_path: Path, local_objects: Path) -> Path:
    """A git repository (``tmp_path / "repo"``) whose local store is ``local_objects``, with
    ``good.bin`` uploaded, git-ignored, and everything committed."""
    shutil.copytree(template / "objects", local_objects, symlinks=True)
    return Path(shutil.copytree(template / "repo", tmp_path / "repo", symlinks=True))
