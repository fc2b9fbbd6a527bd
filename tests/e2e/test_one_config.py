"""One configuration per repository: a ``.cavorite/config`` nested below the repository's own
is ignored, with a warning naming it, whichever directory a command starts in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.support import binary, write
from tests.fixtures.repos import Cavorite, git

NESTED = "sub/.cavorite/config"


def plant_nested_config(repo: Path, elsewhere: Path, **options: object) -> Path:
    """A config in ``sub/`` sending its files to ``elsewhere`` (and any further options)."""
    config = {
        "store_type": "localstore",
        "options": {"backend_address": elsewhere.as_uri(), **options},
    }
    return write(repo, NESTED, json.dumps(config).encode())


def ignored_warning(repo: Path) -> str:
    nested, own = repo / NESTED, repo / ".cavorite" / "config"
    return f"ignoring {nested}: only the repository's own configuration, {own}, is used"


@pytest.mark.parametrize("start", ["sub", "."])
def test_check_staged_obeys_the_root_config_only(
    cavorite_repo: Path, cavorite: Cavorite, tmp_path: Path, start: str
) -> None:
    # the nested config would turn the guard off for sub/
    plant_nested_config(
        cavorite_repo, tmp_path / "elsewhere", large_file_threshold=0, detect_binary=False
    )
    write(cavorite_repo, "sub/bin.dat", binary("bin"))
    git(cavorite_repo, "add", "sub/bin.dat", NESTED)

    result = cavorite("check", "--staged", cwd=cavorite_repo / start)
    assert result.code == 1, result.stderr
    # paths are shown relative to the current directory
    shown = "bin.dat" if start == "sub" else "sub/bin.dat"
    assert f"refused: {shown} is a binary file and is not tracked by cavorite" in result.stderr
    assert ignored_warning(cavorite_repo) in result.stderr
    assert result.stderr.count("ignoring") == 1


def test_retrieve_from_a_subdirectory_uses_the_root_config(
    cavorite_repo: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    data = binary("a")
    write(cavorite_repo, "sub/a.bin", data)
    assert cavorite("upload", "sub/a.bin", cwd=cavorite_repo).code == 0
    (cavorite_repo / "sub" / "a.bin").unlink()
    elsewhere = tmp_path / "elsewhere"
    plant_nested_config(cavorite_repo, elsewhere)

    result = cavorite("retrieve", cwd=cavorite_repo / "sub")
    assert result.code == 0, result.stderr
    assert (cavorite_repo / "sub" / "a.bin").read_bytes() == data
    assert ignored_warning(cavorite_repo) in result.stderr
    assert not elsewhere.exists()


def test_a_cavorite_repository_below_the_git_top_level_is_still_one(
    git_repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    # no configuration at the top level: the one in assets/ is the repository's own
    sub = git_repo / "assets"
    sub.mkdir()
    scheme = ("--key-scheme", "path")
    init = cavorite("init", "--backend-address", local_objects, *scheme, ".", cwd=sub)
    assert init.code == 0
    write(sub, "x.bin", binary("x"))

    result = cavorite("upload", "x.bin", cwd=sub)
    assert result.code == 0, result.stderr
    assert "ignoring" not in result.stderr
    assert (local_objects / "x.bin").is_file()
