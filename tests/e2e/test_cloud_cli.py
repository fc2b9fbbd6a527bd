"""The installed ``cavorite`` against every cloud store's emulator, in a real git repository:
init, upload, delete the artifact, retrieve it byte for byte; then corrupt the stored object
through the backend's own SDK and check that retrieve fails and leaves no file behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.cloud import AZURE_TEST_OPTIONS, GCS_TEST_OPTIONS, S3_TEST_OPTIONS
from tests.fixtures.emulators import AzureEmulator, GCSEmulator, S3Emulator, cli_cloud_env
from tests.fixtures.repos import Cavorite

MIB = 1 << 20


def set_options(repo: Path, options: dict[str, object]) -> None:
    """Add options to ``.cavorite/config``, as a user would by editing it."""
    path = repo / ".cavorite" / "config"
    config = json.loads(path.read_text())
    config["options"].update(options)
    path.write_text(json.dumps(config, indent=2) + "\n")


@dataclass
class Backend:
    store_type: str
    address: str
    env: dict[str, str]
    options: dict[str, object]
    corrupt: Callable[[str], None]
    """Replaces the stored object of this full object name with other bytes, through the SDK."""
    folder: str = "store/"
    """what the full object name has in front of the cfile's name (the address's path: a key
    prefix in the versioned scheme that init writes)"""


def s3_backend(emulator: S3Emulator) -> Backend:
    bucket = emulator.new_bucket()

    def corrupt(name: str) -> None:
        emulator.client().put_object(Bucket=bucket, Key=name, Body=b"corrupted")

    return Backend(
        "s3",
        f"{emulator.endpoint}/{bucket}/store",
        cli_cloud_env(emulator),
        S3_TEST_OPTIONS,
        corrupt,
    )


def gcs_backend(emulator: GCSEmulator) -> Backend:
    bucket = emulator.new_bucket()

    def corrupt(name: str) -> None:
        emulator.client().bucket(bucket).blob(name).upload_from_string(b"corrupted")

    return Backend(
        "gcs", f"gs://{bucket}/store", cli_cloud_env(emulator), GCS_TEST_OPTIONS, corrupt
    )


def azure_backend(emulator: AzureEmulator) -> Backend:
    container = emulator.new_container()

    def corrupt(name: str) -> None:
        with emulator.client() as service:
            service.get_blob_client(container, name).upload_blob(b"corrupted", overwrite=True)

    return Backend(
        "azure", f"az://{container}/store", cli_cloud_env(emulator), AZURE_TEST_OPTIONS, corrupt
    )


def fsspec_backend(objects: Path) -> Backend:
    def corrupt(name: str) -> None:
        (objects / name).write_bytes(b"corrupted")

    return Backend("fsspec", objects.as_uri(), cli_cloud_env(), {}, corrupt, folder="")


@pytest.fixture(params=["s3", "gcs", "azure", "fsspec"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    name = request.param
    if name == "s3":
        return s3_backend(request.getfixturevalue("s3_emulator"))
    if name == "gcs":
        return gcs_backend(request.getfixturevalue("gcs_emulator"))
    if name == "azure":
        return azure_backend(request.getfixturevalue("azure_emulator"))
    return fsspec_backend(tmp_path / "fsspec-objects")


def test_upload_retrieve_and_refuse_corruption(
    backend: Backend, git_repo: Path, cavorite: Cavorite
) -> None:
    def run(*args: str) -> tuple[int, str]:
        code, out, err = cavorite(*args, cwd=git_repo, env=backend.env, timeout=300)
        return code, out + err

    code, output = run(
        "init", "--store-type", backend.store_type, "--backend-address", backend.address
    )
    assert code == 0, output
    set_options(git_repo, backend.options)
    data = os.urandom(3 * MIB + 17)  # above every lowered multipart threshold
    artifact = git_repo / "assets" / "big.bin"
    artifact.parent.mkdir()
    artifact.write_bytes(data)

    code, output = run("upload", "assets/big.bin")
    assert code == 0, output
    cfile = json.loads((git_repo / "assets" / "big.bin.cfile").read_text())
    artifact.unlink()
    code, output = run("retrieve", "assets/big.bin.cfile")
    assert code == 0, output
    assert artifact.read_bytes() == data

    backend.corrupt(f"{backend.folder}{cfile['name']}")
    artifact.unlink()
    # the content cache holds the good copy: empty it, so that the store's is read
    assert cavorite("cache", "clean", "--all", cwd=git_repo).code == 0
    code, output = run("retrieve", "assets/big.bin.cfile")
    assert code != 0, output
    assert not artifact.exists()
    assert sorted(p.name for p in artifact.parent.iterdir()) == [".gitignore", "big.bin.cfile"]


SDK_MODULES = {
    "s3": "botocore",
    "gcs": "google.cloud.storage",
    "azure": "azure.storage.blob",
    "fsspec": "fsspec",
}

NOOP_RETRIEVE = """
import sys
from cavorite_py.__main__ import main
try:
    main(["retrieve"])
