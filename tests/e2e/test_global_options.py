"""Global options where people type them, and what ``-v`` and ``-vv`` add for a bug report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.support import binary, json_report, sha256, write
from tests.fixtures.emulators import free_port
from tests.fixtures.repos import Cavorite

SECRET = "wJalrXUtnFEMI-everyday-secret-K7MDENG"


@pytest.fixture
def uploaded(cavorite_repo: Path, cavorite: Cavorite) -> Path:
    write(cavorite_repo, "a.bin", binary("a", 2000))
    assert cavorite("upload", "a.bin", cwd=cavorite_repo).code == 0
    return cavorite_repo


@pytest.mark.parametrize(
    "args",
    [
        ["-q", "status"],
        ["status", "-q"],
        ["status", "--quiet"],
        ["--quiet", "retrieve"],
        ["retrieve", "-q"],
    ],
)
def test_quiet_before_or_after_the_command(
    uploaded: Path, cavorite: Cavorite, args: list[str]
) -> None:
    result = cavorite(*args, cwd=uploaded)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "1 file: 1 up to date"


@pytest.mark.parametrize(
    "args",
    [
        ["--json", "status"],
        ["status", "--json"],
        ["--json", "-j", "2", "retrieve"],
        ["-j2", "retrieve", "--json"],
        ["--jobs=2", "--json", "verify"],
        ["--jobs", "2", "verify", "--json", "-v"],
    ],
)
def test_json_and_jobs_before_or_after_the_command(
    uploaded: Path, cavorite: Cavorite, args: list[str]
) -> None:
    result = cavorite(*args, cwd=uploaded)
    command = next(a for a in args if a in ("status", "retrieve", "verify"))
    assert result.code == 0, result.stderr
    json_report(result, command)


def test_verbose_after_the_command_times_it(uploaded: Path, cavorite: Cavorite) -> None:
    result = cavorite("retrieve", "-v", cwd=uploaded)
    assert result.code == 0, result.stderr
    assert "cavorite: retrieve took " in result.stderr


def test_an_option_a_command_lacks_is_still_refused(uploaded: Path, cavorite: Cavorite) -> None:
    result = cavorite("--json", "install-hook", cwd=uploaded)
    assert result.code == 2
    assert "No such option: --json" in result.stderr


def test_arguments_after_double_dash_are_not_options(uploaded: Path, cavorite: Cavorite) -> None:
    write(uploaded, "-q", binary("q", 500))
    result = cavorite("upload", "--", "-q", cwd=uploaded)
    assert result.code == 0, result.stderr
    assert (uploaded / "-q.cfile").is_file()


def _down_s3_repo(root: Path) -> tuple[Path, dict[str, str]]:
    """A repository whose S3 endpoint accepts no connection, with one cfile to retrieve."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    config = {
        "store_type": "s3",
        "options": {
            "backend_address": f"{origin}/bucket",
            "metadata_file_extension": "cfile",
            "region": "us-east-1",
            "connect_timeout": 0.2,
            "read_timeout": 0.2,
        },
    }
    write(root, ".cavorite/config", json.dumps(config).encode())
    data = binary("gone", 1000)
    cfile = {"name": "gone.bin", "checksum": sha256(data), "date_modified": "", "size": len(data)}
    write(root, "gone.bin.cfile", json.dumps(cfile).encode())
    write(root, "also.bin.cfile", json.dumps({**cfile, "name": "also.bin"}).encode())
    env = {
        "CAVORITE_ALLOW_ENDPOINT": origin,
        "AWS_ACCESS_KEY_ID": "AKIAEVERYDAYTEST",
        "AWS_SECRET_ACCESS_KEY": SECRET,
    }
    return root, env


def test_verbose_names_store_key_cause_chain_and_timing(tmp_path: Path, cavorite: Cavorite) -> None:
    root, env = _down_s3_repo(tmp_path / "work")
    plain = cavorite("retrieve", "-j1", cwd=root, env=env)
    verbose = cavorite("retrieve", "-v", "-j1", cwd=root, env=env)
    assert plain.code == verbose.code == 1
    assert "store" not in plain.stderr.replace("not in the store", "")
    log = [line for line in verbose.stderr.splitlines() if "failed after" in line]
    assert log, verbose.stderr
    # the store, the key, the time the call took, the chain of causes
    assert "store http://127.0.0.1:" in log[0]
    assert "get 'gone.bin' failed after " in log[0] or "get 'also.bin' failed after " in log[0]
    # the error's own type: a store that cannot be reached at all (a kind of StoreDown)
    assert "StoreUnreachable" in log[0] and " <- " in log[0]
    assert "cavorite: retrieve took " in verbose.stderr
    assert SECRET not in verbose.stdout + verbose.stderr


def test_very_verbose_adds_debug_logging_without_secrets(
    tmp_path: Path, cavorite: Cavorite
) -> None:
    root, env = _down_s3_repo(tmp_path / "work")
    verbose = cavorite("-v", "retrieve", cwd=root, env=env)
    debug = cavorite("retrieve", "-vv", cwd=root, env=env)
    assert debug.code == 1
    assert len(debug.stderr.splitlines()) > len(verbose.stderr.splitlines())
    assert "gone.bin: failed" in debug.stderr
    assert SECRET not in debug.stdout + debug.stderr
