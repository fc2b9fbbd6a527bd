"""Temporary names and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cavorite_py.fsutil import TMP_MARK, atomic_write_bytes, is_temp_name, temp_path_for


def test_temp_path_is_hidden_marked_unique_and_beside_the_file(tmp_path: Path) -> None:
    target = tmp_path / "d" / "big.dmg"
    first, second = temp_path_for(target), temp_path_for(target)
    assert first.parent == target.parent
    assert first.name.startswith(".big.dmg")
    assert is_temp_name(first.name)
    assert first != second


@pytest.mark.parametrize("name", ["a" * 250, "文" * 85, "é" * 127, "\udcff" * 200])
def test_temp_names_of_long_names_fit_the_file_system(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    tmp = temp_path_for(target)
    assert len(os.fsencode(tmp.name)) <= 255
    tmp.write_bytes(b"ok")  # the file system accepts it
    assert is_temp_name(tmp.name)


def test_is_temp_name() -> None:
    assert is_temp_name(f".x{TMP_MARK}0123")
    assert not is_temp_name("x.bin")


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "f"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f"]


def test_a_failed_atomic_write_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("cavorite_py.fsutil.os.replace", fail)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(path, b"new")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]
