""".gitignore entries for uploaded artifacts, checked against real git."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cavorite_py import gitignore
from cavorite_py.fsutil import TMP_MARK, atomic_write_bytes, temp_path_for
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


def test_ignore_writes_each_entry_in_its_own_directory(tmp_path: Path) -> None:
    for sub in ("assets/img", "d"):
        (tmp_path / sub).mkdir(parents=True)
    added = gitignore.ignore(tmp_path, ["assets/img/logo.png", "a.bin", "d/b.bin", "d/c.bin"])
    img, d = tmp_path / "assets" / "img" / ".gitignore", tmp_path / "d" / ".gitignore"
    assert added == [
        (img, "/logo.png"),
        (tmp_path / ".gitignore", "/a.bin"),
        (d, "/b.bin"),
        (d, "/c.bin"),
    ]
    assert img.read_text() == "/logo.png\n"
    assert d.read_text() == "/b.bin\n/c.bin\n"
    assert (tmp_path / ".gitignore").read_text() == "/a.bin\n"  # a root-level artifact
    assert not (tmp_path / "assets" / ".gitignore").exists()


def test_only_the_name_is_escaped(tmp_path: Path) -> None:
    (tmp_path / "[x] *dir").mkdir()
    added = gitignore.ignore(tmp_path, ["[x] *dir/star*.bin", "[x] *dir/#a[1] "])
    assert [line for _, line in added] == ["/star\\*.bin", "/\\#a\\[1\\]\\ "]
    assert (tmp_path / "[x] *dir" / ".gitignore").read_text() == "/star\\*.bin\n/\\#a\\[1\\]\\ \n"


def test_ignore_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    names = ["a.bin", "a[1].bin", "d/a.bin", "d/a[1].bin"]
    gitignore.ignore(tmp_path, names)
    before = [(p, p.read_bytes()) for p in (tmp_path / ".gitignore", tmp_path / "d/.gitignore")]
    assert gitignore.ignore(tmp_path, [*names, "d/a.bin"]) == []
    assert [(p, p.read_bytes()) for p, _ in before] == before


def test_ignore_appends_after_existing_content_without_final_newline(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".gitignore").write_text("*.o\n# build\nbuild/")
    gitignore.ignore(tmp_path, ["d/x.bin"])
    assert (tmp_path / "d" / ".gitignore").read_text() == "*.o\n# build\nbuild/\n/x.bin\n"
    assert not [p for p in (tmp_path / "d").iterdir() if TMP_MARK in p.name]


def test_ignore_recognises_entries_in_a_crlf_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".gitignore").write_bytes(b"/x.bin\r\n")
    assert gitignore.ignore(tmp_path, ["d/x.bin"]) == []
    assert (tmp_path / "d" / ".gitignore").read_bytes() == b"/x.bin\r\n"


@pytest.mark.parametrize("name", ["a\x1cb.bin", "a\u2028b.bin", "a\x85b.bin"])
def test_names_with_unicode_line_separators_are_added_once(tmp_path: Path, name: str) -> None:
    # str.splitlines() splits at these, git does not: the entry must still be found next time
    (tmp_path / "d").mkdir()
    rel = f"d/{name}"
    assert gitignore.ignore(tmp_path, [rel]) == [(tmp_path / "d/.gitignore", f"/{name}")]
    assert gitignore.ignore(tmp_path, [rel]) == []
    assert (tmp_path / "d/.gitignore").read_text(encoding="utf-8").count(name) == 1


def test_a_name_with_a_line_break_is_never_written(tmp_path: Path) -> None:
    # "x\n*" would become two lines, the second ignoring every file in the repository
    added = gitignore.ignore(tmp_path, ["x\n*", "y\r.bin", "ok.bin"])
    assert added == [(tmp_path / ".gitignore", "/ok.bin")]
    assert (tmp_path / ".gitignore").read_text() == "/ok.bin\n"


def test_a_line_break_in_a_directory_name_does_not_matter(tmp_path: Path) -> None:
    # only the name goes into the line; the directory is where the file is
    (tmp_path / "new\nline").mkdir()
    added = gitignore.ignore(tmp_path, ["new\nline/a.bin"])
    assert added == [(tmp_path / "new\nline" / ".gitignore", "/a.bin")]


def test_a_gitignore_that_is_not_utf8_is_kept_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for path in (tmp_path / ".gitignore", tmp_path / "d" / ".gitignore"):
        path.write_bytes(b"/caf\xe9.bin\n")
    gitignore.ignore(tmp_path, ["a.bin", "d/a.bin"])
    for path in (tmp_path / ".gitignore", tmp_path / "d" / ".gitignore"):
        assert path.read_bytes() == b"/caf\xe9.bin\n/a.bin\n"


def test_a_root_line_of_an_earlier_version_is_not_repeated(tmp_path: Path) -> None:
    """Earlier versions put full-path lines in the root .gitignore: such an artifact gets no
    second line, and the root file is never rewritten."""
    old = b"*.log\n/assets/img/logo.png\n/assets/img/a\\[1\\].bin\r\n/top.bin"
    (tmp_path / ".gitignore").write_bytes(old)
    (tmp_path / "assets" / "img").mkdir(parents=True)
    names = ["assets/img/logo.png", "assets/img/a[1].bin", "assets/img/new.png", "top.bin"]
    added = gitignore.ignore(tmp_path, names)
    assert added == [(tmp_path / "assets/img/.gitignore", "/new.png")]
    assert (tmp_path / "assets/img/.gitignore").read_text() == "/new.png\n"
    assert (tmp_path / ".gitignore").read_bytes() == old
    # a line for a path elsewhere is no reason to skip this one
    (tmp_path / "other").mkdir()
    added = gitignore.ignore(tmp_path, ["other/logo.png"])
    assert added == [(tmp_path / "other/.gitignore", "/logo.png")]


def test_each_file_is_read_and_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    reads: list[Path] = []
    writes: list[Path] = []
    read = gitignore._read

    def counting_read(path: Path) -> str:
        reads.append(path)
        return read(path)

    def counting_write(path: Path, data: bytes) -> None:
        writes.append(path)
        atomic_write_bytes(path, data)

    monkeypatch.setattr(gitignore, "_read", counting_read)
    monkeypatch.setattr(gitignore, "atomic_write_bytes", counting_write)
    names = [f"{d}/{i}.bin" for i in range(50) for d in ("a", "b", ".")]
    gitignore.ignore(tmp_path, [n.removeprefix("./") for n in names])
    files = [tmp_path / ".gitignore", tmp_path / "a/.gitignore", tmp_path / "b/.gitignore"]
    assert sorted(reads) == sorted(files)
    assert sorted(writes) == sorted(files)
    assert len((tmp_path / "b/.gitignore").read_text().splitlines()) == 50


def test_a_failing_directory_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for d in ("a", "b", "c"):
        (tmp_path / d).mkdir()
    (tmp_path / "a" / ".gitignore").mkdir()  # cannot be read

    def full_in_b(path: Path, data: bytes) -> None:
        if path.parent.name == "b":  # fails like a write of the temporary file beside it
            raise OSError(errno.ENOSPC, "No space left on device", str(temp_path_for(path)))
        atomic_write_bytes(path, data)

    monkeypatch.setattr(gitignore, "atomic_write_bytes", full_in_b)
    with pytest.raises(OSError) as failure:
        gitignore.ignore(tmp_path, ["a/x.bin", "b/x.bin", "c/x.bin", "x.bin"])
    assert failure.value.filename == str(tmp_path / "a" / ".gitignore")
    assert (tmp_path / "c" / ".gitignore").read_text() == "/x.bin\n"
    assert (tmp_path / ".gitignore").read_text() == "/x.bin\n"

    with pytest.raises(OSError) as failure:
        gitignore.ignore(tmp_path, ["b/x.bin"])
    assert failure.value.errno == errno.ENOSPC
    assert failure.value.filename == str(tmp_path / "b" / ".gitignore")


@pytest.mark.parametrize("target", ["secret", "missing"])
def test_a_linked_gitignore_is_neither_read_nor_written_through(
    tmp_path: Path, target: str
) -> None:
    """A committed link must not copy a file of the user's into the repository."""
    repo, secret = tmp_path / "repo", tmp_path / "secret"
    secret.write_bytes(b"private\n")
    for d in ("linked", "plain"):
        (repo / d).mkdir(parents=True)
    link = repo / "linked" / ".gitignore"
    link.symlink_to(tmp_path / target)
    with pytest.raises(OSError) as failure:
        gitignore.ignore(repo, ["linked/a.bin", "plain/a.bin"])
    assert failure.value.filename == str(link)
    assert link.is_symlink() and os.readlink(link) == str(tmp_path / target)
    assert secret.read_bytes() == b"private\n"
    assert not (tmp_path / "missing").exists()
    assert (repo / "plain" / ".gitignore").read_text() == "/a.bin\n"


