"""The repository workflow end to end, with the installed command in real git repositories:
status and verify in every state (text and JSON), upload and retrieve of directories and
several paths, git ignoring uploaded artifacts, and the stable JSON shape of every command."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.e2e.support import (
    binary,
    json_report,
    labels,
    last_line,
    outcomes,
    rows,
    set_options,
    sha256,
    write,
    xattrs_supported,
)
from tests.fixtures.repos import Cavorite, git

A = binary("a")
B = binary("b", 500)
C = binary("c", 700)


@pytest.fixture
def repo(cavorite_repo: Path) -> Path:
    return cavorite_repo


def upload(cavorite: Cavorite, repo: Path, *paths: str) -> None:
    result = cavorite("upload", *paths, cwd=repo)
    assert result.code == 0, result.stderr


def uploaded(cavorite: Cavorite, repo: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        write(repo, rel, data)
    upload(cavorite, repo, *files)
    return repo


def staged(repo: Path) -> set[str]:
    out = git(repo, "diff", "--cached", "--name-only", "-z").stdout
    return {p for p in out.split("\0") if p}


def ignored(repo: Path, rel: str) -> bool:
    return git(repo, "check-ignore", "-q", "--no-index", rel, check=False).returncode == 0


# ===================================================================== status


def test_status_of_an_empty_repository_is_clean(repo: Path, cavorite: Cavorite) -> None:
    write(repo, "notes.txt", b"plain text, small\n")

    text = cavorite("status", cwd=repo)
    assert text.code == 0, text.stderr
    assert rows(text.stdout) == []
    assert "0 files: nothing to do" in text.stderr

    doc = json_report(cavorite("status", "--json", cwd=repo), "status")
    assert doc["ok"] is True
    assert doc["files"] == []


def test_status_up_to_date(repo: Path, cavorite: Cavorite) -> None:
    uploaded(cavorite, repo, {"a.bin": A})

    text = cavorite("status", cwd=repo)
    assert text.code == 0, text.stderr
    assert rows(text.stdout) == [("up to date", "a.bin", None)]
    assert last_line(text.stdout) == "1 file: 1 up to date"

    result = cavorite("status", "--json", cwd=repo)
    doc = json_report(result, "status")
    assert result.code == 0
    assert doc["files"] == [
        {
            "path": "a.bin",
            "outcome": "up-to-date",
            "key": "a.bin",
            "size": len(A),
            "sha256": sha256(A),
        }
    ]
    assert doc["summary"]["up-to-date"] == 1


def test_status_missing_artifact_needs_retrieve(repo: Path, cavorite: Cavorite) -> None:
    uploaded(cavorite, repo, {"a.bin": A})
    (repo / "a.bin").unlink()

    text = cavorite("status", cwd=repo)
    assert text.code == 1
    assert rows(text.stdout) == [("missing", "a.bin", None)]
    assert last_line(text.stdout) == "1 file: 1 missing"

    result = cavorite("status", "--json", cwd=repo)
    doc = json_report(result, "status")
    assert result.code == 1
    assert doc["ok"] is False
    assert doc["files"][0] == {
        "path": "a.bin",
        "outcome": "missing",
        "key": "a.bin",
        "size": len(A),
        "sha256": sha256(A),
    }


@pytest.mark.parametrize("change", ["other bytes, same size", "longer", "truncated"])
def test_status_modified_artifact_needs_upload(repo: Path, cavorite: Cavorite, change: str) -> None:
    uploaded(cavorite, repo, {"a.bin": A})
    new = {"other bytes, same size": binary("z", len(A)), "longer": A + b"x", "truncated": b""}
    (repo / "a.bin").write_bytes(new[change])

    text = cavorite("status", cwd=repo)
    assert text.code == 1
    assert rows(text.stdout) == [("modified", "a.bin", None)]

    doc = json_report(cavorite("status", "--json", cwd=repo), "status")
    assert outcomes(doc) == [("a.bin", "modified")]
    assert doc["files"][0]["sha256"] == sha256(A)  # the cfile's, not the local file's


def test_status_untracked_large_and_binary_files_that_git_does_not_ignore(
    repo: Path, cavorite: Cavorite
) -> None:
    set_options(repo, large_file_threshold=4096)
    write(repo, "big.txt", b"text line\n" * 500)  # 5000 bytes, no NUL: large
    write(repo, "data/blob.dat", binary("blob"))  # small, binary
    write(repo, "small.txt", b"hello\n")
    write(repo, "edge.txt", b"x" * 4095)  # one byte under the threshold
    write(repo, "empty.bin", b"")
    write(repo, ".gitignore", b"ignored.bin\nbuild/\n")
    write(repo, "ignored.bin", binary("ign"))
    write(repo, "build/out.o", binary("obj"))
    write(repo, "committed.bin", binary("com"))  # in git already, but not tracked by cavorite
    git(repo, "add", "committed.bin")
    git(repo, "commit", "-q", "--no-verify", "-m", "a binary in git")

    text = cavorite("status", cwd=repo)
    assert text.code == 1
    assert sorted(rows(text.stdout)) == [
        ("untracked", "big.txt", "large"),
        ("untracked", "committed.bin", "binary"),
        ("untracked", "data/blob.dat", "binary"),
    ]
    assert last_line(text.stdout) == "3 files: 3 untracked"
    assert "ignored.bin" not in text.stdout
    assert "build/out.o" not in text.stdout

    doc = json_report(cavorite("status", "--json", cwd=repo), "status")
    entries = {e["path"]: e for e in doc["files"]}
    assert set(entries) == {"big.txt", "committed.bin", "data/blob.dat"}
    assert entries["big.txt"] == {
        "path": "big.txt",
        "outcome": "untracked",
        "key": None,
        "size": 5000,
        "sha256": None,
        "detail": "large",
    }
    assert entries["data/blob.dat"]["detail"] == "binary"


def test_status_untracked_outside_git(tmp_path: Path, cavorite: Cavorite) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    init = cavorite("init", "--backend-address", tmp_path / "objs", cwd=plain)
    assert init.code == 0, init.stderr
    write(plain, "x.bin", binary("x"))
    write(plain, "y.txt", b"text\n")

    result = cavorite("status", cwd=plain)
    assert result.code == 1
    assert rows(result.stdout) == [("untracked", "x.bin", "binary")]


def test_status_malformed_cfile_fails(repo: Path, cavorite: Cavorite) -> None:
    write(repo, "bad.bin.cfile", b"{not json")
    write(repo, "worse.bin.cfile", b'{"name": "../escape", "checksum": "00", "date_modified": ""}')

    text = cavorite("status", cwd=repo)
    assert text.code == 1
    assert "bad.bin.cfile" in text.stderr
    assert "not valid JSON" in text.stderr
    assert "worse.bin.cfile" in text.stderr
    assert text.stderr.count("cavorite: error:") == 2
    assert last_line(text.stdout) == "2 files: 2 failed"

    doc = json_report(cavorite("status", "--json", cwd=repo), "status")
    assert outcomes(doc) == [("bad.bin", "failed"), ("worse.bin", "failed")]
    assert {e["error"]["type"] for e in doc["files"]} == {"MetadataError"}
    assert "bad.bin.cfile" in doc["files"][0]["error"]["message"]


def test_status_every_state_at_once(repo: Path, cavorite: Cavorite) -> None:
    uploaded(cavorite, repo, {"ok.bin": A, "gone.bin": B, "changed.bin": C})
    (repo / "gone.bin").unlink()
    (repo / "changed.bin").write_bytes(b"changed")
    write(repo, "new.bin", binary("new"))
    write(repo, "broken.bin.cfile", b"")

    text = cavorite("status", cwd=repo)
    assert text.code == 1
    assert labels(text.stdout) == {
        "ok.bin": "up to date",
        "gone.bin": "missing",
        "changed.bin": "modified",
        "new.bin": "untracked",
    }
    assert "broken.bin.cfile" in text.stderr
    assert last_line(text.stdout) == (
        "5 files: 1 up to date, 1 missing, 1 modified, 1 untracked, 1 failed"
    )

    result = cavorite("status", "--json", cwd=repo)
    doc = json_report(result, "status")
    assert result.code == 1
    assert sorted(outcomes(doc)) == [
        ("broken.bin", "failed"),
        ("changed.bin", "modified"),
        ("gone.bin", "missing"),
        ("new.bin", "untracked"),
        ("ok.bin", "up-to-date"),
    ]
    assert {k: v for k, v in doc["summary"].items() if v} == {
        "up-to-date": 1,
        "missing": 1,
        "modified": 1,
        "untracked": 1,
        "failed": 1,
    }

    quiet = cavorite("-q", "status", cwd=repo)
    assert quiet.code == 1
    assert rows(quiet.stdout) == []
    assert last_line(quiet.stdout) == last_line(text.stdout)


def test_status_of_directories_and_several_paths(repo: Path, cavorite: Cavorite) -> None:
    uploaded(cavorite, repo, {"a.bin": A, "sub/b.bin": B, "sub/deep/c.bin": C})
    (repo / "sub" / "deep" / "c.bin").unlink()

    sub = cavorite("status", "sub", cwd=repo)
    assert sub.code == 1
    assert labels(sub.stdout) == {"sub/b.bin": "up to date", "sub/deep/c.bin": "missing"}

    several = cavorite("status", "a.bin", "sub/b.bin.cfile", cwd=repo)
    assert several.code == 0, several.stderr
    assert labels(several.stdout) == {"a.bin": "up to date", "sub/b.bin": "up to date"}

    # from a subdirectory: arguments are relative to it, JSON paths to the repository root
    inner = cavorite("status", "--json", ".", cwd=repo / "sub")
    assert sorted(outcomes(json_report(inner, "status"))) == [
        ("sub/b.bin", "up-to-date"),
        ("sub/deep/c.bin", "missing"),
    ]
    whole = cavorite("status", cwd=repo / "sub")
    assert labels(whole.stdout) == {
        "../a.bin": "up to date",
        "b.bin": "up to date",
        "deep/c.bin": "missing",
    }

    unknown = cavorite("status", "nothing-here.bin", cwd=repo)
    assert unknown.code == 2
    assert "nothing-here.bin" in unknown.stderr
    assert "no metadata file" in unknown.stderr


# ===================================================================== verify


def test_verify_local_states(repo: Path, cavorite: Cavorite) -> None:
    uploaded(cavorite, repo, {"ok.bin": A, "gone.bin": B, "changed.bin": C})

    clean = cavorite("verify", cwd=repo)
    assert clean.code == 0, clean.stderr
    assert set(labels(clean.stdout).values()) == {"up to date"}
    assert last_line(clean.stdout) == "3 files: 3 up to date"

    (repo / "gone.bin").unlink()
    (repo / "changed.bin").write_bytes(binary("other", len(C)))
    text = cavorite("verify", cwd=repo)
    assert text.code == 1
    assert labels(text.stdout) == {
        "ok.bin": "up to date",
        "gone.bin": "missing",
        "changed.bin": "modified",
    }
    assert last_line(text.stdout) == "3 files: 1 up to date, 1 missing, 1 modified"

    result = cavorite("verify", "--json", cwd=repo)
    doc = json_report(result, "verify")
    assert result.code == 1
    assert sorted(outcomes(doc)) == [
        ("changed.bin", "modified"),
        ("gone.bin", "missing"),
        ("ok.bin", "up-to-date"),
    ]


def test_verify_remote_everything_in_store(repo: Path, cavorite: Cavorite) -> None:
    uploaded(cavorite, repo, {"a.bin": A, "sub/b.bin": B})

    text = cavorite("verify", "--remote", cwd=repo)
    assert text.code == 0, text.stderr
    assert sorted(rows(text.stdout)) == [
        ("in store", "a.bin", None),
        ("in store", "sub/b.bin", None),
        ("up to date", "a.bin", None),
        ("up to date", "sub/b.bin", None),
    ]
    assert last_line(text.stdout) == "4 files: 2 up to date, 2 in store"

    doc = json_report(cavorite("verify", "--remote", "--json", cwd=repo), "verify")
    remote = [e for e in doc["files"] if e["outcome"] == "stored"]
    assert remote == [
        {"path": "a.bin", "outcome": "stored", "key": "a.bin", "size": len(A), "sha256": sha256(A)},
        {
            "path": "sub/b.bin",
            "outcome": "stored",
            "key": "sub/b.bin",
            "size": len(B),
            "sha256": sha256(B),
        },
    ]


def test_verify_remote_object_deleted_from_the_store(
    repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    uploaded(cavorite, repo, {"a.bin": A, "b.bin": B})
    (local_objects / "a.bin").unlink()

    text = cavorite("verify", "--remote", cwd=repo)
    assert text.code == 1
    assert ("not in store", "a.bin", "no object 'a.bin'") in rows(text.stdout)
    assert ("in store", "b.bin", None) in rows(text.stdout)
    assert ("up to date", "a.bin", None) in rows(text.stdout)  # the local file is fine

    result = cavorite("verify", "--remote", "--json", cwd=repo)
    doc = json_report(result, "verify")
    assert result.code == 1
    assert ("a.bin", "not-in-store") in outcomes(doc)
    assert doc["summary"]["not-in-store"] == 1


def test_verify_remote_object_overwritten_with_other_size(
    repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    uploaded(cavorite, repo, {"a.bin": A})
    (local_objects / "a.bin").write_bytes(b"something else entirely")  # same inode: xattr kept

    text = cavorite("verify", "--remote", cwd=repo)
    assert text.code == 1
    assert ("store differs", "a.bin", "size 23") in rows(text.stdout)

    doc = json_report(cavorite("verify", "--remote", "--json", cwd=repo), "verify")
    assert ("a.bin", "store-differs") in outcomes(doc)


def test_verify_remote_object_replaced_without_sha256_metadata_is_streamed(
    repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    uploaded(cavorite, repo, {"a.bin": A, "b.bin": B})
    other = binary("intruder", len(A))
    (local_objects / "a.bin").unlink()
    (local_objects / "a.bin").write_bytes(other)  # a new file: no user.cavorite.sha256
    (local_objects / "b.bin").unlink()
    (local_objects / "b.bin").write_bytes(B)  # same bytes, no metadata: fine once streamed

    text = cavorite("verify", "--remote", "--no-local", cwd=repo)
    assert text.code == 1
    assert sorted(rows(text.stdout)) == [
        ("in store", "b.bin", None),
        ("store differs", "a.bin", f"sha256 {sha256(other)}"),
    ]


def test_verify_remote_trusts_the_stored_sha256_without_downloading(
    repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    if not xattrs_supported(local_objects):
        pytest.skip("no user extended attributes here: the local store cannot keep a sha256")
    uploaded(cavorite, repo, {"a.bin": A})
    assert os.getxattr(local_objects / "a.bin", "user.cavorite.sha256") == sha256(A).encode()
    # same size, same inode and metadata, other bytes: only a download could tell
    with open(local_objects / "a.bin", "r+b") as f:
        f.write(binary("tampered", len(A)))

    result = cavorite("verify", "--remote", "--no-local", cwd=repo)
    assert result.code == 0, result.stderr
    assert rows(result.stdout) == [("in store", "a.bin", None)]


def test_verify_no_local_remote_ignores_local_files(
    repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    uploaded(cavorite, repo, {"a.bin": A, "b.bin": B})
    (repo / "a.bin").unlink()
    (repo / "b.bin").write_bytes(b"local change")

    ok = cavorite("verify", "--no-local", "--remote", cwd=repo)
    assert ok.code == 0, ok.stderr
    assert rows(ok.stdout) == [("in store", "a.bin", None), ("in store", "b.bin", None)]
    assert last_line(ok.stdout) == "2 files: 2 in store"

    (local_objects / "b.bin").unlink()
    result = cavorite("verify", "--no-local", "--remote", "--json", cwd=repo)
    doc = json_report(result, "verify")
    assert result.code == 1
    assert outcomes(doc) == [("a.bin", "stored"), ("b.bin", "not-in-store")]


def test_verify_nothing_to_check_is_a_usage_error(repo: Path, cavorite: Cavorite) -> None:
    uploaded(cavorite, repo, {"a.bin": A})
    result = cavorite("verify", "--no-local", cwd=repo)
    assert result.code == 2
    assert "nothing to verify" in result.stderr


def test_verify_malformed_cfile_fails_locally_and_remotely(repo: Path, cavorite: Cavorite) -> None:
    uploaded(cavorite, repo, {"a.bin": A})
    write(repo, "bad.bin.cfile", b'{"name": "bad.bin"}')

    result = cavorite("verify", "--remote", "--json", cwd=repo)
    doc = json_report(result, "verify")
    assert result.code == 1
    assert sorted(outcomes(doc)) == [
        ("a.bin", "stored"),
        ("a.bin", "up-to-date"),
        ("bad.bin", "failed"),
        ("bad.bin", "failed"),
    ]
    assert doc["summary"]["failed"] == 2


def test_verify_directories_and_several_paths(
    repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    uploaded(cavorite, repo, {"a.bin": A, "sub/b.bin": B, "sub/deep/c.bin": C})
    (local_objects / "a.bin").unlink()

    sub = cavorite("verify", "--remote", "sub", cwd=repo)
    assert sub.code == 0, sub.stderr  # a.bin's missing object is outside sub/
    assert {r.path for r in rows(sub.stdout)} == {"sub/b.bin", "sub/deep/c.bin"}

    several = cavorite("verify", "--remote", "--json", "a.bin", "sub/deep", cwd=repo)
    doc = json_report(several, "verify")
    assert several.code == 1
    assert sorted(outcomes(doc)) == [
        ("a.bin", "not-in-store"),
        ("a.bin", "up-to-date"),
        ("sub/deep/c.bin", "stored"),
        ("sub/deep/c.bin", "up-to-date"),
    ]


def test_verify_empty_repository(repo: Path, cavorite: Cavorite) -> None:
    result = cavorite("verify", "--remote", cwd=repo)
    assert result.code == 0, result.stderr
    assert "0 files: nothing to do" in result.stderr


# ===================================================================== upload and retrieve


def test_upload_a_directory_recursively_and_several_paths(
    repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    files = {
        "assets/a.bin": A,
        "assets/deep/b.bin": B,
        "assets/deep/notes.txt": b"uploaded too: a directory means every file in it\n",
        "other.bin": C,
    }
    for rel, data in files.items():
        write(repo, rel, data)

    result = cavorite("upload", "assets", "other.bin", cwd=repo)
    assert result.code == 0, result.stderr
    assert labels(result.stdout) == dict.fromkeys(files, "uploaded")
    assert last_line(result.stdout) == "4 files: 4 uploaded"
    for rel, data in files.items():
        assert (local_objects / rel).read_bytes() == data
        assert (repo / f"{rel}.cfile").is_file()

    # again: the cfiles and .gitignore are not artifacts; nothing is sent twice
    again = cavorite("upload", "--json", ".", cwd=repo)
    doc = json_report(again, "upload")
    assert again.code == 0, again.stderr
    assert sorted(outcomes(doc)) == sorted((rel, "already-stored") for rel in files)
    assert sorted(
        p.relative_to(local_objects).as_posix() for p in local_objects.rglob("*") if p.is_file()
    ) == sorted(files)


def test_upload_needs_a_path(repo: Path, cavorite: Cavorite) -> None:
    result = cavorite("upload", cwd=repo)
    assert result.code == 2
    assert "Missing argument" in result.stderr


def test_retrieve_everything_a_directory_or_several_paths(repo: Path, cavorite: Cavorite) -> None:
    files = {"a.bin": A, "sub/b.bin": B, "sub/deep/c.bin": C}
    uploaded(cavorite, repo, files)

    def remove_all() -> None:
        for rel in files:
            (repo / rel).unlink()

    remove_all()
    everything = cavorite("retrieve", cwd=repo)
    assert everything.code == 0, everything.stderr
    assert labels(everything.stdout) == dict.fromkeys(files, "retrieved")
    for rel, data in files.items():
        assert (repo / rel).read_bytes() == data

    remove_all()
    deep = cavorite("retrieve", "sub/deep", cwd=repo)
    assert deep.code == 0, deep.stderr
    assert labels(deep.stdout) == {"sub/deep/c.bin": "retrieved"}
    assert not (repo / "a.bin").exists()
    assert not (repo / "sub" / "b.bin").exists()

    several = cavorite("retrieve", "--json", "a.bin", "sub/b.bin.cfile", "sub/deep", cwd=repo)
    doc = json_report(several, "retrieve")
    assert several.code == 0, several.stderr
    assert outcomes(doc) == [
        ("a.bin", "retrieved"),
        ("sub/b.bin", "retrieved"),
        ("sub/deep/c.bin", "up-to-date"),
    ]


def test_clone_elsewhere_and_retrieve(repo: Path, cavorite: Cavorite, tmp_path: Path) -> None:
    files = {"installer.dmg": A, "models/weights.bin": B}
    uploaded(cavorite, repo, files)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "--no-verify", "-m", "artifacts")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert not (clone / "installer.dmg").exists()
    assert (clone / "installer.dmg.cfile").is_file()

    status = cavorite("status", cwd=clone)
    assert status.code == 1
    assert labels(status.stdout) == dict.fromkeys(files, "missing")

    result = cavorite("retrieve", cwd=clone)
    assert result.code == 0, result.stderr
    for rel, data in files.items():
        assert (clone / rel).read_bytes() == data
    assert cavorite("status", cwd=clone).code == 0
    assert git(clone, "status", "--porcelain").stdout == ""  # retrieved files are ignored


# ===================================================================== .gitignore


def test_upload_makes_git_ignore_the_artifact(repo: Path, cavorite: Cavorite) -> None:
    uploaded(cavorite, repo, {"a.bin": A, "sub/b.bin": B})
    write(repo, "README.txt", b"some text\n")

    assert ignored(repo, "a.bin")
    assert ignored(repo, "sub/b.bin")
    assert not ignored(repo, "a.bin.cfile")
    assert not ignored(repo, "sub/b.bin.cfile")

    git(repo, "add", ".")
    added = staged(repo)
    assert {"a.bin.cfile", "sub/b.bin.cfile", ".gitignore", "sub/.gitignore", "README.txt"} <= added
    assert "a.bin" not in added
    assert "sub/b.bin" not in added
    assert not any(p.startswith(".cavorite/state") for p in added)


def test_each_directory_gets_its_own_gitignore(repo: Path, cavorite: Cavorite) -> None:
    files = {
        "top.bin": A,
        "assets/img/logo.png": B,
        "assets/img/icon.png": C,
        "assets/deep/er/x.bin": A,
        "assets/deep/er/y.bin": B,
    }
    uploaded(cavorite, repo, files)
    assert (repo / ".gitignore").read_text() == "/top.bin\n"
    assert (repo / "assets/img/.gitignore").read_text() == "/logo.png\n/icon.png\n"
    assert (repo / "assets/deep/er/.gitignore").read_text() == "/x.bin\n/y.bin\n"
    assert not (repo / "assets/.gitignore").exists()
    assert not (repo / "assets/deep/.gitignore").exists()

    porcelain = git(repo, "status", "--porcelain", "-z", "--untracked-files=all").stdout
    listed = sorted(
        e[3:] for e in porcelain.split("\0") if e and not e[3:].startswith(".cavorite/")
    )
    gitignores = [".gitignore", "assets/deep/er/.gitignore", "assets/img/.gitignore"]
    assert listed == sorted([*gitignores, *(f"{n}.cfile" for n in files)])


def test_an_artifact_ignored_by_an_earlier_version_gets_no_second_line(
    repo: Path, cavorite: Cavorite
) -> None:
    """Earlier versions wrote every artifact's full path into the root .gitignore."""
    uploaded(cavorite, repo, {"sub/b.bin": B, "sub/c.bin": C})
    old = b"*.log\n/sub/b.bin\n"
    write(repo, ".gitignore", old)
    (repo / "sub" / ".gitignore").unlink()
    (repo / "sub" / "b.bin").write_bytes(binary("b2"))
    assert cavorite("upload", "--force", "sub", cwd=repo).code == 0

    assert (repo / ".gitignore").read_bytes() == old
    assert (repo / "sub" / ".gitignore").read_text() == "/c.bin\n"
    assert ignored(repo, "sub/b.bin") and ignored(repo, "sub/c.bin")


