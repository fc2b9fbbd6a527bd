"""The rules of ``cavorite_py.places``: which places need the user's approval, the forms of an
approval, and ``cavorite allow-endpoint``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cavorite_localstore import LocalStore

from cavorite_py import places
from cavorite_py.cli import app
from cavorite_py.errors import ConfigError, ConsentError
from cavorite_py.stores.base import StoreSettings
from tests.fixtures.repos import Cavorite


@pytest.fixture
def no_consent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user who approved nothing yet; returns their config file."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv(places.ENV_VAR, raising=False)
    return tmp_path / "config" / "cavorite" / "config.json"


@pytest.mark.parametrize(
    "url",
    [
        "https://s3.amazonaws.com",
        "https://s3.eu-west-1.amazonaws.com",
        "https://s3.cn-north-1.amazonaws.com.cn",
        "https://storage.googleapis.com",
        "https://acct.blob.core.windows.net",
        "https://acct.blob.core.chinacloudapi.cn",
        "https://acct.blob.core.usgovcloudapi.net",
        "HTTPS://S3.AMAZONAWS.COM:443/bucket",
    ],
)
def test_the_providers_own_endpoints_need_no_approval(url: str, no_consent: Path) -> None:
    places.require_endpoint(url, "S3")


@pytest.mark.parametrize(
    "url",
    [
        "http://s3.amazonaws.com",
        "https://s3.amazonaws.com:8443",
        "https://amazonaws.com",
        "https://s3.amazonaws.com.attacker.example",
        "https://evil-amazonaws.com",
        "https://acct.blob.core.windows.net.attacker.example",
        "http://127.0.0.1:9000",
        "https://storage.googleapis.com.attacker.example",
    ],
)
def test_every_other_endpoint_needs_approval(url: str, no_consent: Path) -> None:
    with pytest.raises(ConsentError) as exc:
        places.require_endpoint(url, "S3")
    assert f"cavorite allow-endpoint {places.origin(url)}" in str(exc.value)
    assert exc.value.exit_code == 2


@pytest.mark.parametrize(
    ("given", "entry"),
    [
        ("http://127.0.0.1:9000/bucket/x", "http://127.0.0.1:9000"),
        ("HTTPS://Example.COM:443", "https://example.com"),
        ("http://[::1]:10000/devstoreaccount1", "http://[::1]:10000"),
        ("fsspec:filecache::s3://b", "fsspec:filecache::s3://b"),
    ],
)
def test_approvals_are_normalised(given: str, entry: str) -> None:
    assert places.normalise(given) == entry


def test_a_directory_approval_is_its_real_path(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    real = (tmp_path / "real").resolve().as_uri()
    assert places.normalise("link", cwd=tmp_path) == real
    assert places.normalise((tmp_path / "link").as_uri()) == real


@pytest.mark.parametrize("given", ["", "s3://bucket", "ftp://host", "file://host/dir", "fsspec:"])
def test_what_cannot_be_approved(given: str) -> None:
    with pytest.raises(ConfigError):
        places.normalise(given)


def test_a_bad_entry_in_the_environment_is_named(
    no_consent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(places.ENV_VAR, "http://127.0.0.1:9000,s3://bucket")
    with pytest.raises(ConfigError) as exc:
        places.require_endpoint("http://127.0.0.1:9001", "S3")
    assert f"{places.ENV_VAR} holds an entry that is unusable" in str(exc.value)
    assert "'s3://bucket'" in str(exc.value)


# ---------------------------------------------------------------- local directories


def open_local(directory: Path, root: Path) -> LocalStore:
    return LocalStore(StoreSettings(directory.as_uri(), {}, root))


def test_local_directories_inside_the_repository_or_the_data_directory(
    tmp_path: Path, no_consent: Path
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    open_local(root / "objects", root).close()
    open_local(tmp_path / "data" / "cavorite" / "localstore" / "x", root).close()


@pytest.mark.parametrize("where", ["../objects", ".git/objects", "link/objects"])
def test_local_directories_elsewhere_need_approval(
    where: str, tmp_path: Path, no_consent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "link").symlink_to(tmp_path / "elsewhere")
    directory = root / where
    with pytest.raises(ConsentError) as exc:
        open_local(directory, root)
    real = Path(os.path.realpath(directory))
    assert f"cavorite allow-endpoint {real.as_uri()}" in str(exc.value)
    monkeypatch.setenv(places.ENV_VAR, f"http://127.0.0.1:1,{real.parent}")
    open_local(directory, root).close()


def test_a_directory_approved_in_the_user_config(tmp_path: Path, no_consent: Path) -> None:
    places.allow([places.normalise(str(tmp_path / "shared"))])
    assert json.loads(no_consent.read_text()) == {
        "allowed_endpoints": [(tmp_path / "shared").resolve().as_uri()]
    }
    open_local(tmp_path / "shared" / "team", tmp_path / "repo").close()
    with pytest.raises(ConsentError):
        open_local(tmp_path / "sharedx", tmp_path / "repo")


def test_fsspec_local_paths_follow_the_same_rule(tmp_path: Path, no_consent: Path) -> None:
    from cavorite_py.stores.fsspec import FsspecStore

    root = tmp_path / "repo"
    root.mkdir()
    FsspecStore(StoreSettings((root / "objects").as_uri(), {}, root)).close()
    FsspecStore(StoreSettings("memory://bucket/x", {}, root)).close()
    for address, options in [
        ((tmp_path / "objects").as_uri(), {}),
        ("memory://bucket/x", {"fsspec_options": {"skip_instance_cache": True}}),
        ("simplecache::memory://bucket/x", {}),
        ("sftp://attacker.example/x", {}),
        ("s3://user:pw@bucket/x", {}),
    ]:
        with pytest.raises(ConsentError):
            FsspecStore(StoreSettings(address, options, root))


# ---------------------------------------------------------------- Azure keys


@pytest.mark.parametrize("secret", ["AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"])
def test_azure_secrets_go_over_plain_http_only_to_this_machine(
    secret: str, tmp_path: Path, no_consent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cavorite_py.stores.azure import AzureStore

    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv(secret, "a2V5")
    monkeypatch.setenv(places.ENV_VAR, "http://192.0.2.1:10000,https://192.0.2.1")
    with pytest.raises(ConsentError) as exc:
        AzureStore(StoreSettings("http://192.0.2.1:10000/acct/container", {}, tmp_path))
    assert "plain http" in str(exc.value)
    AzureStore(StoreSettings("https://192.0.2.1/acct/container", {}, tmp_path)).close()
    monkeypatch.setenv(places.ENV_VAR, "http://localhost:10000")
    AzureStore(StoreSettings("http://localhost:10000/acct/container", {}, tmp_path)).close()


# ---------------------------------------------------------------- allow-endpoint


def test_allow_endpoint_round_trip(
    cavorite: Cavorite, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {places.ENV_VAR: None}
    (tmp_path / "objects").mkdir()
    for given in [
        "http://127.0.0.1:9000/bucket",
        "../objects",
        "fsspec:memory://x#options-sha256=0",
    ]:
        done = cavorite("allow-endpoint", given, cwd=tmp_path / "home", env=env)
        assert done.code == 0, done.stderr
        assert done.stdout.startswith("approved ")
    again = cavorite("allow-endpoint", "http://127.0.0.1:9000", cwd=tmp_path, env=env)
    assert again.code == 0
    user_config = Path(cli_env["XDG_CONFIG_HOME"]) / "cavorite" / "config.json"
    assert json.loads(user_config.read_text())["allowed_endpoints"] == [
        "http://127.0.0.1:9000",
        (tmp_path / "objects").resolve().as_uri(),
        "fsspec:memory://x#options-sha256=0",
    ]
    # the store reads the same file
    monkeypatch.setenv("XDG_CONFIG_HOME", cli_env["XDG_CONFIG_HOME"])
    monkeypatch.delenv(places.ENV_VAR)
    assert places.approved("http://127.0.0.1:9000")
    bad = cavorite("allow-endpoint", "s3://bucket", cwd=tmp_path, env=env)
    assert bad.code == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "cannot approve 's3://bucket'" in bad.stderr


def test_allow_endpoint_is_a_command() -> None:
    assert "allow-endpoint" in [c.name for c in app.registered_commands]
