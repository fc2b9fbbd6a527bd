"""Where things are: artifacts, cfiles, keys, user paths; and which files a command covers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cavorite_py import git as git_module
from cavorite_py import selection
from cavorite_py.errors import MetadataError, PathError
from cavorite_py.fsutil import temp_path_for
from cavorite_py.workspace import Workspace
from tests.fixtures.repos import git


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".cavorite").mkdir(parents=True)
    (root / ".cavorite" / "config").write_text("{}")
    return root


@pytest.fixture
def ws(root: Path) -> Workspace:
    return Workspace(root)


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------- names and keys


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.bin.cfile", True),
        ("a.cfile", True),
        (".cfile", False),
        ("a.cfile.bak", False),
        ("a.CFILE", False),
        ("acfile", False),
    ],
)
def test_is_cfile(ws: Workspace, name: str, expected: bool) -> None:
    assert ws.is_cfile(ws.root / name) is expected


def test_custom_extension(root: Path) -> None:
    ws = Workspace(root, extension="meta")
    assert ws.is_cfile(root / "a.meta")
    assert not ws.is_cfile(root / "a.cfile")
    assert ws.cfile_for(root / "a.bin") == root / "a.bin.meta"


def test_cfile_and_artifact_are_inverse(ws: Workspace) -> None:
    artifact = ws.root / "dir" / "big.dmg"
    assert ws.cfile_for(artifact) == ws.root / "dir" / "big.dmg.cfile"
    assert ws.artifact_for(ws.cfile_for(artifact)) == artifact
    # the artifact is the cfile's path minus the extension, whatever its name looks like
    assert ws.artifact_for(ws.root / "x.cfile.cfile") == ws.root / "x.cfile"


def test_keys_are_repo_relative_posix_paths(ws: Workspace) -> None:
    assert ws.key_for(ws.root / "a.bin") == "a.bin"
    assert ws.key_for(ws.root / "d" / "e" / "f g.bin") == "d/e/f g.bin"


def test_keys_carry_the_prefix(root: Path) -> None:
    ws = Workspace(root, key_prefix="team-a/x")
    assert ws.key_for(root / "d" / "a.bin") == "team-a/x/d/a.bin"


@pytest.mark.parametrize("name", ["back\\slash.bin", "bad-\udcff.bin", "line\nbreak"])
def test_keys_refuse_names_no_store_can_hold(ws: Workspace, name: str) -> None:
    with pytest.raises(MetadataError):
        ws.key_for(ws.root / name)


def test_display_is_relative_to_the_current_directory(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws.root / "sub").mkdir()
    monkeypatch.chdir(ws.root / "sub")
    assert ws.display(ws.root / "a.bin") == os.path.join("..", "a.bin")
    assert ws.display(ws.root / "sub" / "b.bin") == "b.bin"


# --------------------------------------------------------------------- resolve


def test_resolve_relative_to_cwd_and_absolute(ws: Workspace) -> None:
    sub = ws.root / "sub"
    sub.mkdir()
    assert ws.resolve("a.bin", sub) == sub / "a.bin"
    assert ws.resolve("../a.bin", sub) == ws.root / "a.bin"
    assert ws.resolve(ws.root / "x" / ".." / "a.bin", sub) == ws.root / "a.bin"
    assert ws.resolve(".", ws.root) == ws.root
    assert ws.resolve("..", sub) == ws.root


def test_resolve_uses_the_process_cwd_by_default(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ws.root)
    assert ws.resolve("a.bin") == ws.root / "a.bin"


@pytest.mark.parametrize("arg", ["../outside.bin", "../../x", "/", "/etc/passwd", "sub/../../x"])
def test_resolve_refuses_paths_outside(ws: Workspace, arg: str) -> None:
    (ws.root / "sub").mkdir()
    with pytest.raises(PathError, match="outside the repository") as info:
        ws.resolve(arg, ws.root)
    assert info.value.exit_code == 2


def test_resolve_refuses_a_sibling_with_a_common_prefix(ws: Workspace, tmp_path: Path) -> None:
    touch(tmp_path / "repo-other" / "a.bin")
    with pytest.raises(PathError, match="outside"):
        ws.resolve(tmp_path / "repo-other" / "a.bin", ws.root)


def test_resolve_refuses_a_symlinked_directory_leading_outside(
    ws: Workspace, tmp_path: Path
) -> None:
    touch(tmp_path / "elsewhere" / "secret.bin")
    (ws.root / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(PathError, match="outside"):
        ws.resolve("link/secret.bin", ws.root)


def test_resolve_through_a_symlinked_root(ws: Workspace, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(ws.root, target_is_directory=True)
    touch(ws.root / "d" / "a.bin")
    assert ws.resolve(alias / "d" / "a.bin", alias) == ws.root / "d" / "a.bin"
    aliased = Workspace(alias)
    assert aliased.resolve(ws.root / "d" / "a.bin") == alias / "d" / "a.bin"
    assert aliased.key_for(aliased.resolve("d/a.bin", alias)) == "d/a.bin"


def test_resolve_keeps_the_last_component_as_named(ws: Workspace) -> None:
    touch(ws.root / "real.bin")
    (ws.root / "link.bin").symlink_to(ws.root / "real.bin")
    assert ws.resolve("link.bin", ws.root) == ws.root / "link.bin"


# --------------------------------------------------------------------- internal paths


@pytest.mark.parametrize(
    "rel",
    [
        ".git/config",
        ".git",
        ".cavorite/config",
        ".hg/store",
        ".svn/entries",
        "sub/.git/config",  # a submodule's or nested repository's git directory
        "vendor/lib/.hg/x",
    ],
)
def test_internal_paths_are_refused(ws: Workspace, rel: str) -> None:
    with pytest.raises(PathError, match="which cavorite never tracks"):
        ws.check_not_internal(ws.root / rel)


def test_temporary_files_are_refused(ws: Workspace) -> None:
    with pytest.raises(PathError, match="temporary file"):
        ws.check_not_internal(temp_path_for(ws.root / "a.bin"))


@pytest.mark.parametrize("rel", ["a.bin", "git/x", "x.git", "d/.gitignore", "d/.cavoritex"])
def test_ordinary_paths_pass(ws: Workspace, rel: str) -> None:
    ws.check_not_internal(ws.root / rel)


# --------------------------------------------------------------------- walking


def test_walk_files_is_sorted_and_skips_internal_dirs_and_temp_files(ws: Workspace) -> None:
    for rel in [
        "b.bin",
        "a.bin",
        "d/z",
        "d/c",
        ".git/HEAD",
        "x/.git/HEAD",
        ".cavorite/x",
        "e/.hg/y",
    ]:
        touch(ws.root / rel)
    touch(temp_path_for(ws.root / "d" / "c"))
    got = [ws.relative(p) for p in ws.walk_files(ws.root)]
    assert got == ["a.bin", "b.bin", "d/c", "d/z"]


def test_walk_cfiles(ws: Workspace) -> None:
    for rel in ["a.bin", "a.bin.cfile", "d/b.cfile", ".cfile", ".git/x.cfile", "c.cfile.old"]:
        touch(ws.root / rel)
    assert [ws.relative(p) for p in ws.walk_cfiles(ws.root)] == ["a.bin.cfile", "d/b.cfile"]


# --------------------------------------------------------------------- upload targets


def test_upload_targets_files_and_directories(ws: Workspace) -> None:
    for rel in ["a.bin", "d/b.bin", "d/b.bin.cfile", "d/.gitignore", "d/e/c.bin"]:
        touch(ws.root / rel)
    (ws.root / "d" / "link").symlink_to(ws.root / "a.bin")
    got = selection.upload_targets(ws, ["a.bin", "d", "d/b.bin"], ws.root)
    assert [ws.relative(p) for p in got] == ["a.bin", "d/b.bin", "d/e/c.bin"]


def test_upload_targets_from_a_subdirectory(ws: Workspace) -> None:
    touch(ws.root / "a.bin")
    touch(ws.root / "sub" / "b.bin")
    got = selection.upload_targets(ws, ["../a.bin", "b.bin", ws.root / "a.bin"], ws.root / "sub")
    assert got == [ws.root / "a.bin", ws.root / "sub" / "b.bin"]


def test_upload_targets_of_the_root_walks_everything_trackable(ws: Workspace) -> None:
    touch(ws.root / "a.bin")
    touch(ws.root / ".git" / "HEAD")
    assert selection.upload_targets(ws, ["."], ws.root) == [ws.root / "a.bin"]


def test_a_directory_alone_is_chosen_as_it_is_used_and_says_what_it_skipped(
    ws: Workspace,
) -> None:
    for rel in ["d/a.bin", "d/b.bin", "d/b.bin.cfile", "d/e/c.bin"]:
        touch(ws.root / rel)
    (ws.root / "d" / "link").symlink_to(ws.root / "d" / "a.bin")
    chosen = selection.upload_selection(ws, ["d"], ws.root)
    assert not isinstance(chosen.files, list)
    assert [ws.relative(p) for p in chosen.files] == ["d/a.bin", "d/b.bin", "d/e/c.bin"]
    assert [n.split(":")[0].endswith("d/link") for n in chosen.notes] == [True]


UNLISTABLE_CHECK = """
import sys
from pathlib import Path
from cavorite_py import selection
from cavorite_py.errors import PathError
from cavorite_py.workspace import Workspace

