"""Objects whose store keeps no sha256 (stored by the Go tool, by hand, or by another tool).

Upload must compare such an object with the file by downloading it; it then remembers the sha256
it measured against the version the store named for the bytes it sent, so the next upload of the
unchanged file downloads nothing, while an object written again (a new version) is measured again.
A retrieve, which verifies what it downloads, remembers the same way. Run on every store of the
contract suite, over its real backend; a store without versions measures every time.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from cavorite_py import metadata
from cavorite_py.engine import Engine
from cavorite_py.results import Outcome
from cavorite_py.state import StateDB
from cavorite_py.stores.base import ObjectInfo, Progress, Store
from cavorite_py.upload import LIST_MIN_FILES
from cavorite_py.workspace import Workspace

from .test_contract import STORES

VERSIONED_GET = {"s3", "azure"}
"""stores whose get names the version on these emulators (the GCS emulator sends no generation
header, so its get says None here; real GCS sends it)"""


class Counting(Store):
    """Another store, unchanged, with its downloads counted."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner.settings)
        self.inner = inner
        self.gets = 0
        self.default_jobs = inner.default_jobs  # type: ignore[misc]

    def put(
        self,
        key: str,
        path: Path,
        info: ObjectInfo,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> ObjectInfo | None:
        return self.inner.put(key, path, info, overwrite, progress)

    def get(self, key: str, fileobj: BinaryIO) -> str | None:
        self.gets += 1
        return self.inner.get(key, fileobj)

    def stat(self, key: str) -> ObjectInfo | None:
        return self.inner.stat(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        return self.inner.list(prefix)

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo | None]]:
        return self.inner.list_info(prefix)

    def delete(self, key: str, version: str | None = None) -> None:
        self.inner.delete(key, version)

    def describe(self) -> str:
        return self.inner.describe()


@pytest.fixture(params=STORES)
def store_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def counting(request: pytest.FixtureRequest, store_name: str) -> Counting:
    return Counting(request.getfixturevalue(f"{store_name}_store"))


def _files(root: Path, count: int) -> list[Path]:
    (root / ".cavorite").mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        files.append(root / f"d/f{i:03}.bin")
        files[-1].parent.mkdir(exist_ok=True)
        files[-1].write_bytes(b"%03d" % i * 50)
    return files


def _store_unhashed(store: Store, ws: Workspace, files: list[Path]) -> None:
    """Each file stored under its key as another tool would: no sha256 with the object."""
    for f in files:
        store.put(ws.key_for(f), f, ObjectInfo(f.stat().st_size))
    assert store.stat(ws.key_for(files[0])) == ObjectInfo(files[0].stat().st_size)


def _upload(store: Counting, ws: Workspace, files: list[Path]) -> tuple[set[Outcome], int]:
    before = store.gets
    with contextlib.closing(StateDB(ws.root)) as state:
        report = Engine(ws, lambda: store, cache=state).upload(files)
    return {r.outcome for r in report.results}, store.gets - before


@pytest.mark.parametrize("count", [3, LIST_MIN_FILES], ids=["stat", "listing"])
def test_an_unhashed_object_is_downloaded_once_per_version(
    counting: Counting, store_name: str, tmp_path: Path, count: int
) -> None:
    ws = Workspace(tmp_path / "repo")
    files = _files(ws.root, count)
    _store_unhashed(counting, ws, files)

    assert _upload(counting, ws, files) == ({Outcome.ALREADY_STORED}, count)  # measured
    again = 0 if store_name in VERSIONED_GET else count
    assert _upload(counting, ws, files) == ({Outcome.ALREADY_STORED}, again)

    # another writer puts other bytes of the same size there: a new version, measured again
    # and refused, however the old version's content was remembered
    other = tmp_path / "other.bin"
    other.write_bytes(b"x" * files[1].stat().st_size)
    counting.put(ws.key_for(files[1]), other, ObjectInfo(other.stat().st_size), overwrite=True)
    with contextlib.closing(StateDB(ws.root)) as state:
        report = Engine(ws, lambda: counting, cache=state).upload(files)
    assert [r.outcome for r in report.results][:2] == [Outcome.ALREADY_STORED, Outcome.FAILED]
    assert "different content" in str(report.results[1].error)


def test_a_retrieved_object_needs_no_download_at_the_next_upload(
    counting: Counting, store_name: str, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "repo")
    files = _files(ws.root, 3)
    _store_unhashed(counting, ws, files)
    for f in files:  # cfiles as the Go tool writes them (no size), and no artifacts: a clone
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        meta = metadata.Metadata(ws.key_for(f), sha, "2022-10-05T10:56:17.051936728-07:00")
        metadata.write(ws.cfile_for(f), meta)
        f.unlink()
    cfiles = [ws.cfile_for(f) for f in files]
    with contextlib.closing(StateDB(ws.root)) as state:
        report = Engine(ws, lambda: counting, cache=state).retrieve(cfiles)
    assert {r.outcome for r in report.results} == {Outcome.RETRIEVED}
    assert counting.gets == 3
    again = 0 if store_name in VERSIONED_GET else 3
    assert _upload(counting, ws, files) == ({Outcome.ALREADY_STORED}, again)
