"""The local store's own rules: keys checked by the cfile rule, temporary files never listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from cavorite_localstore import LocalStore

from cavorite_py.errors import StoreError
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
