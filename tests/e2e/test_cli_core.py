"""init, upload and retrieve end to end: the installed ``cavorite`` command in real git
repositories, with exit codes and messages asserted, and no traceback in any expected failure."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import cavorite_py
from tests.fixtures.repos import Cavorite, CliResult, git, tree

TMP_MARK = ".cavorite-tmp-"
SUMMARY = re.compile(r"\d+ files?: ")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def ok(result: CliResult) -> CliResult:
    assert result.code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def refused(result: CliResult, code: int) -> str:
    """The one error line of a command that failed as expected with ``code``."""
    assert result.code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("cavorite: error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def artifact_lines(stdout: str) -> list[str]:
    """Per-file lines, whitespace collapsed: ``["uploaded a.bin (3 B)", ...]``; no summary."""
    return [" ".join(line.split()) for line in stdout.splitlines() if not SUMMARY.match(line)]


def config_of(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ".cavorite" / "config").read_text())
    return data


# ===================================================================== --version


def test_version(tmp_path: Path, cavorite: Cavorite) -> None:
    result = ok(cavorite("--version", cwd=tmp_path))
    assert result.stdout == f"cavorite-py {cavorite_py.__version__}\n"
    assert ok(cavorite("-q", "--version", cwd=tmp_path)).stdout == result.stdout


def test_no_arguments_shows_help(tmp_path: Path, cavorite: Cavorite) -> None:
    result = cavorite(cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert "upload" in result.stdout + result.stderr
    assert "retrieve" in result.stdout + result.stderr


# ===================================================================== init


def test_init_defaults(git_repo: Path, cavorite: Cavorite, cli_env: dict[str, str]) -> None:
    (git_repo / "sub").mkdir()
    result = ok(cavorite("init", cwd=git_repo / "sub"))  # finds the git top level
    tag = hashlib.sha256(os.fsencode(git_repo)).hexdigest()[:8]
    directory = Path(cli_env["XDG_DATA_HOME"]) / "cavorite" / "localstore" / f"repo-{tag}"
    assert (
        f"initialised {git_repo / '.cavorite' / 'config'} (store type localstore)" in result.stdout
    )
    assert f"objects will be stored in {directory}" in result.stdout
    assert directory.is_dir()
    assert config_of(git_repo) == {
        "store_type": "localstore",
        "options": {
            "backend_address": directory.as_uri(),
            "metadata_file_extension": "cfile",
            "region": "us-east-1",
            "object_key_prefix": "",
            "plugin_address": "",
            "key_scheme": "versioned",
        },
    }
    assert not (git_repo / "sub" / ".cavorite").exists()


def test_init_every_option(git_repo: Path, cavorite: Cavorite) -> None:
    result = ok(
        cavorite(
            "init",
            "--store-type",
            "s3",
            "--backend-address",
            "s3://bucket",
            "--region",
            "eu-west-1",
            "--object-key-prefix",
            "/team-a/",
            "--plugin-address",
            "/opt/bin/x",
            "--metadata-file-extension",
            "meta",
            "--key-scheme",
            "path",
            cwd=git_repo,
        )
    )
    assert "(store type s3)" in result.stdout
    assert "objects will be stored" not in result.stdout
    assert config_of(git_repo) == {
        "store_type": "s3",
        "options": {
            "backend_address": "s3://bucket",
            "metadata_file_extension": "meta",
            "region": "eu-west-1",
            "object_key_prefix": "team-a",
            "plugin_address": "/opt/bin/x",
            "key_scheme": "path",
        },
    }


@pytest.mark.parametrize(
    ("address", "written"),
    [
        ("s3://bucket/pfx", "s3://bucket"),
        ("http://127.0.0.1:9/bucket/pfx/", "http://127.0.0.1:9/bucket"),
    ],
)
def test_init_moves_a_path_after_the_bucket_to_object_key_prefix(
    git_repo: Path, cavorite: Cavorite, address: str, written: str
) -> None:
    """The Go tool ignores a path after the bucket: init never writes one (in the Go layout)."""
    result = ok(
        cavorite(
            "init",
            "--store-type",
            "s3",
            "--backend-address",
            address,
            "--object-key-prefix",
            "team-a",
            "--key-scheme",
            "path",
            cwd=git_repo,
        )
    )
    options = config_of(git_repo)["options"]
    assert (options["backend_address"], options["object_key_prefix"]) == (written, "pfx/team-a")
    assert f"backend_address written as '{written}' with object_key_prefix 'pfx/team-a'" in (
        result.stdout
    )


def test_init_accepts_the_go_spellings(git_repo: Path, cavorite: Cavorite) -> None:
    ok(
        cavorite(
            "init",
            "--store_type",
            "gcs",
            "--backend_address=my-bucket",
            "--metadata_file_extension",
            "pfile",
            "--object_key_prefix=p",
            "--plugin_address",
            "/x",
            cwd=git_repo,
        )
    )
    assert config_of(git_repo) == {
        "store_type": "gcs",
        "options": {
            "backend_address": "my-bucket",
            "metadata_file_extension": "pfile",
            "region": "us-east-1",
            "object_key_prefix": "p",
            "plugin_address": "/x",
            "key_scheme": "versioned",
        },
    }


def test_init_a_named_directory(tmp_path: Path, cavorite: Cavorite, local_objects: Path) -> None:
    target = tmp_path / "plain"
    target.mkdir()
    ok(cavorite("init", target, "--backend-address", local_objects, cwd=tmp_path))
    assert config_of(target)["options"]["backend_address"] == str(local_objects)


def test_init_unknown_store_type(git_repo: Path, cavorite: Cavorite) -> None:
    line = refused(cavorite("init", "--store-type", "bogus", cwd=git_repo), 2)
    assert "unknown store type 'bogus'" in line
    for name in ("azure", "gcs", "localstore", "plugin", "s3"):
        assert name in line
    assert not (git_repo / ".cavorite").exists()


def test_init_refuses_an_existing_config_without_force(
    cavorite_repo: Path, cavorite: Cavorite
) -> None:
    before = (cavorite_repo / ".cavorite" / "config").read_bytes()
    line = refused(cavorite("init", "--backend-address", "/elsewhere", cwd=cavorite_repo), 2)
    assert "already exists; use --force" in line
    assert (cavorite_repo / ".cavorite" / "config").read_bytes() == before
    ok(cavorite("init", "--force", "--backend-address", "/elsewhere", cwd=cavorite_repo))
    assert config_of(cavorite_repo)["options"]["backend_address"] == "/elsewhere"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store-type", "s3"], "needs --backend-address"),
        (["--store-type", "plugin"], "needs --plugin-address"),
        (["--backend-address", "/o", "--metadata-file-extension", ".cfile"], "metadata_file_ext"),
        (["--backend-address", "/o", "--object-key-prefix", "../up"], "object_key_prefix"),
    ],
)
def test_init_refuses_unusable_settings(
    git_repo: Path, cavorite: Cavorite, args: list[str], message: str
) -> None:
    line = refused(cavorite("init", *args, cwd=git_repo), 2)
    assert message in line
    assert not (git_repo / ".cavorite").exists()


def test_a_refused_init_creates_no_store_directory(
    git_repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    refused(cavorite("init", "--metadata-file-extension", ".bad", cwd=git_repo), 2)
    assert not (Path(cli_env["XDG_DATA_HOME"]) / "cavorite").exists()


# ===================================================================== upload


def test_upload_from_a_subdirectory_relative_and_absolute(
    cavorite_repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    repo = cavorite_repo
    a = write(repo / "assets" / "a.bin", b"A" * 1000)
    b = write(repo / "assets" / "deep" / "b.bin", b"B" * 10)
    c = write(repo / "c.bin", b"C")
    result = ok(cavorite("upload", "a.bin", "deep/b.bin", c, cwd=repo / "assets"))
    assert artifact_lines(result.stdout) == [
        "uploaded a.bin (1000 B)",
        "uploaded deep/b.bin (10 B)",
        "uploaded ../c.bin (1 B)",
    ]
    assert result.stdout.splitlines()[-1] == "3 files: 3 uploaded"
    for path, key in [(a, "assets/a.bin"), (b, "assets/deep/b.bin"), (c, "c.bin")]:
        cfile = json.loads(path.with_name(path.name + ".cfile").read_text())
        assert cfile["name"] == key
        assert cfile["checksum"] == sha(path.read_bytes())
        assert (local_objects / key).read_bytes() == path.read_bytes()
    assert (repo / ".gitignore").read_text() == "/c.bin\n"
    assert (repo / "assets" / ".gitignore").read_text() == "/a.bin\n"
    assert (repo / "assets" / "deep" / ".gitignore").read_text() == "/b.bin\n"
    git(repo, "add", ".")
    staged = git(repo, "diff", "--cached", "--name-only").stdout.split()
    assert "assets/a.bin.cfile" in staged and "c.bin.cfile" in staged
    assert not {"assets/a.bin", "assets/deep/b.bin", "c.bin"} & set(staged)

    again = ok(cavorite("upload", "a.bin", cwd=repo / "assets"))
    assert artifact_lines(again.stdout) == ["already stored a.bin"]


def test_upload_a_changed_file_needs_force(
    cavorite_repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    a = write(cavorite_repo / "a.bin", b"one")
    ok(cavorite("upload", "a.bin", cwd=cavorite_repo))
    a.write_bytes(b"two")
    line = refused(cavorite("upload", "a.bin", cwd=cavorite_repo), 1)
    assert "a.bin" in line and "--force" in line
    assert (local_objects / "a.bin").read_bytes() == b"one"
    ok(cavorite("upload", "--force", "a.bin", cwd=cavorite_repo))
    assert (local_objects / "a.bin").read_bytes() == b"two"


REFUSALS = [
    pytest.param(["{outside}"], "outside the repository", id="absolute-outside"),
    pytest.param(["../outside.bin"], "outside the repository", id="relative-outside"),
    pytest.param(["missing.bin"], "missing.bin: no such file", id="missing"),
    pytest.param(["tracked.bin.cfile"], "is a metadata file", id="own-cfile"),
    pytest.param([".cavorite/config"], "inside .cavorite/", id="config"),
    pytest.param([".git/config"], "inside .git/", id="git-dir"),
    pytest.param(["new.bin", "missing.bin"], "missing.bin: no such file", id="one-bad-of-two"),
]


@pytest.mark.parametrize(("args", "message"), REFUSALS)
def test_upload_refusals_change_nothing(
    cavorite_repo: Path,
    cavorite: Cavorite,
    local_objects: Path,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    repo = cavorite_repo
    outside = write(tmp_path / "outside.bin", b"outside")
    write(repo / "tracked.bin", b"tracked")
    ok(cavorite("upload", "tracked.bin", cwd=repo))
    write(repo / "new.bin", b"new")
    before = (tree(repo), tree(local_objects), git(repo, "status", "--porcelain").stdout)

    args = [a.replace("{outside}", str(outside)) for a in args]
    result = cavorite("upload", *args, cwd=repo)
    line = refused(result, 2)
    assert message in line
    assert result.stdout == ""
    assert (tree(repo), tree(local_objects), git(repo, "status", "--porcelain").stdout) == before


def test_upload_without_a_path_is_a_usage_error(cavorite_repo: Path, cavorite: Cavorite) -> None:
    result = cavorite("upload", cwd=cavorite_repo)
    assert result.code == 2
    assert "Traceback" not in result.stderr


def test_upload_jobs_zero_is_a_usage_error(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo / "a.bin", b"a")
    result = cavorite("upload", "--jobs", "0", "a.bin", cwd=cavorite_repo)
    assert result.code == 2
    assert "--jobs" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (cavorite_repo / "a.bin.cfile").exists()


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["default-jobs", "jobs-given"])
def test_a_store_that_cannot_be_opened_fails_the_run_once(
    make_git_repo: Any, cavorite: Cavorite, jobs: list[str]
) -> None:
    """Whichever thread opens the store (the first file's worker when ``--jobs`` is given):
    one message, the configuration's exit code, no file failed on its own."""
    repo = make_git_repo()
    config = {
        "backend_address": "s3://bucket",
        "metadata_file_extension": "cfile",
        "max_pool_connections": "many",
    }
    (repo / ".cavorite").mkdir()
    (repo / ".cavorite" / "config").write_text(json.dumps({"store_type": "s3", "options": config}))
    for name in ("a.bin", "b.bin", "c.bin"):
        write(repo / name, name.encode())
    result = cavorite(*jobs, "upload", "a.bin", "b.bin", "c.bin", cwd=repo)
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "cavorite: error: option 'max_pool_connections' must be an integer >= 1, not 'many'\n"
    )
    assert not list(repo.glob("*.cfile"))


