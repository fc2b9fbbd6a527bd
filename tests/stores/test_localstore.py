"""The local store's own rules: keys checked by the cfile rule, temporary files never listed."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from cavorite_localstore import LocalStore

from cavorite_py.errors import ObjectNotFound, StoreError
from cavorite_py.fsutil import TMP_MARK, temp_path_for
from cavorite_py.stores.base import ObjectInfo, Store, StoreSettings


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "a\\b", "C:/x", "a\x00b", "a\tb"])
def test_unsafe_keys_are_refused_by_the_cfile_rule(
    localstore_store: Store, tmp_path: Path, key: str
) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"x")
    for call in (
        lambda: localstore_store.put(key, source, ObjectInfo(1, None)),
        lambda: localstore_store.stat(key),
        lambda: localstore_store.delete(key),
    ):
        with pytest.raises(StoreError, match="refusing unsafe object key"):
            call()
    objects = tmp_path / "objects"
    assert not objects.exists() or not any(objects.rglob("*"))


def test_temporary_files_are_not_objects(localstore_store: Store, tmp_path: Path) -> None:
    assert isinstance(localstore_store, LocalStore)
    directory = localstore_store.directory
    (directory / "team").mkdir(parents=True)
    (directory / "team" / f"{TMP_MARK}0123").write_bytes(b"partial")
    temp_path_for(directory / "team" / "a.bin").write_bytes(b"partial")
    (directory / "team" / "a.bin").write_bytes(b"real")
    assert list(localstore_store.list()) == ["team/a.bin"]


def test_description_is_the_directory(tmp_path: Path) -> None:
    store = LocalStore(StoreSettings((tmp_path / "o#1").as_uri(), root=tmp_path))
    assert store.describe() == str(tmp_path / "o#1")


@pytest.mark.parametrize(
    ("kind", "what"),
    [("fifo", "a FIFO"), ("dev-zero", "a symbolic link"), ("outside", "a symbolic link")],
)
def test_only_regular_files_are_read(
    localstore_store: Store, tmp_path: Path, kind: str, what: str
) -> None:
    """get and stat open an object without following a link and without waiting, and read it
    only if it is a regular file: a FIFO does not block, /dev/zero is not read forever, a link
    does not lead outside the store."""
    assert isinstance(localstore_store, LocalStore)
    directory = localstore_store.directory
    directory.mkdir(parents=True, exist_ok=True)
    odd = directory / "odd.bin"
    if kind == "fifo":
        os.mkfifo(odd)
    elif kind == "dev-zero":
        odd.symlink_to("/dev/zero")
    else:
        secret = tmp_path / "secret"
        secret.write_bytes(b"outside the store")
        odd.symlink_to(secret)
    message = rf"^object 'odd\.bin' in {re.escape(str(directory))} is {what}; "
    with pytest.raises(StoreError, match=message):
        localstore_store.get("odd.bin", io.BytesIO())
    with pytest.raises(StoreError, match=message):
        localstore_store.stat("odd.bin")


def test_a_directory_is_no_object(localstore_store: Store) -> None:
    assert isinstance(localstore_store, LocalStore)
    (localstore_store.directory / "dir.bin").mkdir(parents=True)
    assert localstore_store.stat("dir.bin") is None
    with pytest.raises(ObjectNotFound):
        localstore_store.get("dir.bin", io.BytesIO())
