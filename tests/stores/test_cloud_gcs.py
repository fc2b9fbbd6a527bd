"""The GCS store against gcp-storage-emulator: what it records, and the errors users really hit.

The emulator has no authentication and ignores ``ifGenerationMatch``; the translation of the
service's 401/403/412 answers is checked on the SDK's own exception types instead.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud.storage.blob import Blob

from cavorite_py.errors import (
    AccessDenied,
    ConfigError,
    ObjectExists,
    StoreDown,
    StoreUnavailable,
)
from cavorite_py.stores import gcs
from cavorite_py.stores.base import Store, StoreSettings
from cavorite_py.stores.gcs import GCSStore
from tests.fixtures.cloud import GCS_TEST_OPTIONS
from tests.fixtures.emulators import GCSEmulator, isolated_env
from tests.stores.support import make

MIB = 1 << 20


def open_gcs(address: str, tmp_path: Path, **options: Any) -> GCSStore:
    return GCSStore(StoreSettings(address, {**GCS_TEST_OPTIONS, **options}, tmp_path))


def one_line(exc: pytest.ExceptionInfo[BaseException], cause: bool = True) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert not cause or exc.value.__cause__ is not None
    return message


def test_sha256_is_object_metadata(
    gcs_store: Store, gcs_emulator: GCSEmulator, tmp_path: Path
) -> None:
    path, info = make(tmp_path, b"checked content")
    gcs_store.put("small.bin", path, info)
    assert isinstance(gcs_store, GCSStore)
    bucket = gcs_emulator.client().bucket(gcs_store.address.bucket)
    blob = bucket.get_blob(gcs_store.address.key("small.bin"))
    assert blob.metadata == {"sha256": info.sha256}
    assert gcs_store.stat("small.bin") == info


def test_files_above_the_threshold_use_resumable_uploads(
    gcs_store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[object] = []
    original = Blob._do_resumable_upload

    def spy(self: Blob, *args: Any, **kwargs: Any) -> Any:
        calls.append(self.chunk_size)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Blob, "_do_resumable_upload", spy)
    small, small_info = make(tmp_path, os.urandom(MIB // 2))
    gcs_store.put("small.bin", small, small_info)
    assert calls == []
    data = os.urandom(3 * MIB + 5)
    large, large_info = make(tmp_path, data)
    progress: list[int] = []
    gcs_store.put("large.bin", large, large_info, progress=progress.append)
    assert calls == [GCS_TEST_OPTIONS["chunk_size"]]
    assert sum(progress) == len(data)
    sink = io.BytesIO()
    gcs_store.get("large.bin", sink)
    assert sink.getvalue() == data


def test_service_answers_are_translated(gcs_store: Store) -> None:
    assert isinstance(gcs_store, GCSStore)
    exists = gcs_store._translate(gexc.PreconditionFailed("gen mismatch"), "k.bin")
    assert isinstance(exists, ObjectExists)
    for answer in (gexc.Forbidden("no"), gexc.Unauthorized("no")):
        denied = gcs_store._translate(answer, "k.bin")
        assert isinstance(denied, AccessDenied)
        assert "IAM" in str(denied)


def test_missing_bucket(
    gcs_emulator: GCSEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch, gcs_emulator)
    store = open_gcs("gs://no-such-bucket/p", tmp_path)
    path, info = make(tmp_path, b"x")
    for call in (
        lambda: store.put("a.bin", path, info, overwrite=True),
        lambda: store.stat("a.bin"),
        lambda: list(store.list("")),
        lambda: store.get("a.bin", io.BytesIO()),
        lambda: store.delete("a.bin"),
    ):
        with pytest.raises(StoreDown) as exc:
            call()
        assert "bucket 'no-such-bucket' does not exist" in one_line(exc, cause=False)


def test_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolated_env(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))
    store = open_gcs("gs://some-bucket", tmp_path)
    with pytest.raises(AccessDenied) as exc:
        store.stat("a.bin")
    message = one_line(exc)
    assert "no credentials" in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message


@pytest.mark.parametrize("document", ["not json s3cr3t", '["s3cr3t"]', '{"type": "s3cr3t"}'])
def test_malformed_credentials_json_is_not_echoed(
    document: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch)
    monkeypatch.setenv("CAVORITE_GCS_CREDENTIALS", document)
    with pytest.raises(ConfigError) as exc:
        open_gcs("gs://some-bucket", tmp_path).stat("a.bin")
    assert "CAVORITE_GCS_CREDENTIALS" in str(exc.value)
    assert "s3cr3t" not in str(exc.value)


def test_credentials_json_as_the_go_tool_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    document = {
        "type": "service_account",
        "project_id": "proj-1",
        "private_key_id": "1",
        "private_key": pem,
        "client_email": "uploader@proj-1.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    isolated_env(monkeypatch)
    monkeypatch.setenv("CAVORITE_GCS_CREDENTIALS", json.dumps(document))
    credentials, project = gcs._credentials()
    assert project == "proj-1"
    assert getattr(credentials, "service_account_email", None) == document["client_email"]


def test_emulator_host_means_anonymous(
    gcs_emulator: GCSEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_env(monkeypatch, gcs_emulator)
    monkeypatch.setenv("CAVORITE_GCS_CREDENTIALS", "{}")
    credentials, _ = gcs._credentials()
    assert type(credentials).__name__ == "AnonymousCredentials"


def test_unreachable_endpoint_fails_fast(
    closed_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", closed_endpoint)
    store = open_gcs("gs://some-bucket", tmp_path, retry_timeout=2)
    path, info = make(tmp_path, b"x")
    started = time.monotonic()
    with pytest.raises(StoreDown) as exc:  # no connection: every request would fail
        store.put("a.bin", path, info, overwrite=True)
    assert time.monotonic() - started < 10
    assert "cannot reach gs://some-bucket" in one_line(exc)


def test_silent_endpoint_times_out(
    silent_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", silent_endpoint)
    store = open_gcs("gs://some-bucket", tmp_path, read_timeout=1, retry_timeout=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as exc:
        store.stat("a.bin")
    assert time.monotonic() - started < 10
    assert not isinstance(exc.value, StoreDown)  # connected: a failure of this request
    assert "cannot reach" in one_line(exc)


@pytest.mark.parametrize(
    ("address", "options"),
    [
        ("gs://Bad", {}),
        ("gs://bucket", {"chunk_size": 1000 * 1024}),
        ("gs://bucket", {"retry_timeout": -1}),
    ],
)
def test_malformed_settings(address: str, options: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        GCSStore(StoreSettings(address, options, tmp_path))
