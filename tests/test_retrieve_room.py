"""The free-space check of a retrieve: asked once per directory, refusing only on a fresh
answer from the file system."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from cavorite_py.errors import DiskFull
from cavorite_py.run import RoomCheck

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every free-space answer the file system gave (always 10,000 bytes), one per call."""
    calls: list[int] = []

    def disk_usage(path: object) -> Usage:
        calls.append(10_000)
        return Usage(0, 0, 10_000)

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    return calls


def test_asked_once_per_directory_while_the_estimate_lasts(
    tmp_path: Path, asked: list[int]
) -> None:
    room = RoomCheck()
    for _ in range(9):
        room.check(tmp_path / "a", 1_000)
    room.check(tmp_path / "b", 1_000)
    # a: 10,000 free, 9 x 1,000 taken from the estimate; b: asked once
    assert len(asked) == 2


def test_asked_again_when_the_estimate_runs_short_and_refused_only_then(
    tmp_path: Path, asked: list[int]
) -> None:
    room = RoomCheck()
    room.check(tmp_path, 6_000)
    # the estimate says 4,000: the file system is asked again, and says 10,000 (the first
    # download failed, say): let through
    room.check(tmp_path, 6_000)
    assert len(asked) == 2
    with pytest.raises(DiskFull, match=r"^not enough space: \S+ KiB to download, \S+ KiB free"):
        room.check(tmp_path, 11_000)


def test_nothing_to_download_asks_nothing(tmp_path: Path, asked: list[int]) -> None:
    RoomCheck().check(tmp_path, 0)
    RoomCheck().check(tmp_path, None)
    assert asked == []