# ===================================================================== retrieve


@pytest.fixture
def uploaded(cavorite_repo: Path, cavorite: Cavorite) -> dict[str, bytes]:
    files = {"a.bin": os.urandom(2000), "sub/b.bin": os.urandom(300), "sub/c.bin": b""}
    for rel, data in files.items():
        write(cavorite_repo / rel, data)
    ok(cavorite("upload", *files, cwd=cavorite_repo))
    for rel in files:
        (cavorite_repo / rel).unlink()
    return files


def test_retrieve_by_cfile_and_by_artifact_path(
    cavorite_repo: Path, cavorite: Cavorite, uploaded: dict[str, bytes]
) -> None:
    repo = cavorite_repo
    result = ok(cavorite("retrieve", "sub/b.bin.cfile", cwd=repo))
    assert artifact_lines(result.stdout) == ["retrieved sub/b.bin (300 B)"]
    assert (repo / "sub" / "b.bin").read_bytes() == uploaded["sub/b.bin"]
    assert not (repo / "a.bin").exists()

    result = ok(cavorite("retrieve", "../a.bin", "c.bin", cwd=repo / "sub"))
    assert artifact_lines(result.stdout) == [
        "retrieved ../a.bin (2.0 KiB)",
        "retrieved c.bin (0 B)",
    ]
    assert (repo / "a.bin").read_bytes() == uploaded["a.bin"]
    assert (repo / "sub" / "c.bin").read_bytes() == b""