def test_a_linked_root_gitignore_stops_the_update(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"private\n")
    (tmp_path / "repo" / "d").mkdir(parents=True)
    (tmp_path / "repo" / ".gitignore").symlink_to(tmp_path / "secret")
    with pytest.raises(OSError) as failure:
        gitignore.ignore(tmp_path / "repo", ["d/a.bin"])
    assert failure.value.filename == str(tmp_path / "repo" / ".gitignore")
    assert not (tmp_path / "repo" / "d" / ".gitignore").exists()


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
    "sub/star*.bin",
    "sub/deeper/!bang.bin",
    "[x] *dir/q?.bin",
    "new\nline/a.bin",
]
# files that a wrongly escaped or wrongly placed pattern would also match
DECOYS = [
    "starX.bin",
    "qz.bin",
    "a1.bin",
    "trailing",
    "two  spaces",
    "d/sub dir/y.bin",
    "d/x.bin",
    "x.bin",
    "sub/starX.bin",
    "sub/q?.bin",
    "sub/deeper/bang.bin",
    "[x] *dir/qz.bin",
    "x/q?.bin",
    "new\nline/b.bin",
]


def test_real_git_ignores_exactly_the_listed_files(make_git_repo: Callable[..., Path]) -> None:
    repo = make_git_repo("r")
    for rel in SPECIAL + DECOYS:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(b"x")
    gitignore.ignore(repo, SPECIAL)
    for rel in SPECIAL:
        assert git(repo, "check-ignore", "-q", "--no-index", rel, check=False).returncode == 0, rel
    for rel in DECOYS:
        assert git(repo, "check-ignore", "-q", "--no-index", rel, check=False).returncode == 1, rel
    status = git(repo, "status", "--porcelain", "-uall", "-z").stdout.split("\0")
    directories = {rel.rpartition("/")[0] for rel in SPECIAL}
    files = [f"{d}/.gitignore" if d else ".gitignore" for d in directories]
    assert sorted(s[3:] for s in status if s) == sorted([*files, *DECOYS])


