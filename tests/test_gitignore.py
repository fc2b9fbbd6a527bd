""".gitignore entries for uploaded artifacts, checked against real git."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cavorite_py import gitignore
from cavorite_py.fsutil import TMP_MARK
from tests.fixtures.repos import git


@pytest.mark.parametrize(
    ("rel", "pattern"),
    [
        ("a.bin", "/a.bin"),
        ("d/e f.bin", "/d/e f.bin"),
        ("star*.bin", "/star\\*.bin"),
        ("q?.bin", "/q\\?.bin"),
        ("a[1].bin", "/a\\[1\\].bin"),
        ("#hash.bin", "/\\#hash.bin"),
        ("!bang.bin", "/\\!bang.bin"),
        ("trailing ", "/trailing\\ "),
    ],
)
def test_pattern_for(rel: str, pattern: str) -> None:
    assert gitignore.pattern_for(rel) == pattern


def test_ignore_creates_the_file_with_anchored_entries(tmp_path: Path) -> None:
    added = gitignore.ignore(tmp_path, ["a.bin", "d/b.bin"])
    assert added == ["/a.bin", "/d/b.bin"]
    assert (tmp_path / ".gitignore").read_text() == "/a.bin\n/d/b.bin\n"


def test_ignore_is_idempotent(tmp_path: Path) -> None:
    gitignore.ignore(tmp_path, ["a.bin", "a[1].bin"])
    before = (tmp_path / ".gitignore").read_bytes()
    assert gitignore.ignore(tmp_path, ["a.bin", "a[1].bin", "a.bin"]) == []
    assert (tmp_path / ".gitignore").read_bytes() == before


def test_ignore_appends_after_existing_content_without_final_newline(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.o\n# build\nbuild/")
    gitignore.ignore(tmp_path, ["x.bin"])
    assert (tmp_path / ".gitignore").read_text() == "*.o\n# build\nbuild/\n/x.bin\n"
    assert not [p for p in tmp_path.iterdir() if TMP_MARK in p.name]


def test_ignore_recognises_entries_in_a_crlf_file(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_bytes(b"/x.bin\r\n")
    assert gitignore.ignore(tmp_path, ["x.bin"]) == []
    assert (tmp_path / ".gitignore").read_bytes() == b"/x.bin\r\n"


@pytest.mark.parametrize("name", ["a\x1cb.bin", "a\u2028b.bin", "a\x85b.bin"])
def test_names_with_unicode_line_separators_are_added_once(tmp_path: Path, name: str) -> None:
    # str.splitlines() splits at these, git does not: the entry must still be found next time
    assert gitignore.ignore(tmp_path, [name]) == [gitignore.pattern_for(name)]
    assert gitignore.ignore(tmp_path, [name]) == []
    assert (tmp_path / ".gitignore").read_text(encoding="utf-8").count(name) == 1


def test_a_name_with_a_line_break_is_never_written(tmp_path: Path) -> None:
    # "x\n*" would become two lines, the second ignoring every file in the repository
    assert gitignore.ignore(tmp_path, ["x\n*", "y\r.bin", "ok.bin"]) == ["/ok.bin"]
    assert (tmp_path / ".gitignore").read_text() == "/ok.bin\n"


def test_a_gitignore_that_is_not_utf8_is_kept_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_bytes(b"/caf\xe9.bin\n")
    assert gitignore.ignore(tmp_path, ["a.bin"]) == ["/a.bin"]
    assert (tmp_path / ".gitignore").read_bytes() == b"/caf\xe9.bin\n/a.bin\n"


def test_in_git_work_tree(tmp_path: Path, make_git_repo: Callable[..., Path]) -> None:
    repo = make_git_repo("r")
    (repo / "sub").mkdir()
    assert gitignore.in_git_work_tree(repo)
    assert gitignore.in_git_work_tree(repo / "sub")
    (tmp_path / "plain").mkdir()
    assert not gitignore.in_git_work_tree(tmp_path / "plain")


SPECIAL = [
    "star*.bin",
    "q?.bin",
    "a[1].bin",
    "#hash.bin",
    "!bang.bin",
    "trailing ",
    "two  spaces  ",
    " leading.bin",
    "d/sub dir/x.bin",
    "ünï/文件.bin",
    "back\\slash.bin",
]


def test_real_git_ignores_exactly_the_listed_files(make_git_repo: Callable[..., Path]) -> None:
    repo = make_git_repo("r")
    # decoys that a wrongly escaped pattern would also match
    decoys = ["starX.bin", "qz.bin", "a1.bin", "trailing", "two  spaces", "d/sub dir/y.bin"]
    for rel in SPECIAL + decoys:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(b"x")
    gitignore.ignore(repo, SPECIAL)
    for rel in SPECIAL:
        assert git(repo, "check-ignore", "-q", "--no-index", rel, check=False).returncode == 0, rel
    for rel in decoys:
        assert git(repo, "check-ignore", "-q", "--no-index", rel, check=False).returncode == 1, rel
    status = git(repo, "status", "--porcelain", "-uall", "-z").stdout.split("\0")
    assert sorted(s[3:] for s in status if s) == sorted([".gitignore", *decoys])