def test_retrieve_everything_then_nothing_to_do(
    cavorite_repo: Path, cavorite: Cavorite, uploaded: dict[str, bytes]
) -> None:
    result = ok(cavorite("retrieve", cwd=cavorite_repo))
    assert result.stdout.splitlines()[-1] == "3 files: 3 retrieved"
    for rel, data in uploaded.items():
        assert (cavorite_repo / rel).read_bytes() == data
    again = ok(cavorite("retrieve", cwd=cavorite_repo))
    assert again.stdout.splitlines()[-1] == "3 files: 3 up to date"
    assert "retrieved" not in again.stdout


def test_retrieve_in_a_repository_without_cfiles(cavorite_repo: Path, cavorite: Cavorite) -> None:
    result = ok(cavorite("retrieve", cwd=cavorite_repo))
    assert "nothing to do" in result.stdout + result.stderr


def test_retrieve_a_path_without_cfile(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo / "plain.txt", b"x")
    line = refused(cavorite("retrieve", "plain.txt", cwd=cavorite_repo), 2)
    assert "plain.txt" in line and "no metadata file" in line


def test_corrupted_object_fails_naming_the_file_and_both_hashes(
    cavorite_repo: Path, cavorite: Cavorite, uploaded: dict[str, bytes], local_objects: Path
) -> None:
    good = uploaded["sub/b.bin"]
    bad = bytes([good[0] ^ 1]) + good[1:]
    (local_objects / "sub" / "b.bin").write_bytes(bad)
    result = cavorite("retrieve", cwd=cavorite_repo)
    line = refused(result, 1)
    assert "sub/b.bin" in line
    assert sha(good) in line and sha(bad) in line
    assert not (cavorite_repo / "sub" / "b.bin").exists()
    assert not [p for p in cavorite_repo.rglob("*") if TMP_MARK in p.name]
    # the other files were still retrieved
    assert (cavorite_repo / "a.bin").read_bytes() == uploaded["a.bin"]
    assert result.stdout.splitlines()[-1] == "3 files: 2 retrieved, 1 failed"