ws = Workspace(Path(sys.argv[1]))
for attempt in (
    lambda: selection.upload_selection(ws, ["d"], ws.root),
    lambda: next(iter(ws.walk_files(ws.root))),
):
    try:
        attempt()
        print("accepted")
    except PathError as exc:
        print(exc)
"""


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The ``git ls-files`` questions a selection asks (real git answers them)."""
    questions: list[tuple[str, ...]] = []
    streamed = git_module.streamed

    def recorded(top: Path, *args: str) -> Iterator[bytes]:
        questions.append(args)
        return streamed(top, *args)

    monkeypatch.setattr(git_module, "streamed", recorded)
    return questions


def _untracked_asked(questions: list[tuple[str, ...]]) -> bool:
    return any("--others" in q for q in questions)


def test_git_lists_untracked_files_only_when_a_file_has_no_cfile(
    ws: Workspace, asked: list[tuple[str, ...]]
) -> None:
    """Uploading tracked files again does not walk the tree through git (whose untracked list
    decides only for files without a cfile); a new file makes it ask, and git's rules hold."""
    git(ws.root, "init", "-q")
    for rel in ["d/a.bin", "d/a.bin.cfile", "d/e/b.bin", "d/e/b.bin.cfile"]:
        touch(ws.root / rel)
    touch(ws.root / "d" / ".gitignore", b"/a.bin\n/ignored.bin\n")
    chosen = selection.upload_targets(ws, ["d"], ws.root)
    assert [ws.relative(p) for p in chosen] == ["d/a.bin", "d/e/b.bin"]
    assert not _untracked_asked(asked)

    touch(ws.root / "d" / "ignored.bin")
    touch(ws.root / "d" / "e" / "new.bin")
    chosen = selection.upload_targets(ws, ["d"], ws.root)
    assert [ws.relative(p) for p in chosen] == ["d/a.bin", "d/e/b.bin", "d/e/new.bin"]
    assert _untracked_asked(asked)