def test_gitignore_entries_are_added_once_and_existing_lines_kept(
    repo: Path, cavorite: Cavorite
) -> None:
    write(repo, ".gitignore", b"*.log\n# build output\n/build")  # no newline at the end
    uploaded(cavorite, repo, {"a.bin": A, "sub/b.bin": B})
    upload(cavorite, repo, "a.bin")
    upload(cavorite, repo, ".")
    (repo / "a.bin").write_bytes(binary("a2"))
    assert cavorite("upload", "--force", "a.bin", cwd=repo).code == 0

    assert (repo / ".gitignore").read_text() == "*.log\n# build output\n/build\n/a.bin\n"
    assert (repo / "sub" / ".gitignore").read_text() == "/b.bin\n"
    assert ignored(repo, "a.bin")
    assert ignored(repo, "sub/b.bin")


@pytest.mark.parametrize("how", ["--no-gitignore", "config gitignore false"])
def test_gitignore_update_can_be_turned_off(repo: Path, cavorite: Cavorite, how: str) -> None:
    write(repo, "a.bin", A)
    args = ["upload", "a.bin"]
    if how == "--no-gitignore":
        args.append("--no-gitignore")
    else:
        set_options(repo, gitignore=False)

    result = cavorite(*args, cwd=repo)
    assert result.code == 0, result.stderr
    assert (repo / "a.bin.cfile").is_file()
    assert not (repo / ".gitignore").exists()
    assert not ignored(repo, "a.bin")
    assert "?? a.bin" in git(repo, "status", "--porcelain").stdout.splitlines()


