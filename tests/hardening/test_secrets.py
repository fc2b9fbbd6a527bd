"""Credentials never appear in any output, log or error message, at any verbosity.

Recognisable fake secrets sit in the environment of every run: AWS keys and a session token,
an Azure connection string with an account key, a SAS token, an account key, and a Google
service account key with a real (freshly generated) private key. Commands that succeed and
commands that fail (unreachable endpoint, missing bucket, refused credentials, malformed
credentials, a backend_address carrying a secret) run with no flag, ``-v`` and ``-vv``; their
stdout and stderr, and every file they leave in the repository and the home directory, are
searched for each secret and for its characteristic fragments.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures.emulators import (
    AzureEmulator,
    GCSEmulator,
    S3Emulator,
    cli_cloud_env,
    free_port,
    running_moto,
)
from tests.fixtures.repos import Cavorite, CliResult

from .support import assert_no_crash

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(300)]

VERBOSITY = [[], ["-v"], ["-vv"]]

AWS_KEY_ID = "AKIAHARDENINGFAKE0042"
AWS_SECRET = "hArDeNiNg/FaKe+SeCrEt0123456789abcdefGHIJ"
AWS_TOKEN = "FwoGZXIvYXdzEHardeningFakeSessionToken0123456789xyz"
AZURE_FAKE_KEY = base64.b64encode(
    b"hardening fake azure account key, 64 bytes long!!!!!!!!!!!"
).decode()
SAS_SIG = "HardeningFakeSasSignature0123456789abcdefXYZ%3D"
SAS_TOKEN = f"sv=2024-11-04&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00:00:00Z&sig={SAS_SIG}"
GCS_KEY_ID = "0123456789abcdefhardeningfakekeyid0123456"


def _private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode()


PRIVATE_KEY = _private_key()


def gcs_document(token_uri: str) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "hardening-test",
            "private_key_id": GCS_KEY_ID,
            "private_key": PRIVATE_KEY,
            "client_email": "hardening@hardening-test.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": token_uri,
        }
    )


def secrets_env(azure: AzureEmulator | None = None, token_uri: str = "") -> dict[str, str]:
    """Every fake secret, as the environment variables the stores read."""
    blob = azure.endpoint if azure else "http://127.0.0.1:9/devstoreaccount1"
    return {
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SESSION_TOKEN": AWS_TOKEN,
        "AZURE_STORAGE_CONNECTION_STRING": (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURE_FAKE_KEY};BlobEndpoint={blob};"
        ),
        "AZURE_STORAGE_SAS_TOKEN": SAS_TOKEN,
        "AZURE_STORAGE_KEY": AZURE_FAKE_KEY,
        "CAVORITE_GCS_CREDENTIALS": gcs_document(token_uri or f"http://127.0.0.1:{free_port()}/t"),
    }


def needles(*extra: str) -> list[str]:
    """What must never be printed: each secret, and fragments that identify one."""
    key_lines = [ln for ln in PRIVATE_KEY.splitlines() if ln and "PRIVATE KEY" not in ln]
    found = [
        AWS_SECRET,
        AWS_TOKEN,
        AWS_KEY_ID,
        AWS_SECRET[:20],
        AZURE_FAKE_KEY,
        AZURE_FAKE_KEY[:24],
        SAS_SIG,
        SAS_SIG[:24],
        urllib.parse.unquote(SAS_SIG),
        GCS_KEY_ID,
        *key_lines[1:4],
        *extra,
    ]
    return [n for n in found if n]


def assert_no_secret(texts: dict[str, str], *extra: str) -> None:
    for where, text in texts.items():
        for needle in needles(*extra):
            assert needle not in text, f"a secret ({needle[:12]}...) appears in {where}"


def files_text(*tops: Path) -> dict[str, str]:
    """Every file under ``tops`` (the repository, the home directory), as text."""
    found = {}
    for top in tops:
        for path in top.rglob("*"):
            if path.is_file() and ".git/" not in path.as_posix():
                found[str(path)] = path.read_bytes().decode("utf-8", "replace")
    return found


def config(repo: Path, store_type: str, address: str, **options: object) -> None:
    data = {
        "store_type": store_type,
        "options": {"backend_address": address, "metadata_file_extension": "cfile", **options},
    }
    (repo / ".cavorite").mkdir(exist_ok=True)
    (repo / ".cavorite" / "config").write_text(json.dumps(data))


def fresh(top: Path, case: str) -> Path:
    """A new working directory with two files to upload."""
    root = top / case
    root.mkdir()
    (root / "a.bin").write_bytes(os.urandom(3000))
    (root / "b.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    return root


def run_all(
    cavorite: Cavorite, root: Path, env: dict[str, str], verbosity: list[str]
) -> dict[str, CliResult]:
    """upload, status, verify --remote, retrieve (of removed files) and stores."""
    results = {"upload": cavorite(*verbosity, "upload", "a.bin", "b.bin", cwd=root, env=env)}
    for name in ("a.bin", "b.bin"):
        cfile = root / f"{name}.cfile"
        if not cfile.exists():  # the upload failed: a cfile anyway, so that the store is asked
            data = (root / name).read_bytes()
            meta = {"name": name, "checksum": hashlib.sha256(data).hexdigest(), "size": len(data)}
            cfile.write_text(json.dumps(meta))
        (root / name).unlink()
    for args in (["status"], ["verify", "--remote"], ["retrieve"], ["stores"]):
        results[" ".join(args)] = cavorite(*verbosity, *args, cwd=root, env=env, timeout=120)
    return results


def check(
    results: dict[str, CliResult], root: Path, home: Path, *extra: str, own_config: bool = False
) -> None:
    """No crash, and no secret in any output nor in any file of ``root`` and ``home`` (except
    ``.cavorite/config`` when ``own_config``: the test wrote a secret there itself)."""
    texts = {}
    for command, result in results.items():
        assert_no_crash(result)
        texts[f"stdout of {command}"] = result.stdout
        texts[f"stderr of {command}"] = result.stderr
    texts.update(files_text(root, home))
    if own_config:
        texts.pop(str(root / ".cavorite" / "config"))
    assert_no_secret(texts, *extra)


# --------------------------------------------------------------------- S3


@pytest.fixture(scope="module")
def locked_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Emulator]:
    """A moto_server that checks credentials (after the bucket is made)."""
    with running_moto(
        tmp_path_factory.mktemp("moto-locked"), {"INITIAL_NO_AUTH_ACTION_COUNT": "1"}
    ) as emulator:
        emulator.client().create_bucket(Bucket="locked")
        yield emulator


@pytest.mark.parametrize("verbosity", VERBOSITY, ids=["quiet", "v", "vv"])
def test_s3_success_and_failures(
    tmp_path: Path,
    cavorite: Cavorite,
    s3_emulator: S3Emulator,
    locked_moto: S3Emulator,
    closed_endpoint: str,
    verbosity: list[str],
) -> None:
    home = Path(cavorite.env["HOME"])
    env = {**cli_cloud_env(s3_emulator), **secrets_env()}
    bucket = s3_emulator.new_bucket()
    cases = {
        "works": f"{s3_emulator.endpoint}/{bucket}/team",
        "missing-bucket": f"{s3_emulator.endpoint}/no-such-bucket-hardening",
        "unreachable": f"{closed_endpoint}/bucket",
        "refused-credentials": f"{locked_moto.endpoint}/locked",
    }
    for case, address in cases.items():
        work = fresh(tmp_path, case)
        config(
            work,
            "s3",
            address,
            connect_timeout=2,
            read_timeout=5,
            max_attempts=2,
            key_scheme="versioned",
        )
        results = run_all(cavorite, work, env, verbosity)
        if case == "works":
            assert results["upload"].code == 0, results["upload"].stderr
            assert results["retrieve"].code == 0, results["retrieve"].stderr
        else:
            assert results["upload"].code == 1, (case, results["upload"].stderr)
        check(results, work, home)


# --------------------------------------------------------------------- Azure


@pytest.mark.parametrize("verbosity", VERBOSITY, ids=["quiet", "v", "vv"])
def test_azure_success_and_failures(
    tmp_path: Path, cavorite: Cavorite, azure_emulator: AzureEmulator, verbosity: list[str]
) -> None:
    home = Path(cavorite.env["HOME"])
    container = azure_emulator.new_container()
    real_key = azure_emulator.key  # Azurite's published key: still a credential in use
    address = f"{azure_emulator.endpoint}/{container}"
    wrong_key = secrets_env(azure_emulator)
    cases = {
        # the real connection string; the fake SAS token and key are present but unused
        "works": {**wrong_key, **azure_emulator.env()},
        # a wrong account key in the connection string: refused by the service
        "wrong-key": wrong_key,
        # a (fake) SAS token: refused by the service
        "sas": {**wrong_key, "AZURE_STORAGE_CONNECTION_STRING": ""},
        # an account key alone
        "account-key": {
            **wrong_key,
            "AZURE_STORAGE_CONNECTION_STRING": "",
            "AZURE_STORAGE_SAS_TOKEN": "",
        },
        # a malformed connection string that still carries the key
        "malformed": {
            **wrong_key,
            "AZURE_STORAGE_CONNECTION_STRING": f"AccountKey={AZURE_FAKE_KEY};garbage",
        },
    }
    for case, env in cases.items():
        work = fresh(tmp_path, case)
        config(work, "azure", address, connect_timeout=2, read_timeout=5, max_attempts=2)
        results = run_all(cavorite, work, env, verbosity)
        if case == "works":
            assert results["upload"].code == 0, results["upload"].stderr
            assert results["retrieve"].code == 0, results["retrieve"].stderr
        else:
            assert results["upload"].code in (1, 2), (case, results["upload"].stderr)
        check(results, work, home, real_key, real_key[:24])


# --------------------------------------------------------------------- GCS


@pytest.mark.parametrize("verbosity", VERBOSITY, ids=["quiet", "v", "vv"])
def test_gcs_success_and_failures(
    tmp_path: Path,
    cavorite: Cavorite,
    gcs_emulator: GCSEmulator,
    closed_endpoint: str,
    verbosity: list[str],
) -> None:
    home = Path(cavorite.env["HOME"])
    bucket = gcs_emulator.new_bucket()
    with_key = secrets_env(token_uri=f"{closed_endpoint}/token")
    cases = {
        # the emulator (anonymous); the service account key is present but unused
        "works": ({**with_key, **gcs_emulator.env()}, f"gs://{bucket}"),
        # the key is used: its token endpoint cannot be reached
        "token-unreachable": (with_key, "gs://hardening-bucket"),
        # a key document that is not usable, still holding the private key
        "malformed": (
            {**with_key, "CAVORITE_GCS_CREDENTIALS": PRIVATE_KEY + '{"type": "service_account"'},
            "gs://hardening-bucket",
        ),
        "wrong-type": (
            {
                **with_key,
                "CAVORITE_GCS_CREDENTIALS": json.dumps(
                    {"type": "service_account", "private_key": PRIVATE_KEY + "broken"}
                ),
            },
            "gs://hardening-bucket",
        ),
    }
    for case, (env, address) in cases.items():
        work = fresh(tmp_path, case)
        config(work, "gcs", address, connect_timeout=2, read_timeout=5, retry_timeout=0.5)
        results = run_all(cavorite, work, env, verbosity)
        if case == "works":
            assert results["upload"].code == 0, results["upload"].stderr
            assert results["retrieve"].code == 0, results["retrieve"].stderr
        else:
            assert results["upload"].code in (1, 2), (case, results["upload"].stderr)
        check(results, work, home)


# --------------------------------------------------------------------- secrets in the config


@pytest.mark.parametrize(
    ("store_type", "address"),
    [
        ("s3", "http://127.0.0.1:9/bucket?X-Amz-Signature=" + SAS_SIG),
        ("s3", f"http://{AWS_KEY_ID}:{urllib.parse.quote(AWS_SECRET, safe='')}@127.0.0.1:9/b"),
        ("azure", f"https://account.blob.core.windows.net/container?{SAS_TOKEN}"),
        ("azure", f"az://container#{SAS_TOKEN}"),
        ("gcs", f"gs://bucket?access_token={AWS_TOKEN}"),
    ],
    ids=["s3-query", "s3-userinfo", "azure-sas", "azure-fragment", "gcs-token"],
)
@pytest.mark.parametrize("verbosity", [["-vv"]], ids=["vv"])
def test_an_address_carrying_a_secret_is_refused_without_echo(
    tmp_path: Path, cavorite: Cavorite, store_type: str, address: str, verbosity: list[str]
) -> None:
    home = Path(cavorite.env["HOME"])
    work = fresh(tmp_path, "work")
    results = {}
    results["init"] = cavorite(
        *verbosity, "init", "--store-type", store_type, "--backend-address", address, cwd=work
    )
    assert results["init"].code == 2, results["init"].stdout + results["init"].stderr
    assert not (work / ".cavorite" / "config").exists()
    config(work, store_type, address)
    results.update(run_all(cavorite, work, {}, verbosity))
    assert results["upload"].code == 2, results["upload"].stderr
    check(results, work, home, own_config=True)