def test_missing_object_fails_naming_the_key(
    cavorite_repo: Path, cavorite: Cavorite, uploaded: dict[str, bytes], local_objects: Path
) -> None:
    (local_objects / "a.bin").unlink()
    line = refused(cavorite("retrieve", "a.bin", cwd=cavorite_repo), 1)
    assert "'a.bin' is not in the store" in line
    assert not (cavorite_repo / "a.bin").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{ not json", "not valid JSON"),
        ("", "empty"),
        ('{"name": "a.bin", "checksum": "nope"}', "'checksum' is not a sha256"),
        (json.dumps({"name": "../../../etc/x", "checksum": "0" * 64}), "'..' segment"),
        (json.dumps({"name": "/etc/passwd", "checksum": "0" * 64}), "absolute"),
    ],
)
def test_malformed_cfile_fails_clearly(
    cavorite_repo: Path, cavorite: Cavorite, uploaded: dict[str, bytes], content: str, message: str
) -> None:
    (cavorite_repo / "a.bin.cfile").write_text(content)
    line = refused(cavorite("retrieve", "a.bin", cwd=cavorite_repo), 1)
    assert "a.bin.cfile" in line
    assert message in line
    assert not (cavorite_repo / "a.bin").exists()


def test_locally_modified_file_is_kept_unless_forced(
    cavorite_repo: Path, cavorite: Cavorite, uploaded: dict[str, bytes]
) -> None:
    write(cavorite_repo / "a.bin", b"my edit")
    line = refused(cavorite("retrieve", "a.bin", cwd=cavorite_repo), 1)
    assert "a.bin" in line and "modified locally" in line and "--force" in line
    assert (cavorite_repo / "a.bin").read_bytes() == b"my edit"
    ok(cavorite("retrieve", "--force", "a.bin", cwd=cavorite_repo))
    assert (cavorite_repo / "a.bin").read_bytes() == uploaded["a.bin"]


# ===================================================================== outside a repository