def test_upload_outside_git_writes_no_gitignore(tmp_path: Path, cavorite: Cavorite) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert cavorite("init", "--backend-address", tmp_path / "objs", cwd=plain).code == 0
    write(plain, "a.bin", A)
    result = cavorite("upload", "a.bin", cwd=plain)
    assert result.code == 0, result.stderr
    assert not (plain / ".gitignore").exists()


# name -> files an unescaped pattern would wrongly ignore too (or that share a prefix)
SPECIAL_NAMES = {
    "with space.bin": ["with"],
    "#hash.bin": ["x#hash.bin"],
    "!bang.bin": ["bang.bin"],
    "star*.bin": ["starX.bin", "star.bin"],
    "br[a]ck.bin": ["brack.bin"],
    "q?.bin": ["qZ.bin"],
    "mid#dle!.bin": ["middle.bin"],
    "trailing ": ["trailing"],
    "two  ": ["two", "two "],
    " leading.bin": ["leading.bin"],
    "sub dir/[x] *.bin": ["sub dir/x a.bin", "sub dir/[x] .bin"],
}


def test_upload_ignores_exactly_the_named_files_whatever_their_names(
    repo: Path, cavorite: Cavorite
) -> None:
    names = list(SPECIAL_NAMES)
    decoys = sorted({d for n in names for d in SPECIAL_NAMES[n]})
    for name in names:
        write(repo, name, binary(name))
    for decoy in decoys:
        write(repo, decoy, b"text\n")

    result = cavorite("upload", *names, cwd=repo)
    assert result.code == 0, result.stderr
    assert cavorite("upload", *names, cwd=repo).code == 0
    files = [p for p in repo.rglob(".gitignore") if ".cavorite" not in p.relative_to(repo).parts]
    lines = [(p, line) for p in files for line in p.read_text().splitlines()]
    assert len(lines) == len(names) == len(set(lines))  # one line each, not repeated
    assert (repo / "sub dir" / ".gitignore").read_text() == "/\\[x\\] \\*.bin\n"

    for name in names:
        assert ignored(repo, name), name
        assert not ignored(repo, f"{name}.cfile"), name
    for decoy in decoys:
        assert not ignored(repo, decoy), decoy

    git(repo, "add", ".")
    added = staged(repo)
    assert {f"{n}.cfile" for n in names} <= added
    assert not set(names) & added
    assert set(decoys) <= added
    porcelain = git(repo, "status", "--porcelain", "-z", "--untracked-files=all").stdout
    assert not set(names) & {entry[3:] for entry in porcelain.split("\0") if entry}
    assert cavorite("status", cwd=repo).code == 0


