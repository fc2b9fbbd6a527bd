"""The Azure store against Azurite: credentials of every kind, what it records, and the errors
users really hit. (Entra ID sign-in needs https, which the emulator does not serve here.)"""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from cavorite_py.errors import (
    AccessDenied,
    ConfigError,
    ObjectExists,
    StoreDown,
    StoreUnavailable,
)
from cavorite_py.stores.azure import AzureStore
from cavorite_py.stores.base import Store, StoreSettings
from tests.fixtures.cloud import AZURE_TEST_OPTIONS
from tests.fixtures.emulators import AzureEmulator, isolated_env
from tests.stores.support import make, race_for_one_key

MIB = 1 << 20


def open_azure(address: str, tmp_path: Path, **options: Any) -> AzureStore:
    return AzureStore(StoreSettings(address, {**AZURE_TEST_OPTIONS, **options}, tmp_path))


def one_line(exc: pytest.ExceptionInfo[BaseException], *secrets: str) -> str:
    message = str(exc.value)
    assert "\n" not in message
    for secret in secrets:
        assert secret not in message
    return message


def blob_client(store: Store, emulator: AzureEmulator, key: str) -> Any:
    assert isinstance(store, AzureStore)
    return emulator.client().get_blob_client(store.address.bucket, store.address.key(key))


def test_sha256_is_blob_metadata(
    azure_store: Store, azure_emulator: AzureEmulator, tmp_path: Path
) -> None:
    path, info = make(tmp_path, b"checked content")
    azure_store.put("small.bin", path, info)
    props = blob_client(azure_store, azure_emulator, "small.bin").get_blob_properties()
    assert props.metadata == {"sha256": info.sha256}
    assert azure_store.stat("small.bin") == info


def test_large_uploads_go_in_blocks_and_stay_conditional(
    azure_store: Store, azure_emulator: AzureEmulator, tmp_path: Path
) -> None:
    data = os.urandom(3 * MIB + 7)
    first, first_info = make(tmp_path, data)
    second, second_info = make(tmp_path, os.urandom(3 * MIB))
    progress: list[int] = []
    azure_store.put("big.bin", first, first_info, progress=progress.append)
    assert sum(progress) == len(data)
    committed, _ = blob_client(azure_store, azure_emulator, "big.bin").get_block_list()
    assert len(committed) == 4
    with pytest.raises(ObjectExists):
        azure_store.put("big.bin", second, second_info)
    assert azure_store.stat("big.bin") == first_info
    azure_store.put("big.bin", second, second_info, overwrite=True)
    assert azure_store.stat("big.bin") == second_info


def test_racing_writers_of_one_key_cannot_both_win(azure_store: Store, tmp_path: Path) -> None:
    won, files = race_for_one_key(azure_store, tmp_path)
    assert len(won) == 1
    assert azure_store.stat("race.bin") == files[won[0]][1]


def test_missing_container(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch, azure_emulator)
    store = open_azure("az://no-such-container/p", tmp_path)
    path, info = make(tmp_path, b"x")
    for call in (
        lambda: store.put("a.bin", path, info),
        lambda: store.stat("a.bin"),
        lambda: list(store.list("")),
        lambda: store.get("a.bin", io.BytesIO()),
        lambda: store.delete("a.bin"),
    ):
        with pytest.raises(StoreDown) as exc:
            call()
        assert "container 'no-such-container' does not exist" in one_line(exc)


def test_account_key_with_the_emulators_address(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch)
    monkeypatch.setenv("AZURE_STORAGE_KEY", azure_emulator.key)
    store = open_azure(f"{azure_emulator.endpoint}/{azure_emulator.new_container()}", tmp_path)
    path, info = make(tmp_path, b"keyed")
    store.put("k.bin", path, info)
    assert store.stat("k.bin") == info
    assert store.describe().startswith(azure_emulator.endpoint)