@pytest.mark.parametrize("ignored", [False, True])
def test_a_file_found_without_a_cfile_after_all_is_judged_by_git(
    ws: Workspace, asked: list[tuple[str, ...]], ignored: bool
) -> None:
    """A cfile that is a broken link looks like one by its name: git is asked when the walk
    finds the file has none after all, and chooses as before (untracked: uploaded)."""
    git(ws.root, "init", "-q")
    touch(ws.root / "d" / "a.bin")
    touch(ws.root / "d" / "a.bin.cfile")
    touch(ws.root / "d" / "b.bin")
    (ws.root / "d" / "b.bin.cfile").symlink_to(ws.root / "nowhere")
    if ignored:
        touch(ws.root / "d" / ".gitignore", b"/b.bin\n")
    chosen = selection.upload_targets(ws, ["d"], ws.root)
    expected = ["d/a.bin"] if ignored else ["d/a.bin", "d/b.bin"]
    assert [ws.relative(p) for p in chosen] == expected
    assert _untracked_asked(asked)


def test_an_unlistable_directory_refuses_the_selection_at_once(ws: Workspace) -> None:
    touch(ws.root / "d" / "a.bin")
    touch(ws.root / "d" / "z" / "b.bin")
    (ws.root / "d" / "z").chmod(0)
    try:
        if os.access(ws.root / "d" / "z", os.R_OK):
            # root reads any directory: the check runs in a process without that capability
            lines = _without_read_override(UNLISTABLE_CHECK, str(ws.root))
            assert len(lines) == 2
            assert all("cannot list this directory" in line for line in lines), lines
            return
        with pytest.raises(PathError, match="cannot list this directory"):
            selection.upload_selection(ws, ["d"], ws.root)
        with pytest.raises(PathError, match="cannot list this directory"):
            next(iter(ws.walk_files(ws.root)))
    finally:
        (ws.root / "d" / "z").chmod(0o755)