@pytest.mark.parametrize("command", [["upload", "x.bin"], ["retrieve"]])
def test_not_inside_a_repository(tmp_path: Path, cavorite: Cavorite, command: list[str]) -> None:
    somewhere = tmp_path / "somewhere"
    somewhere.mkdir()
    write(somewhere / "x.bin", b"x")
    line = refused(cavorite(*command, cwd=somewhere), 2)
    assert "no .cavorite/config found" in line
    assert "cavorite init" in line
    assert sorted(os.listdir(somewhere)) == ["x.bin"]


def test_broken_config_is_a_configuration_error(cavorite_repo: Path, cavorite: Cavorite) -> None:
    (cavorite_repo / ".cavorite" / "config").write_text("{ broken")
    write(cavorite_repo / "a.bin", b"a")
    line = refused(cavorite("upload", "a.bin", cwd=cavorite_repo), 2)
    assert ".cavorite/config is not valid JSON" in line
    assert not (cavorite_repo / "a.bin.cfile").exists()


# ===================================================================== --json


def json_doc(result: CliResult, command: str) -> dict[str, Any]:
    assert "Traceback" not in result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)  # the whole of stdout is one document
    assert set(doc) >= {"command", "ok", "summary", "files"}
    assert doc["command"] == command
    assert doc["ok"] is (result.code == 0)
    assert {"uploaded", "already-stored", "retrieved", "up-to-date", "failed"} <= set(
        doc["summary"]
    )
    assert sum(doc["summary"].values()) == len(doc["files"])
    for entry in doc["files"]:
        assert {"path", "outcome", "key", "size", "sha256"} <= set(entry)
    return doc


def test_json_upload_and_retrieve(
    cavorite_repo: Path, cavorite: Cavorite, local_objects: Path
) -> None:
    repo = cavorite_repo
    data = b"json" * 10
    write(repo / "d" / "a.bin", data)
    result = ok(cavorite("upload", "--json", "a.bin", cwd=repo / "d"))
    doc = json_doc(result, "upload")
    assert doc["ok"] is True
    assert doc["summary"]["uploaded"] == 1
    assert doc["files"] == [
        {
            "path": "d/a.bin",
            "outcome": "uploaded",
            "key": "d/a.bin",
            "size": 40,
            "sha256": sha(data),
        }
    ]
    assert result.stderr == ""

    (repo / "d" / "a.bin").unlink()
    doc = json_doc(ok(cavorite("retrieve", "--json", cwd=repo)), "retrieve")
    assert doc["summary"]["retrieved"] == 1
    assert doc["files"] == [
        {
            "path": "d/a.bin",
            "outcome": "retrieved",
            "key": "d/a.bin",
            "size": 40,
            "sha256": sha(data),
        }
    ]

    (local_objects / "d" / "a.bin").write_bytes(b"rotten")
    (repo / "d" / "a.bin").unlink()
    # a cache without the good copy: the store's is the one read
    empty_cache = {"CAVORITE_CACHE_DIR": str(local_objects.parent / "empty-cache")}
    failed = cavorite("retrieve", "--json", cwd=repo, env=empty_cache)
    assert failed.code == 1
    doc = json_doc(failed, "retrieve")
    assert doc["ok"] is False
    assert doc["summary"]["failed"] == 1
    [entry] = doc["files"]
    assert (entry["path"], entry["outcome"]) == ("d/a.bin", "failed")
    assert entry["error"]["type"] == "IntegrityError"
    assert sha(data) in entry["error"]["message"] and sha(b"rotten") in entry["error"]["message"]


def test_json_of_nothing_to_do(cavorite_repo: Path, cavorite: Cavorite) -> None:
    doc = json_doc(ok(cavorite("retrieve", "--json", cwd=cavorite_repo)), "retrieve")
    assert doc["files"] == []
    assert doc["ok"] is True


def test_init_where_cavorite_is_a_file(git_repo: Path, cavorite: Cavorite) -> None:
    (git_repo / ".cavorite").write_text("in the way")
    line = refused(cavorite("init", "--backend-address", "/o", cwd=git_repo), 2)
    assert "cannot write" in line and ".cavorite/config" in line
    assert (git_repo / ".cavorite").read_text() == "in the way"


def test_retrieve_onto_a_directory_is_reported(
    cavorite_repo: Path, cavorite: Cavorite, uploaded: dict[str, bytes]
) -> None:
    (cavorite_repo / "a.bin").mkdir()
    line = refused(cavorite("retrieve", "a.bin", cwd=cavorite_repo), 1)
    assert "a.bin" in line and "not a regular file" in line
    assert (cavorite_repo / "a.bin").is_dir()