except SystemExit as exc:
    print("exit", exc.code)
print("sdk imported", {sdk!r} in sys.modules)
"""


def test_a_retrieve_with_every_file_in_place_opens_no_store(
    backend: Backend, git_repo: Path, cavorite: Cavorite
) -> None:
    """CI jobs run ``cavorite retrieve`` where the files are usually there already: that run
    must not pay for importing the cloud SDK, let alone for a connection."""
    env = {**cavorite.env, **backend.env}
    assert (
        cavorite(
            "init",
            "--store-type",
            backend.store_type,
            "--backend-address",
            backend.address,
            cwd=git_repo,
            env=backend.env,
        ).code
        == 0
    )
    set_options(git_repo, backend.options)
    (git_repo / "a.bin").write_bytes(b"a" * 1000)
    old = time.time() - 60  # written a while ago, so that the hash upload takes is remembered
    os.utime(git_repo / "a.bin", (old, old))
    assert cavorite("upload", "a.bin", cwd=git_repo, env=backend.env).code == 0

    def noop_retrieve() -> list[str]:
        code = NOOP_RETRIEVE.format(sdk=SDK_MODULES[backend.store_type])
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=git_repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()[-2:]

    assert noop_retrieve() == ["exit 0", "sdk imported False"]
    (git_repo / "a.bin").unlink()  # now one file needs the store: it is opened, and works
    assert noop_retrieve() == ["exit 0", "sdk imported True"]
    assert (git_repo / "a.bin").read_bytes() == b"a" * 1000


@pytest.mark.parametrize("store_type", ["s3", "gcs", "azure"])
@pytest.mark.parametrize("files", [5, 70], ids=["stat", "listing"])
def test_a_missing_bucket_is_one_error_not_one_per_file(
    store_type: str,
    files: int,
    request: pytest.FixtureRequest,
    git_repo: Path,
    cavorite: Cavorite,
) -> None:
    """No bucket at the address: the first file to meet it says so, and the rest of the run is
    not attempted, in one line (with 70 files the listing meets it first: no file is tried)."""
    emulator = request.getfixturevalue(f"{store_type}_emulator")
    address = {
        "s3": f"{getattr(emulator, 'endpoint', '')}/no-such-bucket",
        "gcs": "gs://no-such-bucket",
        "azure": "az://no-such-bucket",
    }[store_type]
    env = cli_cloud_env(emulator)
    assert (
        cavorite(
            "init", "--store-type", store_type, "--backend-address", address, cwd=git_repo, env=env
        ).code
        == 0
    )
    set_options(
        git_repo,
        {"s3": S3_TEST_OPTIONS, "gcs": GCS_TEST_OPTIONS, "azure": AZURE_TEST_OPTIONS}[store_type],
    )
    (git_repo / "data").mkdir()
    for i in range(files):
        (git_repo / "data" / f"f{i:02}.bin").write_bytes(b"%02d" % i)
    code, out, err = cavorite("upload", "data", "--jobs", "1", cwd=git_repo, env=env)
    assert code == 1, out + err
    errors = [line for line in err.splitlines() if line.startswith("cavorite: error:")]
    missing = "'no-such-bucket' does not exist"
    if files == 5:
        assert len(errors) == 2, err
        assert errors[0].startswith("cavorite: error: data/f00.bin: ") and missing in errors[0]
        assert errors[1].startswith("cavorite: error: 4 files not attempted: ")
    else:
        assert len(errors) == 1, err
        assert errors[0].startswith(f"cavorite: error: {files} files not attempted: ")
    assert missing in errors[-1]
    assert "Traceback" not in err
    assert f"{files} files: {files} failed" in out + err
    assert list((git_repo / "data").glob("*.cfile")) == []
    if files > 5:
        return
    for i in range(files):  # cfiles as a clone would have them: verify --remote alike
        cfile = {"name": f"data/f{i:02}.bin", "checksum": "0" * 64, "date_modified": ""}
        (git_repo / "data" / f"f{i:02}.bin.cfile").write_text(json.dumps(cfile))
    code, out, err = cavorite(
        "verify", "--remote", "--no-local", "--jobs", "1", cwd=git_repo, env=env
    )
    errors = [line for line in err.splitlines() if line.startswith("cavorite: error:")]
    assert code == 1 and len(errors) == 2, out + err
    assert missing in errors[0]
    assert errors[1].startswith("cavorite: error: 4 files not attempted: ") and missing in errors[1]
