"""Interoperability with Cavorite (Go), run for real: its CLI and its localstore plugin (built
for Linux x86-64, in the directory ``$CAVORITE_GO_BINARIES``) against moto, next to cavorite-py.

Without ``CAVORITE_GO_BINARIES`` the tests are skipped, and the summary says why; with it (CI's
``.ci/run`` sets it) a missing binary is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.emulators import S3Emulator, cli_cloud_env
from tests.fixtures.repos import Cavorite, CliResult

pytestmark = pytest.mark.emulator

BINARIES_ENV = "CAVORITE_GO_BINARIES"
GO_PLUGIN_NOTICE = "is a Cavorite (Go) plugin (hashicorp go-plugin over gRPC)"

FILES = {
    "a.bin": b"uploaded by one tool, read by the other\n",
    "sub dir/with space.bin": os.urandom(70_000),
    "d\u00e9j\u00e0/\u0444\u0430\u0439\u043b \u2603.bin": b"non-ASCII names and a subdirectory",
}


@dataclass(frozen=True)
class GoCavorite:
    cli: Path
    plugin: Path
    home: Path

    def __call__(self, *args: str, cwd: Path, env: dict[str, str]) -> CliResult:
        full = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LC_ALL": "C.UTF-8", **env}
        done = subprocess.run(
            [str(self.cli), *args],
            cwd=cwd,
            env=full,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=120,
            check=False,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def go_binaries() -> tuple[Path, Path]:
    where = os.environ.get(BINARIES_ENV)
    if not where:
        pytest.skip(
            f"Cavorite (Go) binaries not available: set {BINARIES_ENV} to the directory holding "
            "cavorite and cavorite-localstore-plugin (.ci/run does)"
        )
    cli, plugin = Path(where) / "cavorite", Path(where) / "cavorite-localstore-plugin"
    missing = [str(p) for p in (cli, plugin) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"{BINARIES_ENV}={where}: not executable or missing: {', '.join(missing)}",
            pytrace=False,
        )
    return cli, plugin


@pytest.fixture
def go(go_binaries: tuple[Path, Path], tmp_path: Path) -> GoCavorite:
    home = tmp_path / "go-home"
    home.mkdir()
    return GoCavorite(*go_binaries, home)


@dataclass(frozen=True)
class Bucket:
    emulator: S3Emulator
    name: str

    @property
    def address(self) -> str:
        return f"{self.emulator.endpoint}/{self.name}"

    def env(self) -> dict[str, str]:
        return cli_cloud_env(self.emulator)

    def versions(self) -> dict[str, int]:
        """How many times each key was written (the bucket keeps every version)."""
        client = self.emulator.client()
        found: dict[str, int] = {}
        for page in client.get_paginator("list_object_versions").paginate(Bucket=self.name):
            for version in page.get("Versions", []):
                found[version["Key"]] = found.get(version["Key"], 0) + 1
        client.close()
        return found


@pytest.fixture
def bucket(s3_emulator: S3Emulator) -> Bucket:
    name = s3_emulator.new_bucket()
    client = s3_emulator.client()
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    client.close()
    return Bucket(s3_emulator, name)


@pytest.fixture
def work(make_git_repo: Callable[..., Path]) -> Path:
    repo = make_git_repo("work")
    write_files(repo)
    return repo


def write_files(repo: Path) -> None:
    for name, data in FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)


def remove_files(repo: Path) -> None:
    for name in FILES:
        (repo / name).unlink()


def assert_files(repo: Path) -> None:
    assert {name: (repo / name).read_bytes() for name in FILES} == FILES


def cfiles(repo: Path) -> dict[str, bytes]:
    return {name: (repo / f"{name}.cfile").read_bytes() for name in FILES}


def ok(result: CliResult) -> CliResult:
    assert result.code == 0, result.stdout + result.stderr
    return result


def outcomes(result: CliResult) -> dict[str, list[str]]:
    """The paths of a ``--json`` run's report, by outcome."""
    assert result.code == 0, result.stdout + result.stderr
    found: dict[str, list[str]] = {}
    for entry in json.loads(result.stdout)["files"]:
        found.setdefault(entry["outcome"], []).append(entry["path"])
    return {outcome: sorted(paths) for outcome, paths in found.items()}