# ===================================================================== JSON shapes


def test_json_shape_of_every_command(repo: Path, cavorite: Cavorite) -> None:
    write(repo, "a.bin", A)
    entry = {"path": "a.bin", "key": "a.bin", "size": len(A), "sha256": sha256(A)}

    up = cavorite("upload", "--json", "a.bin", cwd=repo)
    doc = json_report(up, "upload")
    assert up.code == 0, up.stderr
    assert doc == {
        "command": "upload",
        "ok": True,
        "summary": {**dict.fromkeys(doc["summary"], 0), "uploaded": 1},
        "warnings": [],
        "files": [{**entry, "outcome": "uploaded"}],
    }

    (repo / "a.bin").unlink()
    back = cavorite("retrieve", "--json", cwd=repo)
    assert json_report(back, "retrieve")["files"] == [{**entry, "outcome": "retrieved"}]

    st = cavorite("status", "--json", cwd=repo)
    assert json_report(st, "status")["files"] == [{**entry, "outcome": "up-to-date"}]

    ver = cavorite("verify", "--remote", "--json", cwd=repo)
    assert json_report(ver, "verify")["files"] == [
        {**entry, "outcome": "up-to-date"},
        {**entry, "outcome": "stored"},
    ]


def test_json_shape_of_a_failure(repo: Path, cavorite: Cavorite) -> None:
    uploaded(cavorite, repo, {"a.bin": A, "b.bin": B})
    (repo / "a.bin").write_bytes(b"new content under the same key")

    result = cavorite("upload", "--json", "a.bin", "b.bin", cwd=repo)
    doc = json_report(result, "upload")
    assert result.code == 1
    assert doc["ok"] is False
    failed, fine = doc["files"]
    assert failed["path"] == "a.bin"
    assert failed["outcome"] == "failed"
    assert failed["error"]["type"] == "ConflictError"
    assert "--force" in failed["error"]["message"]
    assert fine == {
        "path": "b.bin",
        "outcome": "already-stored",
        "key": "b.bin",
        "size": len(B),
        "sha256": sha256(B),
    }
    assert result.stderr == ""  # JSON mode: everything is in the document


def test_retrieve_json_when_the_object_is_gone(
    repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    uploaded(cavorite, repo, {"a.bin": A})
    (repo / "a.bin").unlink()
    shutil.rmtree(local_objects)
    local_objects.mkdir()

    result = cavorite("retrieve", "--json", cwd=repo)
    doc = json_report(result, "retrieve")
    assert result.code == 1
    assert doc["files"][0]["outcome"] == "failed"
    assert doc["files"][0]["error"]["type"] == "ObjectNotFound"
    assert not (repo / "a.bin").exists()
