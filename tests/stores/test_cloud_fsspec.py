"""The fsspec store on its memory and local filesystems."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cavorite_py.errors import ConfigError, ObjectExists, StoreError
from cavorite_py.stores.base import ObjectInfo, Store, StoreSettings
from cavorite_py.stores.fsspec import FsspecStore


def make(tmp_path: Path, data: bytes) -> tuple[Path, ObjectInfo]:
    path = tmp_path / f"f-{hashlib.sha256(data).hexdigest()[:12]}-{threading.get_ident()}"
    path.write_bytes(data)
    return path, ObjectInfo(len(data), hashlib.sha256(data).hexdigest())


@pytest.fixture(params=["fsspec", "fsspec_file"])
def any_fsspec(request: pytest.FixtureRequest) -> Store:
    store: Store = request.getfixturevalue(f"{request.param}_store")
    return store


def test_racing_writers_of_one_key_cannot_both_win(any_fsspec: Store, tmp_path: Path) -> None:
    files = [make(tmp_path, f"writer {i}".encode()) for i in range(8)]

    def put(i: int) -> bool:
        try:
            any_fsspec.put("race.bin", *files[i])
        except ObjectExists:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        won = [i for i, ok in enumerate(pool.map(put, range(8))) if ok]
    assert len(won) == 1
    assert any_fsspec.stat("race.bin") == ObjectInfo(files[won[0]][1].size)


def test_a_refused_put_leaves_no_temporary_file(any_fsspec: Store, tmp_path: Path) -> None:
    path, info = make(tmp_path, b"data")
    any_fsspec.put("dir/a.bin", path, info)
    with pytest.raises(ObjectExists):
        any_fsspec.put("dir/a.bin", path, info)
    assert isinstance(any_fsspec, FsspecStore)
    assert any_fsspec.fs.ls(f"{any_fsspec.root}/dir", detail=False) == [
        f"{any_fsspec.root}/dir/a.bin"
    ]


def test_sha256_is_not_recorded(any_fsspec: Store, tmp_path: Path) -> None:
    path, info = make(tmp_path, b"data")
    any_fsspec.put("a.bin", path, info)
    assert any_fsspec.stat("a.bin") == ObjectInfo(4, None)


def test_unsafe_keys_are_refused(any_fsspec: Store, tmp_path: Path) -> None:
    path, info = make(tmp_path, b"data")
    with pytest.raises(StoreError):
        any_fsspec.put("../escape.bin", path, info)


@pytest.mark.parametrize(
    ("address", "options"),
    [("", {}), ("nosuchprotocol://x", {}), ("memory://x", {"fsspec_options": "nope"})],
)
def test_malformed_settings(address: str, options: dict[str, object], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        FsspecStore(StoreSettings(address, options, tmp_path))


def test_description_drops_credentials(tmp_path: Path) -> None:
    store = FsspecStore(StoreSettings("memory://cavorite-tests/described", {}, tmp_path))
    assert store.describe() == "memory://cavorite-tests/described"
    from cavorite_py.stores.fsspec import _safe

    assert _safe("sftp://user:s3cr3t@host/dir") == "sftp://host/dir"