ALL = sorted(FILES)


# --------------------------------------------------------------------- Go first


def test_go_upload_then_status_verify_upload_and_retrieve(
    go: GoCavorite, bucket: Bucket, work: Path, cavorite: Cavorite
) -> None:
    env = bucket.env()
    ok(
        go(
            "init",
            ".",
            "--store_type",
            "s3",
            "--backend_address",
            bucket.address,
            cwd=work,
            env=env,
        )
    )
    ok(go("upload", *FILES, cwd=work, env=env))
    assert bucket.versions() == dict.fromkeys(FILES, 1)
    written = cfiles(work)

    assert outcomes(cavorite("status", "--json", cwd=work, env=env)) == {"up-to-date": ALL}
    verified = cavorite("verify", "--remote", "--json", cwd=work, env=env)
    assert outcomes(verified) == {"up-to-date": ALL, "stored": ALL}

    uploaded = cavorite("upload", "--json", *FILES, cwd=work, env=env)
    assert outcomes(uploaded) == {"already-stored": ALL}
    assert cfiles(work) == written  # byte for byte: no size added, no new date, same indent
    assert bucket.versions() == dict.fromkeys(FILES, 1)  # nothing was sent

    remove_files(work)
    assert outcomes(cavorite("retrieve", "--json", cwd=work, env=env)) == {"retrieved": ALL}
    assert_files(work)
    assert cfiles(work) == written


def test_cavorite_init_and_upload_then_go_retrieve(
    go: GoCavorite, bucket: Bucket, work: Path, cavorite: Cavorite
) -> None:
    env = bucket.env()
    # the Go tool's layout: path keys, as teams running the Go tool alongside choose
    ok(
        cavorite(
            "init",
            "--store-type",
            "s3",
            "--backend-address",
            bucket.address,
            "--key-scheme",
            "path",
            cwd=work,
            env=env,
        )
    )
    ok(cavorite("upload", *FILES, cwd=work, env=env))
    assert bucket.versions() == dict.fromkeys(FILES, 1)
    remove_files(work)
    ok(go("retrieve", *(f"{name}.cfile" for name in FILES), cwd=work, env=env))
    assert_files(work)


# --------------------------------------------------------------------- a path after the bucket


@pytest.fixture(params=["s3-url", "endpoint-url"])
def address_with_path(
    request: pytest.FixtureRequest, bucket: Bucket
) -> Iterator[tuple[str, dict[str, str]]]:
    """A Go config's address with a path after the bucket, and the environment both tools
    need to reach moto with it."""
    if request.param == "s3-url":
        endpoint = {"AWS_ENDPOINT_URL": bucket.emulator.endpoint}
        yield f"s3://{bucket.name}/team", {**bucket.env(), **endpoint}
    else:
        yield f"{bucket.address}/team", bucket.env()


def test_a_path_after_the_bucket_means_what_it_means_to_go(
    go: GoCavorite,
    bucket: Bucket,
    work: Path,
    cavorite: Cavorite,
    address_with_path: tuple[str, dict[str, str]],
) -> None:
    address, env = address_with_path
    ok(go("init", ".", "--store_type", "s3", "--backend_address", address, cwd=work, env=env))
    ok(go("upload", "a.bin", cwd=work, env=env))
    (work / "a.bin").unlink()

    retrieved = ok(cavorite("retrieve", "a.bin.cfile", cwd=work, env=env))
    assert (work / "a.bin").read_bytes() == FILES["a.bin"]
    assert retrieved.stderr.count("backend_address") == 1, retrieved.stderr
    assert "object_key_prefix" in retrieved.stderr

    ok(cavorite("upload", "sub dir/with space.bin", cwd=work, env=env))
    (work / "sub dir/with space.bin").unlink()
    ok(go("retrieve", "sub dir/with space.bin.cfile", cwd=work, env=env))
    assert (work / "sub dir/with space.bin").read_bytes() == FILES["sub dir/with space.bin"]
    assert sorted(bucket.versions()) == sorted(
        f"{bucket.name}/{key}" if address.startswith("http") else key
        for key in ("a.bin", "sub dir/with space.bin")
    )


