"""A catalogue of bad inputs, through the installed command.

Each case asserts one clear error line, the documented exit code (1: a file could not be
handled; 2: bad usage or configuration), no traceback, and that nothing changed: neither the
repository (every file, directory and link outside ``.git``) nor the store's directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.repos import Cavorite, git

from .conftest import GOOD
from .support import (
    EXIT_FAILED,
    EXIT_USAGE,
    assert_clean_failure,
    assert_no_crash,
    assert_unchanged,
    error_lines,
    read_only,
    sha256,
    snapshot,
    temp_files,
)

HEX = "ab" * 32


def cfile_json(**fields: object) -> bytes:
    data: dict[str, object] = {
        "name": "bad.bin",
        "checksum": HEX,
        "date_modified": "2024-01-02T03:04:05.123456789Z",
        "size": 3,
    }
    data.update(fields)
    return json.dumps({k: v for k, v in data.items() if v is not DROP}).encode()


DROP = object()
VALID = cfile_json()

# (id, content of bad.bin.cfile, pattern of the error line)
CFILE_CASES: list[tuple[str, bytes, str]] = [
    ("empty", b"", r"bad\.bin\.cfile: empty"),
    ("blank", b" \n\t\n", r"bad\.bin\.cfile: empty"),
    ("truncated", VALID[: len(VALID) // 2], r"bad\.bin\.cfile: not valid JSON"),
    ("not-json", b"hello world\n", r"bad\.bin\.cfile: not valid JSON"),
    ("git-conflict", b"<<<<<<< HEAD\n" + VALID + b"\n=======\n", r"not valid JSON"),
    ("not-utf8", b'{"name": "\xff\xfe"}', r"bad\.bin\.cfile: not UTF-8"),
    ("utf16", VALID.decode().encode("utf-16"), r"bad\.bin\.cfile: not UTF-8"),
    ("utf8-bom", b"\xef\xbb\xbf" + VALID, r"not valid JSON"),
    ("array", b"[1, 2]", r"not a JSON object"),
    ("string", b'"bad.bin"', r"not a JSON object"),
    ("number", b"42", r"not a JSON object"),
    ("null", b"null", r"not a JSON object"),
    ("nested-deep", b"[" * 50_000, r"nested too deeply"),
    ("huge-integer", cfile_json()[:-1] + b', "x": ' + b"9" * 5000 + b"}", r"not a metadata file"),
    ("too-large", b" " * (10 * 1024 * 1024) + VALID, r"too large to be a metadata file"),
    ("name-missing", cfile_json(name=DROP), r"field 'name' is missing or not a string"),
    ("name-number", cfile_json(name=7), r"field 'name' is missing or not a string"),
    ("name-null", cfile_json(name=None), r"field 'name' is missing or not a string"),
    ("name-list", cfile_json(name=["a"]), r"field 'name' is missing or not a string"),
    ("name-empty", cfile_json(name=""), r"object name is empty"),
    ("name-absolute", cfile_json(name="/etc/passwd"), r"'/etc/passwd' is absolute"),
    ("name-drive", cfile_json(name="C:/Windows/x"), r"is absolute"),
    ("name-dotdot", cfile_json(name="../outside.bin"), r"'\.\./outside\.bin' has an empty, '\.'"),
    ("name-inner-dotdot", cfile_json(name="a/../../b"), r"'\.\.' segment"),
    ("name-only-dotdot", cfile_json(name=".."), r"'\.\.' segment"),
    ("name-dot", cfile_json(name="./a"), r"'\.' or '\.\.' segment"),
    ("name-double-slash", cfile_json(name="a//b"), r"empty, '\.' or '\.\.' segment"),
    ("name-trailing-slash", cfile_json(name="a/"), r"empty, '\.' or '\.\.' segment"),
    ("name-backslash", cfile_json(name="..\\..\\x"), r"contains a backslash"),
    ("name-nul", cfile_json(name="a\x00b"), r"contains a NUL character"),
    ("name-newline", cfile_json(name="a\nb"), r"contains control characters"),
    ("name-escape", cfile_json(name="a\x1b[2Jb"), r"contains control characters"),
    ("name-surrogate", b'{"name": "a\\ud800", "checksum": "' + HEX.encode() + b'"}', r"UTF-8"),
    ("checksum-missing", cfile_json(checksum=DROP), r"field 'checksum' is not a sha256"),
    ("checksum-number", cfile_json(checksum=12), r"field 'checksum' is not a sha256"),
    ("checksum-short", cfile_json(checksum="a" * 63), r"field 'checksum' is not a sha256"),
    ("checksum-long", cfile_json(checksum="a" * 65), r"field 'checksum' is not a sha256"),
    ("checksum-not-hex", cfile_json(checksum="g" * 64), r"field 'checksum' is not a sha256"),
    ("checksum-spaces", cfile_json(checksum=" " + "a" * 64), r"field 'checksum' is not a sha256"),
    ("checksum-newline", cfile_json(checksum="a" * 64 + "\n"), r"field 'checksum' is not a sha"),
    ("checksum-prefixed", cfile_json(checksum="sha256:" + "a" * 64), r"'checksum' is not a sha"),
    ("checksum-md5", cfile_json(checksum="d41d8cd98f00b204e9800998ecf8427e"), r"not a sha256"),
    ("date-number", cfile_json(date_modified=1700000000), r"'date_modified' is not a string"),
    ("date-object", cfile_json(date_modified={}), r"'date_modified' is not a string"),
    ("size-string", cfile_json(size="3"), r"field 'size' is not a non-negative whole number"),
    ("size-negative", cfile_json(size=-1), r"field 'size' is not a non-negative whole number"),
    ("size-float", cfile_json(size=3.5), r"field 'size' is not a non-negative whole number"),
    ("size-bool", cfile_json(size=True), r"field 'size' is not a non-negative whole number"),
    ("size-nan", cfile_json()[:-1] + b', "size": NaN}', r"'size' is not a non-negative whole"),
]


@pytest.mark.parametrize(
    ("content", "pattern"), [c[1:] for c in CFILE_CASES], ids=[c[0] for c in CFILE_CASES]
)
def test_retrieve_refuses_a_bad_cfile(
    repo: Path, local_objects: Path, cavorite: Cavorite, content: bytes, pattern: str
) -> None:
    (repo / "bad.bin.cfile").write_bytes(content)
    before = snapshot(repo, local_objects)
    result = cavorite("retrieve", "bad.bin.cfile", cwd=repo, timeout=30)
    line = assert_clean_failure(result, EXIT_FAILED, pattern)
    assert "bad.bin.cfile" in line
    assert "\x1b" not in result.stderr  # a hostile name cannot drive the terminal
    assert_unchanged(before)


def test_every_bad_cfile_at_once_fails_alone(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    """The whole catalogue in one repository: retrieve, status and verify report each bad cfile
    on its own line, still handle the good artifact, change nothing and never crash."""
    for case, content, _ in CFILE_CASES:
        (repo / f"{case}.bin.cfile").write_bytes(content)
    (repo / "good.bin").unlink()
    before = snapshot(repo, local_objects)
    good = sha256(GOOD)
    for command, times in ((["status"], 1), (["verify"], 1), (["verify", "--remote"], 2)):
        result = cavorite(*command, cwd=repo, timeout=60)
        assert_no_crash(result)
        assert result.code == EXIT_FAILED
        assert len(error_lines(result)) == times * len(CFILE_CASES), result.stderr
        assert_unchanged(before)
    result = cavorite("retrieve", "--json", cwd=repo, timeout=60)
    assert_no_crash(result)
    assert result.code == EXIT_FAILED
    report = json.loads(result.stdout)
    outcomes = {f["path"]: f["outcome"] for f in report["files"]}
    assert outcomes.pop("good.bin") == "retrieved"
    assert set(outcomes.values()) == {"failed"} and len(outcomes) == len(CFILE_CASES)
    assert sha256((repo / "good.bin").read_bytes()) == good
    (repo / "good.bin").unlink()
    assert_unchanged(before)


# --------------------------------------------------------------------- cfiles in odd places


def test_a_directory_named_like_a_cfile_is_not_a_cfile(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (repo / "dir.bin.cfile").mkdir()
    (repo / "dir.bin.cfile" / "inner.txt").write_text("x")
    before = snapshot(repo, local_objects)
    result = cavorite("retrieve", cwd=repo)
    assert result.code == 0, result.stderr
    assert "dir.bin" not in result.stdout + result.stderr
    result = cavorite("retrieve", "dir.bin", cwd=repo)
    assert_clean_failure(result, EXIT_USAGE, r"dir\.bin: no metadata file dir\.bin\.cfile")
    assert_unchanged(before)


def test_a_symlinked_cfile_is_refused(
    repo: Path, local_objects: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    """A cfile that is a link could lead anywhere outside the repository (a FIFO, a device, a
    secret); it is refused before being opened, even when its target is a valid cfile."""
    outside = tmp_path / "outside.cfile"
    outside.write_bytes((repo / "good.bin.cfile").read_bytes())
    (repo / "link.bin.cfile").symlink_to(outside)
    before = snapshot(repo, local_objects, tmp_path / "outside.cfile")
    result = cavorite("retrieve", "link.bin.cfile", cwd=repo)
    assert_clean_failure(result, EXIT_FAILED, r"link\.bin\.cfile: is a symbolic link")
    assert_unchanged(before)
    assert not (repo / "link.bin").exists()


@pytest.mark.parametrize("command", [["retrieve"], ["status"], ["verify"]])
def test_a_cfile_that_is_a_fifo_never_blocks(
    repo: Path, local_objects: Path, cavorite: Cavorite, command: list[str]
) -> None:
    """Opening a FIFO for reading blocks until a writer comes: a walk over the repository must
    not hang on one (a symlink to one would do the same)."""
    os.mkfifo(repo / "fifo.bin.cfile")
    before = snapshot(repo, local_objects)
    result = cavorite(*command, cwd=repo, timeout=20)
    assert_no_crash(result)
    assert result.code == EXIT_FAILED
    [line] = error_lines(result)
    assert "fifo.bin.cfile: not a regular file" in line
    assert_unchanged(before)


def test_a_symlink_to_a_fifo_never_blocks(
    repo: Path, local_objects: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "pipe")
    (repo / "pipe.bin.cfile").symlink_to(tmp_path / "pipe")
    before = snapshot(repo, local_objects)
    result = cavorite("retrieve", cwd=repo, timeout=20)
    assert_no_crash(result)
    assert [line for line in error_lines(result) if "symbolic link" in line], result.stderr
    assert_unchanged(before)


def test_a_cfile_of_a_cfile_is_refused(repo: Path, local_objects: Path, cavorite: Cavorite) -> None:
    """``good.bin.cfile.cfile`` would make retrieve write over ``good.bin.cfile`` with whatever
    the store holds under its name."""
    hostile = {"name": "good.bin", "checksum": sha256(GOOD), "size": len(GOOD)}
    (repo / "good.bin.cfile.cfile").write_text(json.dumps(hostile))
    before = snapshot(repo, local_objects)
    for args in (["good.bin.cfile.cfile"], [], ["--force", "good.bin.cfile.cfile"]):
        result = cavorite("retrieve", *args, cwd=repo)
        assert result.code == EXIT_FAILED, result.stderr
        [line] = error_lines(result)
        assert "good.bin.cfile.cfile: the metadata file of a metadata file" in line
        assert_unchanged(before)


def test_uploading_a_cfile_or_a_cfile_of_a_cfile_is_refused(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (repo / "x.cfile.cfile").write_text("{}")
    before = snapshot(repo, local_objects)
    result = cavorite("upload", "good.bin.cfile", cwd=repo)
    assert_clean_failure(result, EXIT_USAGE, r"good\.bin\.cfile: is a metadata file; upload its")
    result = cavorite("upload", "x.cfile.cfile", cwd=repo)
    assert_clean_failure(result, EXIT_USAGE, r"x\.cfile\.cfile: is a metadata file")
    assert_unchanged(before)


def test_cfiles_inside_internal_directories_are_never_used(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    hostile = (repo / "good.bin.cfile").read_bytes()
    (repo / ".git" / "evil.bin.cfile").write_bytes(hostile)
    (repo / ".cavorite" / "evil.bin.cfile").write_bytes(hostile)
    before = snapshot(repo, local_objects)
    result = cavorite("retrieve", cwd=repo)
    assert result.code == 0 and "evil" not in result.stdout, result.stdout + result.stderr
    for where in (".git", ".cavorite"):
        result = cavorite("retrieve", f"{where}/evil.bin.cfile", cwd=repo)
        assert_clean_failure(result, EXIT_USAGE, rf"inside \{where}/, which cavorite never tracks")
    assert not (repo / ".git" / "evil.bin").exists()
    assert_unchanged(before)


def test_a_cfile_name_picks_a_key_never_a_place_on_disk(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    """A cfile whose name is another artifact's key fetches that object, verified against its
    own checksum, and writes it beside itself: nothing else on disk is touched."""
    (repo / "sub").mkdir()
    borrowed = json.loads((repo / "good.bin.cfile").read_text())
    (repo / "sub" / "evil.bin.cfile").write_text(json.dumps(borrowed))
    (repo / "sub" / "liar.bin.cfile").write_text(json.dumps({**borrowed, "checksum": HEX}))
    before = snapshot(repo, local_objects)
    result = cavorite("retrieve", "--json", "sub", cwd=repo)
    assert result.code == EXIT_FAILED, result.stderr
    outcomes = {f["path"]: f["outcome"] for f in json.loads(result.stdout)["files"]}
    assert outcomes == {"sub/evil.bin": "retrieved", "sub/liar.bin": "failed"}
    assert (repo / "sub" / "evil.bin").read_bytes() == GOOD
    (repo / "sub" / "evil.bin").unlink()
    assert_unchanged(before)


# --------------------------------------------------------------------- the artifact's place


def test_retrieve_into_a_directory_named_like_the_artifact(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (repo / "good.bin").unlink()
    (repo / "good.bin").mkdir()
    (repo / "good.bin" / "keep.txt").write_text("mine")
    before = snapshot(repo, local_objects)
    for args in (["good.bin.cfile"], ["--force", "good.bin.cfile"]):
        result = cavorite("retrieve", *args, cwd=repo)
        assert_clean_failure(result, EXIT_FAILED, r"good\.bin: is not a regular file; move it")
        assert_unchanged(before)


@pytest.mark.parametrize("force", [False, True])
def test_retrieve_through_a_symlink_pointing_outside(
    repo: Path, local_objects: Path, cavorite: Cavorite, tmp_path: Path, force: bool
) -> None:
    """A hostile clone replaces the artifact by a link to a file of the user's: retrieve must not
    write through it, even with --force."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (repo / "good.bin").unlink()
    (repo / "good.bin").symlink_to(victim)
    before = snapshot(repo, local_objects, victim.parent)
    result = cavorite("retrieve", *(["--force"] if force else []), "good.bin.cfile", cwd=repo)
    assert_clean_failure(result, EXIT_FAILED, r"good\.bin: is a symbolic link; move it aside")
    assert_unchanged(before)
    assert victim.read_text() == "precious"