def test_wrong_account_key_is_access_denied(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wrong = "A" * 86 + "=="
    isolated_env(monkeypatch)
    monkeypatch.setenv("AZURE_STORAGE_KEY", wrong)
    store = open_azure(f"{azure_emulator.endpoint}/{azure_emulator.new_container()}", tmp_path)
    with pytest.raises(AccessDenied) as exc:
        store.stat("a.bin")
    assert "refused" in one_line(exc, wrong)


def test_sas_token_permissions_are_respected(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    container = azure_emulator.new_container()
    expiry = datetime.now(UTC) + timedelta(hours=1)

    def sas(**permissions: bool) -> str:
        return generate_container_sas(
            azure_emulator.account,
            container,
            account_key=azure_emulator.key,
            permission=ContainerSasPermissions(**permissions),
            expiry=expiry,
        )

    address = f"{azure_emulator.endpoint}/{container}"
    path, info = make(tmp_path, b"shared")
    isolated_env(monkeypatch)
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "?" + sas(read=True, write=True, list=True))
    open_azure(address, tmp_path).put("s.bin", path, info)

    read_only = sas(read=True, list=True)
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", read_only)
    store = open_azure(address, tmp_path)
    assert store.stat("s.bin") == info
    assert list(store.list("")) == ["s.bin"]
    with pytest.raises(AccessDenied) as exc:
        store.put("t.bin", path, info)
    assert "refused" in one_line(exc, read_only, "sig=")


def test_no_credentials(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch)
    store = open_azure(f"{azure_emulator.endpoint}/somecontainer", tmp_path)
    with pytest.raises(AccessDenied) as exc:
        store.stat("a.bin")
    message = one_line(exc)
    assert "no credentials" in message
    assert "AZURE_STORAGE_CONNECTION_STRING" in message


def test_az_address_needs_an_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolated_env(monkeypatch)
    with pytest.raises(ConfigError, match="AZURE_STORAGE_ACCOUNT"):
        open_azure("az://container", tmp_path).stat("a.bin")


def test_connection_string_for_another_account(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch, azure_emulator)
    store = open_azure("https://otheraccount.blob.core.windows.net/container", tmp_path)
    with pytest.raises(ConfigError) as exc:
        store.stat("a.bin")
    assert "otheraccount" in one_line(exc, azure_emulator.key)


def test_malformed_connection_string_is_not_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolated_env(monkeypatch)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountKey=s3cr3t;garbage")
    with pytest.raises(ConfigError) as exc:
        open_azure("az://container", tmp_path).stat("a.bin")
    assert "AZURE_STORAGE_CONNECTION_STRING" in one_line(exc, "s3cr3t")


def test_unreachable_endpoint_fails_fast(
    closed_endpoint: str,
    azure_emulator: AzureEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    isolated_env(monkeypatch)
    unreachable = AzureEmulator(f"{closed_endpoint}/{azure_emulator.account}")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", unreachable.connection_string)
    store = open_azure("az://container", tmp_path)  # default timeouts and retries
    started = time.monotonic()
    with pytest.raises(StoreDown) as exc:  # no connection: every request would fail
        store.stat("a.bin")
    assert time.monotonic() - started < 20
    assert "cannot reach az://container" in one_line(exc, azure_emulator.key)


def test_silent_endpoint_times_out(
    silent_endpoint: str,
    azure_emulator: AzureEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    isolated_env(monkeypatch)
    monkeypatch.setenv("AZURE_STORAGE_KEY", azure_emulator.key)
    store = open_azure(
        f"{silent_endpoint}/{azure_emulator.account}/container",
        tmp_path,
        read_timeout=1,
        max_attempts=1,
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as exc:
        store.stat("a.bin")
    assert time.monotonic() - started < 10
    assert not isinstance(exc.value, StoreDown)  # connected: a failure of this request
    assert "cannot reach" in one_line(exc, azure_emulator.key)


@pytest.mark.parametrize(
    ("address", "options"),
    [("az://UPPER", {}), ("az://container", {"max_concurrency": 0})],
)
def test_malformed_settings(address: str, options: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        AzureStore(StoreSettings(address, options, tmp_path))