# --------------------------------------------------------------------- config and plugins


def test_without_an_extension_go_writes_a_trailing_dot_and_cavorite_refuses(
    go: GoCavorite, bucket: Bucket, work: Path, cavorite: Cavorite
) -> None:
    env = bucket.env()
    (work / ".cavorite").mkdir()
    config = {"store_type": "s3", "options": {"backend_address": bucket.address}}
    (work / ".cavorite" / "config").write_text(json.dumps(config))
    ok(go("upload", "a.bin", cwd=work, env=env))
    assert (work / "a.bin.").is_file()
    refused = cavorite("status", cwd=work, env=env)
    assert refused.code == 2
    assert "metadata_file_extension is missing or empty" in refused.stderr


def go_plugin_repo(go: GoCavorite, work: Path, objects: Path) -> None:
    ok(
        go(
            "init",
            ".",
            "--store_type",
            "plugin",
            "--plugin_address",
            str(go.plugin),
            "--backend_address",
            str(objects),
            cwd=work,
            env={},
        )
    )
    ok(go("upload", *FILES, cwd=work, env={}))
    remove_files(work)


@pytest.mark.parametrize("cookie", [{}, {"BASIC_PLUGIN": "cavorite"}], ids=["plain", "cookie"])
def test_a_go_plugin_is_refused_with_the_way_out(
    go: GoCavorite, work: Path, tmp_path: Path, cavorite: Cavorite, cookie: dict[str, str]
) -> None:
    """Started as we start plugins, the Go plugin exits with go-plugin's notice; with the magic
    cookie in the environment, it answers go-plugin's handshake line. Refused either way."""
    go_plugin_repo(go, work, tmp_path / "objects")
    before = cfiles(work)
    env = {"CAVORITE_ALLOW_PLUGIN": str(go.plugin), **cookie}
    refused = cavorite("retrieve", cwd=work, env=env)
    assert refused.code != 0
    assert GO_PLUGIN_NOTICE in refused.stderr, refused.stderr
    assert 'store_type to "localstore"' in refused.stderr
    assert "Traceback" not in refused.stderr
    assert cfiles(work) == before
    assert not any((work / name).exists() for name in FILES)


def test_the_go_localstore_plugin_directory_is_read_by_the_local_store(
    go: GoCavorite, work: Path, tmp_path: Path, cavorite: Cavorite
) -> None:
    objects = tmp_path / "objects"
    go_plugin_repo(go, work, objects)
    assert sorted(p.relative_to(objects).as_posix() for p in objects.rglob("*.bin")) == sorted(
        FILES
    )
    path = work / ".cavorite" / "config"
    config = json.loads(path.read_text())
    config["store_type"] = "localstore"
    path.write_text(json.dumps(config))

    assert outcomes(cavorite("retrieve", "--json", cwd=work)) == {"retrieved": ALL}
    assert_files(work)
    verified = cavorite("verify", "--remote", "--json", cwd=work)
    assert outcomes(verified) == {"up-to-date": ALL, "stored": ALL}


def test_go_cannot_use_an_object_key_prefix(go: GoCavorite, bucket: Bucket, work: Path) -> None:
    """What the README lists as not working: the Go tool's upload fails with a prefix."""
    env = bucket.env()
    ok(
        go(
            "init",
            ".",
            "--store_type",
            "s3",
            "--backend_address",
            bucket.address,
            "--object_key_prefix",
            "team",
            cwd=work,
            env=env,
        )
    )
    assert go("upload", "a.bin", cwd=work, env=env).code != 0
    assert bucket.versions() == {}
