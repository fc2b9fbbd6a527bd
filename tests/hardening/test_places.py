"""A cloned repository names places; the user approves them (``cavorite_py.places``).

Each test plays the attacker: a committed ``.cavorite/config`` that sends bytes or credentials
somewhere the user never chose. Before consent the command refuses in one line naming what to
approve, and nothing is written or sent; with consent the same configuration works.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.consent import ENV_VAR
from tests.fixtures.emulators import AzureEmulator, S3Emulator, cli_cloud_env
from tests.fixtures.repos import Cavorite, CliResult, git

from .recorder import Recorder, recording_endpoint
from .support import snapshot

EVIL = b"[core]\n\tfsmonitor = touch pwned\n"
FAST = {"max_attempts": 1, "connect_timeout": 1, "read_timeout": 1}


def commit_config(repo: Path, store_type: str, address: str, **options: Any) -> None:
    """Write ``.cavorite/config`` as a hostile repository would ship it."""
    # a committed config as the Go tool writes it (cfiles named x.bin.cfile)
    base = {"backend_address": address, "metadata_file_extension": "cfile"}
    config = {"store_type": store_type, "options": {**base, **options}}
    (repo / ".cavorite").mkdir(exist_ok=True)
    (repo / ".cavorite" / "config").write_text(json.dumps(config, indent=2))


def commit_cfile(repo: Path, name: str, content: bytes) -> None:
    cfile = repo / f"{name}.cfile"
    cfile.parent.mkdir(parents=True, exist_ok=True)
    cfile.write_text(
        json.dumps(
            {
                "name": name,
                "checksum": hashlib.sha256(content).hexdigest(),
                "date_modified": "2024-01-01T00:00:00Z",
                "size": len(content),
            }
        )
    )


def work_tree(repo: Path) -> dict[bytes, tuple[str, bytes]]:
    """The snapshot of ``repo`` without cavorite's own ``.cavorite/.gitignore``, which keeps
    its state cache out of git and is written before any store is opened."""
    return {k: v for k, v in snapshot(repo)[repo].items() if k != b".cavorite/.gitignore"}


def refused(result: CliResult, approve: str) -> None:
    """The one-line refusal, exit 2, naming the command that approves ``approve``."""
    lines = result.stderr.strip().splitlines()
    assert result.code == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "is not approved" in lines[0]
    assert f"cavorite allow-endpoint {approve}" in lines[0]


@pytest.fixture
def run(cavorite: Cavorite) -> Callable[..., CliResult]:
    """``cavorite`` without the session's consent: the user has approved nothing."""

    def call(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
        return cavorite(*args, cwd=cwd, env={ENV_VAR: None, **(env or {})}, timeout=60)

    return call


@pytest.fixture
def attacker() -> Iterator[Recorder]:
    with recording_endpoint() as recorder:
        yield recorder


# ---------------------------------------------------------------- fsspec


def test_fsspec_chain_cannot_write_into_git(git_repo: Path, run: Callable[..., CliResult]) -> None:
    # filecache keeps the reference filesystem's bytes under their own name in .git:
    # on the old code, retrieve of objs/config replaced .git/config
    options = {
        "filecache": {"cache_storage": str(git_repo / ".git"), "same_names": True},
        "reference": {"fo": {"base/objs/config": EVIL.decode()}},
    }
    commit_config(git_repo, "fsspec", "filecache::reference://base", fsspec_options=options)
    commit_cfile(git_repo, "objs/config", EVIL)
    git_dir = sorted(p.name for p in (git_repo / ".git").iterdir())
    git_config = (git_repo / ".git" / "config").read_bytes()
    work_tree_before = work_tree(git_repo)

    result = run("retrieve", cwd=git_repo)

    refused(result, "'fsspec:filecache::reference://base#options-sha256=")
    assert (git_repo / ".git" / "config").read_bytes() == git_config
    assert sorted(p.name for p in (git_repo / ".git").iterdir()) == git_dir
    assert work_tree(git_repo) == work_tree_before


def test_fsspec_chain_works_once_approved_exactly(
    git_repo: Path, tmp_path: Path, run: Callable[..., CliResult]
) -> None:
    cache = tmp_path / "cache"
    filecache = {"cache_storage": str(cache)}
    options = {"filecache": filecache, "reference": {"fo": {"base/a": "A"}}}
    commit_config(git_repo, "fsspec", "filecache::reference://base", fsspec_options=options)
    commit_cfile(git_repo, "a", b"A")
    entry = run("retrieve", cwd=git_repo).stderr.split("allow-endpoint ")[1].split("  (")[0]
    approved = run("allow-endpoint", entry.strip("'"), cwd=git_repo)
    assert approved.code == 0, approved.stderr

    result = run("retrieve", cwd=git_repo)

    assert result.code == 0, result.stderr
    assert (git_repo / "a").read_bytes() == b"A"
    # other options are another place: the approval does not cover them
    filecache["cache_storage"] = str(git_repo / ".git")
    commit_config(git_repo, "fsspec", "filecache::reference://base", fsspec_options=options)
    (git_repo / "a").unlink()
    # with the content cache emptied, the retrieve needs the store
    assert run("cache", "clean", "--all", cwd=git_repo).code == 0
    assert run("retrieve", cwd=git_repo).code == 2
    assert not (git_repo / "a").exists()


# ---------------------------------------------------------------- endpoints


def test_s3_endpoint_receives_nothing_before_consent(
    git_repo: Path, run: Callable[..., CliResult], attacker: Recorder
) -> None:
    commit_config(git_repo, "s3", f"{attacker.url}/bucket", **FAST)
    commit_cfile(git_repo, "a.bin", b"a")
    env = {
        **cli_cloud_env(),
        "AWS_ACCESS_KEY_ID": "AKIAVICTIM",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "victim-session-token",
    }

    refused(run("retrieve", cwd=git_repo, env=env), attacker.url)
    assert attacker.requests == []

    result = run("retrieve", cwd=git_repo, env={**env, ENV_VAR: attacker.url})
    assert result.code == 1, result.stderr
    assert attacker.requests, "with consent the store is asked"
    assert "victim-session-token" in attacker.headers("X-Amz-Security-Token")


def test_azure_endpoint_receives_nothing_before_consent(
    git_repo: Path, run: Callable[..., CliResult], attacker: Recorder
) -> None:
    commit_config(git_repo, "azure", f"{attacker.url}/victimaccount/container", **FAST)
    commit_cfile(git_repo, "a.bin", b"a")
    key = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
    env = {**cli_cloud_env(), "AZURE_STORAGE_KEY": key}

    refused(run("retrieve", cwd=git_repo, env=env), attacker.url)
    assert attacker.requests == []

    result = run("retrieve", cwd=git_repo, env={**env, ENV_VAR: attacker.url})
    assert result.code == 1, result.stderr
    assert any(v.startswith("SharedKey victimaccount:") for v in attacker.headers("Authorization"))


def test_gcs_config_cannot_name_an_endpoint(
    git_repo: Path, run: Callable[..., CliResult], attacker: Recorder
) -> None:
    # GCS's endpoint comes only from the user's environment (STORAGE_EMULATOR_HOST): a
    # committed URL is refused whatever the consent
    commit_config(git_repo, "gcs", f"{attacker.url}/bucket", **FAST)
    commit_cfile(git_repo, "a.bin", b"a")

    for env in ({}, {ENV_VAR: attacker.url}):
        result = run("retrieve", cwd=git_repo, env={**cli_cloud_env(), **env})
        assert result.code == 2 and "unsupported scheme" in result.stderr, result.stderr
    assert attacker.requests == []


# ---------------------------------------------------------------- Azure account keys


def test_azurite_account_key_over_http_needs_the_loopback_endpoint_approved(
    azure_emulator: AzureEmulator, git_repo: Path, run: Callable[..., CliResult]
) -> None:
    address = f"{azure_emulator.endpoint}/{azure_emulator.new_container()}"
    origin = azure_emulator.endpoint.rsplit("/", 1)[0]
    commit_config(git_repo, "azure", address)
    (git_repo / "a.bin").write_bytes(b"artifact")
    env = {**cli_cloud_env(), "AZURE_STORAGE_KEY": azure_emulator.key}

    refused(run("upload", "a.bin", cwd=git_repo, env=env), origin)
    assert not (git_repo / "a.bin.cfile").exists()

    approved = {**env, ENV_VAR: origin}
    assert run("upload", "a.bin", cwd=git_repo, env=approved).code == 0
    (git_repo / "a.bin").unlink()
    assert run("retrieve", cwd=git_repo, env=approved).code == 0
    assert (git_repo / "a.bin").read_bytes() == b"artifact"


# ---------------------------------------------------------------- local directories


def test_local_store_outside_the_repository_reads_nothing_before_consent(
    git_repo: Path, tmp_path: Path, run: Callable[..., CliResult]
) -> None:
    secrets = tmp_path / "home" / ".ssh"
    secrets.mkdir(parents=True)
    (secrets / "id_rsa").write_bytes(b"private key")
    commit_config(git_repo, "localstore", secrets.as_uri())
    commit_cfile(git_repo, "id_rsa", b"private key")

    refused(run("retrieve", cwd=git_repo), secrets.as_uri())
    assert not (git_repo / "id_rsa").exists()

    assert run("retrieve", cwd=git_repo, env={ENV_VAR: str(secrets)}).code == 0
    assert (git_repo / "id_rsa").read_bytes() == b"private key"


# ---------------------------------------------------------------- init


def test_init_approves_the_address_the_user_typed(
    s3_emulator: S3Emulator, git_repo: Path, run: Callable[..., CliResult], cli_env: dict[str, str]
) -> None:
    address = f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}/store"
    env = cli_cloud_env(s3_emulator)
    init = run("init", "--store-type", "s3", "--backend-address", address, cwd=git_repo, env=env)
    assert init.code == 0, init.stderr
    assert f"approved {s3_emulator.endpoint}" in init.stdout
    user_config = Path(cli_env["XDG_CONFIG_HOME"]) / "cavorite" / "config.json"
    assert json.loads(user_config.read_text())["allowed_endpoints"] == [s3_emulator.endpoint]

    (git_repo / "a.bin").write_bytes(b"artifact")
    assert run("upload", "a.bin", cwd=git_repo, env=env).code == 0
    (git_repo / "a.bin").unlink()
    assert run("retrieve", cwd=git_repo, env=env).code == 0
    assert (git_repo / "a.bin").read_bytes() == b"artifact"


def test_init_approves_a_local_directory_beside_the_repository(
    git_repo: Path, tmp_path: Path, run: Callable[..., CliResult]
) -> None:
    init = run("init", "--backend-address", "../objects", cwd=git_repo)
    assert init.code == 0, init.stderr
    assert f"approved {(tmp_path / 'objects').resolve().as_uri()}" in init.stdout
    (git_repo / "a.bin").write_bytes(b"artifact")
    assert run("upload", "a.bin", cwd=git_repo).code == 0
    git(git_repo, "status")


def test_init_refused_later_by_another_user(
    git_repo: Path, tmp_path: Path, run: Callable[..., CliResult]
) -> None:
    assert run("init", "--backend-address", "../objects", cwd=git_repo).code == 0
    other_home = tmp_path / "other"
    env = {"XDG_CONFIG_HOME": str(other_home), "HOME": str(other_home)}
    (git_repo / "a.bin").write_bytes(b"artifact")
    objects = (tmp_path / "objects").resolve().as_uri()
    refused(run("upload", "a.bin", cwd=git_repo, env=env), objects)
