"""The pre-commit guard: git's binary rule, the size threshold, the config options, and
``cavorite check`` on the files it is given (the hooks' end-to-end tests are in tests/e2e)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cavorite_py.config import Config
from cavorite_py.errors import ConfigError
from cavorite_py.guard import (
    BINARY_SNIFF,
    DEFAULT_THRESHOLD,
    GuardSettings,
    is_binary,
    read_head,
    reason_to_track,
)
from tests.e2e.support import binary, json_report, set_options, write
from tests.fixtures.repos import Cavorite, git


def reason(path: Path, size: int, settings: GuardSettings) -> str | None:
    return reason_to_track(size, lambda: read_head(path), settings)


# --------------------------------------------------------------------- binary and large


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", False),
        (b"plain text\n", False),
        ("ünïcødé text\n".encode(), False),
        (b"\x00", True),
        (b"text then a NUL\x00", True),
        (b"x" * (BINARY_SNIFF - 1) + b"\x00", True),  # the last byte git looks at
        (b"x" * BINARY_SNIFF + b"\x00", False),  # one past it: text, as git sees it
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", True),
    ],
)
def test_is_binary_follows_git(tmp_path: Path, content: bytes, expected: bool) -> None:
    path = write(tmp_path, "f", content)
    assert is_binary(path) is expected
    # git agrees: it shows a binary file's diff as "-\t-"
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "f")
    numstat = git(tmp_path, "diff", "--cached", "--numstat").stdout
    if content:
        assert numstat.startswith("-\t-\t") is expected


def test_reason_to_track(tmp_path: Path) -> None:
    settings = GuardSettings(threshold=100)
    text = write(tmp_path, "t", b"x" * 100)
    blob = write(tmp_path, "b", b"\x00" * 10)
    assert reason(text, 101, settings) == "large"
    assert reason(text, 99, settings) is None
    assert reason(blob, 10, settings) == "binary"
    assert reason(blob, 200, settings) == "large"
    assert reason(blob, 0, settings) is None  # an empty file is never binary
    assert reason(text, 10**9, GuardSettings(threshold=0)) is None  # 0 turns the size rule off
    assert reason(blob, 10, GuardSettings(detect_binary=False)) is None


def test_a_file_exactly_at_the_threshold_is_not_large(tmp_path: Path) -> None:
    text = write(tmp_path, "t", b"x" * 100)
    assert reason(text, 100, GuardSettings(threshold=100)) is None


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, GuardSettings(DEFAULT_THRESHOLD, True, True)),
        ({"large_file_threshold": 4096}, GuardSettings(4096, True, True)),
        ({"large_file_threshold": "0"}, GuardSettings(0, True, True)),
        ({"large_file_threshold": ""}, GuardSettings(DEFAULT_THRESHOLD, True, True)),
        (
            {"detect_binary": False, "remote_check": "no"},
            GuardSettings(remote_check=False, detect_binary=False),
        ),
        ({"detect_binary": "true", "remote_check": "1"}, GuardSettings()),
    ],
)
def test_guard_settings_from_config(options: dict[str, object], expected: GuardSettings) -> None:
    assert GuardSettings.from_config(Config("localstore", options)) == expected


@pytest.mark.parametrize(
    "options",
    [{"large_file_threshold": "1MB"}, {"large_file_threshold": True}, {"detect_binary": "maybe"}],
)
def test_guard_settings_refuse_bad_values(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        GuardSettings.from_config(Config("localstore", options))


def test_default_threshold_is_one_mebibyte() -> None:
    assert DEFAULT_THRESHOLD == 1024 * 1024


# --------------------------------------------------------------------- cavorite check FILES


def check(cavorite: Cavorite, repo: Path, *args: str, **env: str) -> tuple[int, str, str]:
    result = cavorite("check", *args, cwd=repo, env=env or None)
    return result.code, result.stdout, result.stderr


def test_check_passes_small_text_files(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo, "a.txt", b"text\n")
    write(cavorite_repo, "b.py", b"print('hi')\n")
    assert check(cavorite, cavorite_repo, "a.txt", "b.py") == (0, "", "")
    assert check(cavorite, cavorite_repo) == (0, "", "")


def test_check_refuses_binary_with_a_quoted_fix(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo, "my file.bin", binary("x"))
    write(cavorite_repo, "ok.txt", b"fine\n")

    code, out, err = check(cavorite, cavorite_repo, "my file.bin", "ok.txt")
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "cavorite: refused: my file.bin is a binary file and is not tracked by cavorite",
        "    fix: cavorite upload 'my file.bin' && git rm --cached 'my file.bin' "
        "&& git add 'my file.bin.cfile' .gitignore",
        "cavorite: 1 of 2 files refused",
    ]


def test_the_fix_adds_the_gitignore_of_the_files_directory(
    cavorite_repo: Path, cavorite: Cavorite
) -> None:
    write(cavorite_repo, "sub dir/x.bin", binary("x"))
    fixes = {
        cavorite_repo: "git add 'sub dir/x.bin.cfile' 'sub dir/.gitignore'",
        cavorite_repo / "sub dir": "git add x.bin.cfile .gitignore",
    }
    for cwd, fix in fixes.items():
        result = cavorite("check", "x.bin" if cwd.name == "sub dir" else "sub dir/x.bin", cwd=cwd)
        assert result.code == 1
        assert result.stderr.splitlines()[1].endswith(f"&& {fix}"), result.stderr


def test_check_json(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo, "x.bin", binary("x"))
    write(cavorite_repo, "ok.txt", b"fine\n")
    result = cavorite("check", "--json", "x.bin", "ok.txt", cwd=cavorite_repo)
    doc = json_report(result, "check")
    assert result.code == 1
    refused, fine = doc["files"]
    assert refused["path"] == "x.bin"
    assert refused["outcome"] == "failed"
    assert "x.bin is a binary file" in refused["error"]["message"]
    assert fine["path"] == "ok.txt"
    assert fine["outcome"] != "failed"


def test_check_options_in_the_config(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo, "x.bin", binary("x"))
    write(cavorite_repo, "big.txt", b"y" * 3000)
    set_options(cavorite_repo, large_file_threshold=2000)
    code, _, err = check(cavorite, cavorite_repo, "x.bin", "big.txt")
    assert code == 1
    assert "x.bin is a binary file" in err
    assert "big.txt is a large file" in err

    set_options(cavorite_repo, large_file_threshold=0, detect_binary=False)
    assert check(cavorite, cavorite_repo, "x.bin", "big.txt") == (0, "", "")


def test_check_cfiles_against_the_store(
    cavorite_repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    write(cavorite_repo, "a.bin", binary("a"))
    write(cavorite_repo, "b.bin", binary("b"))
    assert cavorite("upload", "a.bin", "b.bin", cwd=cavorite_repo).code == 0
    assert check(cavorite, cavorite_repo, "a.bin.cfile", "b.bin.cfile") == (0, "", "")

    (local_objects / "a.bin").unlink()
    code, _, err = check(cavorite, cavorite_repo, "a.bin.cfile", "b.bin.cfile")
    assert code == 1
    assert "a.bin.cfile points at object 'a.bin', which is not in the store" in err
    assert "fix: cavorite upload a.bin\n" in err
    assert "b.bin" not in err

    assert check(cavorite, cavorite_repo, "--no-remote", "a.bin.cfile")[0] == 0
    assert check(cavorite, cavorite_repo, "a.bin.cfile", CAVORITE_NO_REMOTE_CHECK="1")[0] == 0
    assert check(cavorite, cavorite_repo, "a.bin.cfile", CAVORITE_NO_REMOTE_CHECK="0")[0] == 1
    set_options(cavorite_repo, remote_check=False)
    assert check(cavorite, cavorite_repo, "a.bin.cfile")[0] == 0


def test_check_cfile_whose_size_differs_from_the_object(
    cavorite_repo: Path, cavorite: Cavorite
) -> None:
    write(cavorite_repo, "a.bin", binary("a"))
    assert cavorite("upload", "a.bin", cwd=cavorite_repo).code == 0
    cfile = cavorite_repo / "a.bin.cfile"
    meta = json.loads(cfile.read_text())
    meta["size"] += 1
    cfile.write_text(json.dumps(meta))

    code, _, err = check(cavorite, cavorite_repo, "a.bin.cfile")
    assert code == 1
    assert "holds different content" in err
    assert "fix: cavorite upload a.bin --force" in err


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[]", b'{"name": "/etc/passwd", "checksum": "' + b"0" * 64 + b'"}', b"\x00\xff"],
)
def test_check_refuses_malformed_cfiles(
    cavorite_repo: Path, cavorite: Cavorite, content: bytes
) -> None:
    write(cavorite_repo, "m.bin.cfile", content)
    code, _, err = check(cavorite, cavorite_repo, "m.bin.cfile")
    assert code == 1
    assert "cavorite: refused: malformed metadata file" in err
    assert "m.bin.cfile" in err


def test_check_refuses_a_tracked_artifact(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo, "a.bin", binary("a"))
    assert cavorite("upload", "a.bin", cwd=cavorite_repo).code == 0
    code, _, err = check(cavorite, cavorite_repo, "a.bin")
    assert code == 1
    assert "a.bin is tracked by a.bin.cfile but staged itself" in err
    assert "fix: git rm --cached a.bin" in err


def test_check_leaves_alone_what_is_not_its_business(
    cavorite_repo: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    outside = write(tmp_path, "elsewhere.bin", binary("far"))
    write(cavorite_repo, ".cavorite/blob", binary("internal"))
    (cavorite_repo / "dir").mkdir()
    args = [str(outside), ".cavorite/config", ".cavorite/blob", "gone.bin", "dir"]
    assert check(cavorite, cavorite_repo, *args) == (0, "", "")


def test_check_staged_looks_at_git_index_only(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo, "staged.bin", binary("s"))
    write(cavorite_repo, "unstaged.bin", binary("u"))
    git(cavorite_repo, "add", "staged.bin")

    code, _, err = check(cavorite, cavorite_repo, "--staged")
    assert code == 1
    assert "staged.bin is a binary file" in err
    assert "unstaged.bin" not in err
    assert "1 of 1 files refused" in err


def test_check_json_with_a_file_outside_the_repository(
    cavorite_repo: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    outside = write(tmp_path, "elsewhere.txt", b"text\n")
    result = cavorite("check", "--json", str(outside), cwd=cavorite_repo)
    assert result.code == 0, result.stderr
    json_report(result, "check")