def _without_read_override(code: str, *args: str) -> list[str]:
    """The lines ``code`` prints, run by Python without the capabilities that let root read
    any directory (``setpriv`` drops them from the bounding set before the exec)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a directory unlistable")
    drop = "-dac_read_search,-dac_override"
    command = [setpriv, "--bounding-set", drop, sys.executable, "-c", code, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.splitlines()


def test_upload_needs_an_argument(ws: Workspace) -> None:
    with pytest.raises(PathError, match="at least one"):
        selection.upload_targets(ws, [], ws.root)


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("missing.bin", "missing.bin: no such file"),
        ("a.bin.cfile", "is a metadata file; upload its artifact"),
        (".cavorite/config", "inside .cavorite/"),
        (".git/HEAD", "inside .git/"),
        ("sub/.git/HEAD", "inside .git/"),
        ("link.bin", "is a symbolic link"),
        ("../outside.bin", "outside the repository"),
    ],
)
def test_upload_refusals(ws: Workspace, arg: str, message: str) -> None:
    touch(ws.root / "a.bin")
    touch(ws.root / "a.bin.cfile")
    touch(ws.root / ".git" / "HEAD")
    touch(ws.root / "sub" / ".git" / "HEAD")
    touch(ws.root.parent / "outside.bin")
    (ws.root / "link.bin").symlink_to(ws.root / "a.bin")
    with pytest.raises(PathError, match=message) as info:
        selection.upload_targets(ws, ["a.bin", arg], ws.root)
    assert info.value.exit_code == 2


def test_upload_refuses_a_fifo(ws: Workspace) -> None:
    os.mkfifo(ws.root / "pipe")
    with pytest.raises(PathError, match="not a regular file"):
        selection.upload_targets(ws, ["pipe"], ws.root)


# --------------------------------------------------------------------- retrieve targets


@pytest.fixture
def tracked(ws: Workspace) -> Workspace:
    for rel in ["a.bin.cfile", "d/b.bin.cfile", "d/e/c.bin.cfile", ".git/x.cfile", "notes.txt"]:
        touch(ws.root / rel)
    return ws


def test_retrieve_everything_by_default(tracked: Workspace) -> None:
    got = selection.retrieve_targets(tracked, [], tracked.root)
    assert [tracked.relative(p) for p in got] == ["a.bin.cfile", "d/b.bin.cfile", "d/e/c.bin.cfile"]


def test_retrieve_by_cfile_artifact_and_directory(tracked: Workspace) -> None:
    ws = tracked
    got = selection.retrieve_targets(ws, ["a.bin.cfile", "d/e/c.bin", "d", "a.bin"], ws.root)
    assert [ws.relative(p) for p in got] == ["a.bin.cfile", "d/e/c.bin.cfile", "d/b.bin.cfile"]


def test_retrieve_from_a_subdirectory(tracked: Workspace) -> None:
    ws = tracked
    got = selection.retrieve_targets(ws, ["b.bin", "../a.bin.cfile"], ws.root / "d")
    assert [ws.relative(p) for p in got] == ["d/b.bin.cfile", "a.bin.cfile"]


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("notes.txt", "no metadata file"),
        ("missing.bin", "no metadata file"),
        (".git", "inside .git/"),
        # named explicitly, a cfile inside .git would still write next to it: refused
        (".git/x.cfile", "inside .git/"),
        (".git/x", "inside .git/"),
        ("../elsewhere.cfile", "outside the repository"),
    ],
)
def test_retrieve_refusals(tracked: Workspace, arg: str, message: str) -> None:
    touch(tracked.root.parent / "elsewhere.cfile")
    with pytest.raises(PathError, match=message):
        selection.retrieve_targets(tracked, [arg], tracked.root)


def test_retrieve_reports_a_directory_standing_where_an_artifact_belongs(
    tracked: Workspace,
) -> None:
    ws = tracked
    (ws.root / "a.bin").mkdir()
    touch(ws.root / "a.bin" / "inner.bin.cfile")
    got = selection.retrieve_targets(ws, ["a.bin"], ws.root)
    assert [ws.relative(p) for p in got] == ["a.bin.cfile", "a.bin/inner.bin.cfile"]