def test_retrieve_through_a_dangling_symlink(
    repo: Path, local_objects: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    (repo / "good.bin").unlink()
    (repo / "good.bin").symlink_to(tmp_path / "would-be-created")
    before = snapshot(repo, local_objects)
    result = cavorite("retrieve", "--force", cwd=repo)
    assert_clean_failure(result, EXIT_FAILED, r"good\.bin: is a symbolic link")
    assert not (tmp_path / "would-be-created").exists()
    assert_unchanged(before)


def test_cfiles_behind_a_symlinked_directory_leading_outside(
    repo: Path, local_objects: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "good.bin.cfile").write_bytes((repo / "good.bin.cfile").read_bytes())
    (repo / "ext").symlink_to(outside, target_is_directory=True)
    before = snapshot(repo, local_objects, outside)
    result = cavorite("retrieve", cwd=repo)  # the walk does not follow the link
    assert result.code == 0, result.stderr
    for arg in ("ext/good.bin.cfile", "ext/good.bin", "ext"):
        result = cavorite("retrieve", arg, cwd=repo)
        assert result.code == EXIT_USAGE, result.stderr
        assert error_lines(result), result.stderr
        assert "Traceback" not in result.stderr
    result = cavorite("upload", "ext/good.bin.cfile", cwd=repo)
    assert_clean_failure(result, EXIT_USAGE, r"outside the repository")
    assert_unchanged(before)
    assert not (outside / "good.bin").exists()


def test_retrieve_into_a_read_only_directory(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (repo / "ro").mkdir()
    (repo / "ro" / "a.bin").write_bytes(b"in a read-only directory")
    assert cavorite("upload", "ro/a.bin", cwd=repo).code == 0
    (repo / "ro" / "a.bin").unlink()
    before = snapshot(repo, local_objects)
    with read_only(repo / "ro"):
        result = cavorite("retrieve", cwd=repo)
        assert_clean_failure(result, EXIT_FAILED, r"ro/a\.bin: (permission denied|operation not)")
        assert_unchanged(before)
    assert "up to date" in result.stdout  # good.bin was still handled


def test_upload_into_a_read_only_directory_stores_nothing(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    """No cfile can be written there: the object must not be sent either, or it would be an
    object no cfile points at."""
    (repo / "ro").mkdir()
    (repo / "ro" / "a.bin").write_bytes(b"in a read-only directory")
    before = snapshot(repo, local_objects)
    with read_only(repo / "ro"):
        result = cavorite("upload", "ro/a.bin", cwd=repo)
        assert_clean_failure(result, EXIT_FAILED, r"ro/a\.bin\.cfile: cannot be written \(")
        assert_unchanged(before)


# --------------------------------------------------------------------- upload arguments


def _outside_file(repo: Path) -> str:
    path = repo.parent / "outside.bin"
    path.write_bytes(b"outside")
    return str(path)


def _link_outside(repo: Path) -> str:
    (repo / "link.bin").symlink_to(_outside_file(repo))
    return "link.bin"


def _link_inside(repo: Path) -> str:
    (repo / "link.bin").symlink_to(repo / "good.bin")
    return "link.bin"


def _dir_link_outside(repo: Path) -> str:
    _outside_file(repo)
    (repo / "ext").symlink_to(repo.parent, target_is_directory=True)
    return "ext/outside.bin"


def _dir_link(repo: Path) -> str:
    (repo / "ext").symlink_to(repo.parent, target_is_directory=True)
    return "ext"


def _fifo(repo: Path) -> str:
    os.mkfifo(repo / "fifo.bin")
    return "fifo.bin"


def _temp_name(repo: Path) -> str:
    (repo / ".x.bin.cavorite-tmp-0123456789ab").write_bytes(b"partial")
    return ".x.bin.cavorite-tmp-0123456789ab"


def _in_git(repo: Path) -> str:
    return ".git/config"


def _in_config_dir(repo: Path) -> str:
    return ".cavorite/config"


def _missing(repo: Path) -> str:
    return "no-such.bin"


def _parent(repo: Path) -> str:
    return "../"


def _dotdot(repo: Path) -> str:
    _outside_file(repo)
    return "../outside.bin"


def _absolute_outside(repo: Path) -> str:
    return _outside_file(repo)


def _sneaky_dotdot(repo: Path) -> str:
    _outside_file(repo)
    return f"sub/../../{repo.parent.name}/outside.bin"


UPLOAD_REFUSALS: list[tuple[str, Callable[[Path], str], str]] = [
    ("absolute-outside", _absolute_outside, r"outside the repository"),
    ("dotdot", _dotdot, r"outside the repository"),
    ("sneaky-dotdot", _sneaky_dotdot, r"outside the repository"),
    ("parent-dir", _parent, r"outside the repository"),
    ("symlink-outside", _link_outside, r"link\.bin: is a symbolic link"),
    ("symlink-inside", _link_inside, r"link\.bin: is a symbolic link"),
    ("symlinked-dir-outside", _dir_link_outside, r"outside the repository"),
    ("symlinked-dir", _dir_link, r"ext: is a symbolic link"),
    ("fifo", _fifo, r"fifo\.bin: not a regular file"),
    ("temp-file", _temp_name, r"a temporary file of an interrupted run"),
    ("in-git", _in_git, r"inside \.git/"),
    ("in-config-dir", _in_config_dir, r"inside \.cavorite/"),
    ("missing", _missing, r"no-such\.bin: no such file"),
]


@pytest.mark.parametrize(
    ("make", "pattern"), [c[1:] for c in UPLOAD_REFUSALS], ids=[c[0] for c in UPLOAD_REFUSALS]
)
def test_upload_refuses_a_path(
    repo: Path,
    local_objects: Path,
    cavorite: Cavorite,
    make: Callable[[Path], str],
    pattern: str,
) -> None:
    arg = make(repo)
    before = snapshot(repo, local_objects, repo.parent / "outside.bin")
    result = cavorite("upload", arg, cwd=repo, timeout=20)
    assert_clean_failure(result, EXIT_USAGE, pattern)
    assert_unchanged(before)


def test_one_bad_argument_refuses_the_whole_command(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (repo / "fine.bin").write_bytes(b"fine")
    before = snapshot(repo, local_objects)
    result = cavorite("upload", "fine.bin", "/etc/hostname", cwd=repo)
    assert_clean_failure(result, EXIT_USAGE, r"outside the repository")
    assert_unchanged(before)


def test_duplicated_arguments_transfer_once(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (repo / "d").mkdir()
    (repo / "d" / "f.bin").write_bytes(b"twice named")
    result = cavorite(
        "upload", "--json", "d/f.bin", "d", "./d/f.bin", "d/../d/f.bin", str(repo / "d"), cwd=repo
    )
    assert result.code == 0, result.stderr
    assert [f["path"] for f in json.loads(result.stdout)["files"]] == ["d/f.bin"]
    (repo / "d" / "f.bin").unlink()
    result = cavorite("retrieve", "--json", "d", "d/f.bin", "d/f.bin.cfile", "d/", cwd=repo)
    assert result.code == 0, result.stderr
    assert [f["path"] for f in json.loads(result.stdout)["files"]] == ["d/f.bin"]
    assert (repo / "d" / "f.bin").read_bytes() == b"twice named"


# --------------------------------------------------------------------- names


def test_a_name_that_is_not_utf8_fails_alone(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    """No store key and no JSON cfile can hold it. Upload of its directory reports it and
    uploads the others; nothing is stored for it."""
    (repo / "d").mkdir()
    bad = os.fsencode(repo / "d") + b"/caf\xe9.bin"
    with open(bad, "wb") as f:
        f.write(b"latin-1 name")
    before = snapshot(repo, local_objects)
    result = cavorite("upload", os.fsdecode(bad), cwd=repo)
    assert_clean_failure(result, EXIT_FAILED, r"'d/caf\\udce9\.bin' is not valid UTF-8")
    assert_unchanged(before)
    (repo / "d" / "ok.bin").write_bytes(b"a fine name")
    result = cavorite("upload", "--json", "d", cwd=repo)
    assert_no_crash(result)
    assert result.code == EXIT_FAILED
    outcomes = sorted(f["outcome"] for f in json.loads(result.stdout)["files"])
    assert outcomes == ["failed", "uploaded"]
    assert sorted(os.listdir(local_objects / "d")) == ["ok.bin"]
    for command in ("status", "verify"):
        assert_no_crash(cavorite(command, cwd=repo))


def test_a_cfile_whose_own_file_name_is_not_utf8_is_retrieved(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    """The artifact's place comes from the cfile's own path, which may be any bytes; only the
    key must be UTF-8."""
    cfile = os.fsencode(repo) + b"/caf\xe9.bin.cfile"
    with open(cfile, "wb") as f:
        f.write((repo / "good.bin.cfile").read_bytes())
    result = cavorite("retrieve", cwd=repo)
    assert_no_crash(result)
    assert result.code == 0, result.stderr
    with open(os.fsencode(repo) + b"/caf\xe9.bin", "rb") as f:
        assert f.read() == GOOD
    assert "caf\\udce9.bin" in result.stdout  # escaped, never raw bytes on the terminal


def test_a_255_byte_name_stores_nothing(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    """The file system takes the name but not its cfile's (name + '.cfile'): refused before
    anything is read or sent."""
    name = "n" * 251 + ".bin"
    (repo / name).write_bytes(b"long name")
    before = snapshot(repo, local_objects)
    result = cavorite("upload", name, cwd=repo)
    assert_clean_failure(result, EXIT_FAILED, r"name too long for a cfile beside it \(261 bytes")
    assert_unchanged(before)


def test_a_249_byte_name_round_trips(repo: Path, cavorite: Cavorite) -> None:
    name = "é" * 122 + ".bin"  # 248 bytes: the cfile name is 254
    (repo / name).write_bytes(b"long but fine")
    assert cavorite("upload", name, cwd=repo).code == 0
    (repo / name).unlink()
    result = cavorite("retrieve", cwd=repo)
    assert result.code == 0, result.stderr
    assert (repo / name).read_bytes() == b"long but fine"


def test_status_with_an_untracked_255_byte_name(repo: Path, cavorite: Cavorite) -> None:
    (repo / ("n" * 251 + ".bin")).write_bytes(b"\0binary\0" * 10)
    result = cavorite("status", "--json", cwd=repo)
    assert_no_crash(result)
    files = {f["path"]: f["outcome"] for f in json.loads(result.stdout)["files"]}
    assert files == {"good.bin": "up-to-date", "n" * 251 + ".bin": "untracked"}


def _deep_dir(top: Path, total: int) -> Path:
    """A directory below ``top`` whose absolute path is longer than ``total`` bytes, made one
    level at a time relative to its parent (the OS refuses paths beyond PATH_MAX)."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    path = top
    try:
        while len(os.fsencode(path)) <= total:
            os.mkdir("d" * 200, dir_fd=fd)
            new = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = new
            path = path / ("d" * 200)
        with open(os.open("deep.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(b"deep")
    finally:
        os.close(fd)
    return path


def test_a_directory_deeper_than_path_max_is_not_skipped_in_silence(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    """os.walk skips a directory it cannot list: an upload or a retrieve of the tree would
    leave its files out and still report success."""
    _deep_dir(repo / "deep", 4200)
    (repo / "fine.bin").write_bytes(b"fine")
    before = snapshot(repo, local_objects)
    for args in (["upload", "deep", "fine.bin"], ["retrieve"], ["retrieve", "deep"]):
        result = cavorite(*args, cwd=repo)
        output = result.stdout + result.stderr
        assert result.code == EXIT_USAGE, output
        [line] = error_lines(result)
        assert line.endswith(": cannot list this directory (file name too long)"), line
        assert "Traceback" not in output
        assert_unchanged(before)


def test_a_deep_path_within_limits_round_trips(repo: Path, cavorite: Cavorite) -> None:
    deep = _deep_dir(repo / "deep", 3500)
    assert cavorite("upload", "deep", cwd=repo).code == 0
    (deep / "deep.bin").unlink()
    result = cavorite("retrieve", "deep", cwd=repo)
    assert result.code == 0, result.stderr
    assert (deep / "deep.bin").read_bytes() == b"deep"


# --------------------------------------------------------------------- the cfile's place


def test_upload_when_the_cfile_path_is_a_directory(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (repo / "a.bin").write_bytes(b"a")
    (repo / "a.bin.cfile").mkdir()
    before = snapshot(repo, local_objects)
    result = cavorite("upload", "a.bin", cwd=repo)
    assert_clean_failure(result, EXIT_FAILED, r"a\.bin\.cfile: is not a regular file; move it")
    assert_unchanged(before)


def test_upload_when_the_cfile_is_a_symlink(
    repo: Path, local_objects: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    (repo / "a.bin").write_bytes(b"a")
    target = tmp_path / "elsewhere.cfile"
    target.write_text("{}")
    (repo / "a.bin.cfile").symlink_to(target)
    before = snapshot(repo, local_objects, target)
    result = cavorite("upload", "a.bin", cwd=repo)
    assert_clean_failure(result, EXIT_FAILED, r"a\.bin\.cfile: is a symbolic link")
    assert_unchanged(before)


def test_upload_skips_temporary_files_in_a_directory(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (repo / "d").mkdir()
    (repo / "d" / "real.bin").write_bytes(b"real")
    (repo / "d" / ".real.bin.cavorite-tmp-0123456789ab").write_bytes(b"partial")
    result = cavorite("upload", "--json", "d", cwd=repo)
    assert result.code == 0, result.stderr
    assert [f["path"] for f in json.loads(result.stdout)["files"]] == ["d/real.bin"]
    assert sorted(os.listdir(local_objects / "d")) == ["real.bin"]


# --------------------------------------------------------------------- the store's content


def test_an_object_missing_from_the_store(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (repo / "good.bin").unlink()
    (local_objects / "good.bin").unlink()
    before = snapshot(repo, local_objects)
    result = cavorite("retrieve", cwd=repo)
    assert_clean_failure(result, EXIT_FAILED, r"good\.bin: object 'good\.bin' is not in the store")
    assert_unchanged(before)
    assert temp_files(repo) == []


@pytest.mark.parametrize("lie", ["checksum", "size"])
def test_a_cfile_that_lies_about_its_object(
    repo: Path, local_objects: Path, cavorite: Cavorite, lie: str
) -> None:
    cfile = repo / "good.bin.cfile"
    data = json.loads(cfile.read_text())
    data[lie] = HEX if lie == "checksum" else data["size"] + 1
    cfile.write_text(json.dumps(data))
    (repo / "good.bin").unlink()
    before = snapshot(repo, local_objects)
    result = cavorite("retrieve", cwd=repo)
    assert_clean_failure(result, EXIT_FAILED, r"good\.bin: downloaded content does not match")
    assert_unchanged(before)
    assert temp_files(repo) == []


# --------------------------------------------------------------------- configuration


def config(**top: object) -> Callable[[Path], None]:
    def write(repo: Path) -> None:
        (repo / ".cavorite" / "config").write_text(json.dumps(top))

    return write


def raw_config(content: bytes) -> Callable[[Path], None]:
    def write(repo: Path) -> None:
        (repo / ".cavorite" / "config").write_bytes(content)

    return write


def no_config(repo: Path) -> None:
    (repo / ".cavorite" / "config").unlink()


def config_dir(repo: Path) -> None:
    (repo / ".cavorite" / "config").unlink()
    (repo / ".cavorite" / "config").mkdir()


def local(**options: object) -> Callable[[Path], None]:
    def write(repo: Path) -> None:
        current = json.loads((repo / ".cavorite" / "config").read_text())
        current["options"].update(options)
        (repo / ".cavorite" / "config").write_text(json.dumps(current))

    return write


CONFIG_CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("missing", no_config, r"no \.cavorite/config found in .* or above; run `cavorite init`"),
    ("a-directory", config_dir, r"no \.cavorite/config found"),
    ("empty", raw_config(b""), r"config is not valid JSON \(line 1"),
    ("truncated", raw_config(b'{"store_type": "loc'), r"config is not valid JSON"),
    ("not-utf8", raw_config(b"\xff\xfe{}"), r"cannot read .*config"),
    ("array", raw_config(b"[]"), r"config must be a JSON object"),
    ("no-store-type", config(options={}), r"config has no store_type"),
    ("store-type-number", config(store_type=3), r"config has no store_type"),
    ("unknown-store", config(store_type="nosuch", options={}), r"unknown store type 'nosuch'"),
    ("options-list", config(store_type="localstore", options=[]), r"options must be a JSON obj"),
    ("address-number", local(backend_address=5), r"'backend_address' .* must be a string"),
    ("address-empty", local(backend_address=""), r"local store needs a directory"),
    ("address-url", local(backend_address="http://x/y"), r"is not a directory; use file:///"),
    ("address-host", local(backend_address="file://evil/x"), r"names a host"),
    ("extension-path", local(metadata_file_extension="../x"), r"is not a file extension"),
    ("extension-dot", local(metadata_file_extension=".cfile"), r"is not a file extension"),
    ("extension-nul", local(metadata_file_extension="c\x00f"), r"is not a file extension"),
    ("prefix-dotdot", local(object_key_prefix="../../etc"), r"object_key_prefix is unusable"),
    ("prefix-backslash", local(object_key_prefix="a\\b"), r"object_key_prefix is unusable"),
    ("jobs-text", local(jobs="many"), r"option 'jobs' must be a whole number"),
    (
        "plugin-without-address",
        config(store_type="plugin", options={"metadata_file_extension": "cfile"}),
        r"store type 'plugin' needs the option plugin_address",
    ),
]


@pytest.mark.parametrize("command", ["upload", "retrieve"])
@pytest.mark.parametrize(
    ("breaks", "pattern"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_a_bad_config_refuses_the_command(
    repo: Path,
    local_objects: Path,
    cavorite: Cavorite,
    breaks: Callable[[Path], None],
    pattern: str,
    command: str,
) -> None:
    (repo / "good.bin").unlink()
    (repo / "new.bin").write_bytes(b"new")
    breaks(repo)
    before = snapshot(repo, local_objects)
    args = ["upload", "new.bin"] if command == "upload" else ["retrieve"]
    result = cavorite(*args, cwd=repo)
    assert_clean_failure(result, EXIT_USAGE, pattern)
    assert_unchanged(before)


def test_a_hostile_config_cannot_run_a_program(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    """A cloned repository names a plugin it ships: cavorite refuses to start it without the
    user's consent, and the program never runs."""
    marker = repo.parent / "pwned"
    evil = repo / "tools" / "store.sh"
    evil.parent.mkdir()
    evil.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    evil.chmod(0o755)
    options = {"plugin_address": "tools/store.sh", "metadata_file_extension": "cfile"}
    config(store_type="plugin", options=options)(repo)
    git(repo, "add", "-A")
    (repo / "good.bin").unlink()
    before = snapshot(repo, local_objects)
    for args in (["retrieve"], ["verify", "--remote"], ["upload", "tools/store.sh"]):
        result = cavorite(*args, cwd=repo)
        assert_clean_failure(result, EXIT_USAGE, r"not allowed|allow-plugin|consent")
        assert not marker.exists()
        assert_unchanged(before)


# --------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    "args",
    [
        ["upload"],
        ["upload", "--jobs", "0", "good.bin"],
        ["upload", "--jobs", "-3", "good.bin"],
        ["upload", "--jobs", "many", "good.bin"],
        ["retrieve", "--no-such-option"],
        ["no-such-command"],
    ],
    ids=["upload-nothing", "jobs-zero", "jobs-negative", "jobs-text", "option", "command"],
)
def test_usage_errors(repo: Path, local_objects: Path, cavorite: Cavorite, args: list[str]) -> None:
    before = snapshot(repo, local_objects)
    result = cavorite(*args, cwd=repo)
    assert result.code == EXIT_USAGE, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert_unchanged(before)