def test_real_git_with_lines_of_an_earlier_version(make_git_repo: Callable[..., Path]) -> None:
    repo = make_git_repo("r")
    for rel in ["d/old.bin", "d/new.bin", "d/other.bin"]:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(b"x")
    (repo / ".gitignore").write_text("/d/old.bin\n")
    gitignore.ignore(repo, ["d/old.bin", "d/new.bin"])
    assert (repo / "d" / ".gitignore").read_text() == "/new.bin\n"
    status = git(repo, "status", "--porcelain", "-uall", "-z").stdout.split("\0")
    assert sorted(s[3:] for s in status if s) == [".gitignore", "d/.gitignore", "d/other.bin"]


@pytest.mark.parametrize(
    "name", ["logo.png", "a b.bin", "x*y[1]?.bin", "#hash", "!bang", "back\\slash", "end "]
)
def test_unpattern_reads_back_every_line_pattern_for_writes(name: str) -> None:
    assert gitignore.unpattern(gitignore.pattern_for(name)) == name


@pytest.mark.parametrize("line", ["", "# comment", "!/x", "*.bin", "/build/", "/a*", "logo.png"])
def test_unpattern_ignores_lines_cavorite_never_writes(line: str) -> None:
    assert gitignore.unpattern(line) is None


def test_unignore_removes_only_the_artifacts_lines(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    gitignore.ignore(tmp_path, ["sub/a.bin", "sub/b.bin", "c.bin"])
    (tmp_path / ".gitignore").write_text("# mine\n/sub/a.bin\n/c.bin\n*.log\n")
    gitignore.unignore(tmp_path, ["sub/a.bin", "c.bin"])
    assert (tmp_path / "sub" / ".gitignore").read_text() == "/b.bin\n"
    assert (tmp_path / ".gitignore").read_text() == "# mine\n*.log\n"
    assert gitignore.named_paths(tmp_path / "sub" / ".gitignore", "sub") == ["sub/b.bin"]
