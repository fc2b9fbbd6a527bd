"""Which files ``cavorite upload DIR`` covers: git's ignore rules, files git tracks, symbolic
links, ``--include``/``--exclude`` patterns and the config's ``track`` patterns."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.e2e.support import binary, labels, set_options, write
from tests.fixtures.repos import Cavorite, git


def _uploaded(text: str) -> set[str]:
    return {path for path, label in labels(text).items() if label == "uploaded"}


def _notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("cavorite: note: ")]


def test_git_ignore_rules_are_followed(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo, ".gitignore", b".cache/\n*.tmp\n")
    write(cavorite_repo, "assets/a.bin", binary("a"))
    write(cavorite_repo, "assets/.cache/junk.bin", binary("junk"))
    write(cavorite_repo, "assets/b.tmp", binary("b"))
    write(cavorite_repo, ".git/info/exclude", b"assets/local.bin\n")
    write(cavorite_repo, "assets/local.bin", binary("local"))

    result = cavorite("upload", "assets", cwd=cavorite_repo)

    assert result.code == 0, result.stderr
    assert _uploaded(result.stdout) == {"assets/a.bin"}
    assert not (cavorite_repo / "assets" / ".cache" / "junk.bin.cfile").exists()


def test_an_uploaded_file_ignored_since_is_uploaded_again(
    cavorite_repo: Path, cavorite: Cavorite
) -> None:
    write(cavorite_repo, "assets/a.bin", binary("a"))
    assert cavorite("upload", "assets", cwd=cavorite_repo).code == 0
    # cavorite made git ignore it; its cfile says cavorite tracks it
    write(cavorite_repo, "assets/a.bin", binary("a changed"))
    result = cavorite("upload", "--force", "assets", cwd=cavorite_repo)
    assert result.code == 0, result.stderr
    assert _uploaded(result.stdout) == {"assets/a.bin"}


def test_files_git_tracks_are_skipped_with_the_exact_fix(
    cavorite_repo: Path, cavorite: Cavorite
) -> None:
    write(cavorite_repo, "assets/NOTES.md", b"notes\n")
    write(cavorite_repo, "assets/old model.bin", binary("old"))
    git(cavorite_repo, "add", "assets")
    write(cavorite_repo, "assets/new.bin", binary("new"))

    result = cavorite("upload", ".", cwd=cavorite_repo / "assets")

    assert result.code == 0, result.stderr
    assert _uploaded(result.stdout) == {"new.bin"}
    notes = _notes(result.stderr)
    fix = "git rm --cached 'old model.bin'"
    assert any("old model.bin: git tracks it" in n and fix in n for n in notes), notes
    assert any("git rm --cached NOTES.md" in n for n in notes), notes
    # the fix, run as printed, works; then the upload takes the file
    command = next(n for n in notes if fix in n).split("run ", 1)[1].split(" and upload")[0]
    subprocess.run(shlex.split(command), cwd=cavorite_repo / "assets", check=True)
    again = cavorite("upload", "old model.bin", cwd=cavorite_repo / "assets")
    assert again.code == 0 and _notes(again.stderr) == []


def test_a_named_file_git_tracks_is_uploaded_with_the_fix(
    cavorite_repo: Path, cavorite: Cavorite
) -> None:
    write(cavorite_repo, "model.bin", binary("m"))
    git(cavorite_repo, "add", "model.bin")
    result = cavorite("upload", "model.bin", cwd=cavorite_repo)
    assert result.code == 0, result.stderr
    assert _uploaded(result.stdout) == {"model.bin"}
    [note] = _notes(result.stderr)
    assert note.endswith("run: git rm --cached model.bin")


def test_symbolic_links_are_reported(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo, "assets/a.bin", binary("a"))
    (cavorite_repo / "assets" / "link.bin").symlink_to("a.bin")
    result = cavorite("upload", "assets", cwd=cavorite_repo)
    assert result.code == 0, result.stderr
    assert any("assets/link.bin: a symbolic link" in n for n in _notes(result.stderr))
    assert _notes(cavorite("-q", "upload", "assets", cwd=cavorite_repo).stderr) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--include", "*.bin"], {"assets/a.bin", "assets/deep/c.bin"}),
        (["--include", "assets/deep/**"], {"assets/deep/c.bin", "assets/deep/d.dat"}),
        (["--exclude", "*.dat", "--exclude", "assets/deep/*"], {"assets/a.bin"}),
        (["-I", "**/*.bin", "-X", "assets/deep/**"], {"assets/a.bin"}),
    ],
)
def test_include_and_exclude_patterns(
    cavorite_repo: Path, cavorite: Cavorite, args: list[str], expected: set[str]
) -> None:
    for rel in ["assets/a.bin", "assets/b.dat", "assets/deep/c.bin", "assets/deep/d.dat"]:
        write(cavorite_repo, rel, binary(rel))
    result = cavorite("upload", "assets", *args, cwd=cavorite_repo)
    assert result.code == 0, result.stderr
    assert _uploaded(result.stdout) == expected


def test_the_configs_track_patterns_are_the_default(
    cavorite_repo: Path, cavorite: Cavorite
) -> None:
    set_options(cavorite_repo, track=["*.psd", "models/**"])
    for rel in ["art/a.psd", "art/b.txt", "models/m/w.bin"]:
        write(cavorite_repo, rel, binary(rel))
    result = cavorite("upload", ".", cwd=cavorite_repo)
    assert result.code == 0, result.stderr
    assert _uploaded(result.stdout) == {"art/a.psd", "models/m/w.bin"}
    # a named file is uploaded whatever the patterns say
    assert _uploaded(cavorite("upload", "art/b.txt", cwd=cavorite_repo).stdout) == {"art/b.txt"}


def test_a_malformed_track_option_is_one_clear_error(
    cavorite_repo: Path, cavorite: Cavorite
) -> None:
    config = json.loads((cavorite_repo / ".cavorite" / "config").read_text())
    config["options"]["track"] = "*.bin"
    (cavorite_repo / ".cavorite" / "config").write_text(json.dumps(config))
    write(cavorite_repo, "a.bin", binary("a"))
    result = cavorite("upload", ".", cwd=cavorite_repo)
    assert result.code == 2
    assert result.stderr.strip().startswith('cavorite: error: option "track" must be a list')
