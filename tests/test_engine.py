"""The engine's rules, through the Python API (``cavorite_py.init`` / ``Repo``) and directly
through ``Engine`` with the local store, wrapped by store doubles that record every call."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from cavorite_localstore import LocalStore

import cavorite_py
from cavorite_py import config as configmod
from cavorite_py import metadata
from cavorite_py.engine import Engine
from cavorite_py.errors import (
    CavoriteError,
    ConflictError,
    FileChangedError,
    IntegrityError,
    MetadataError,
    NotAttempted,
    ObjectNotFound,
    PathError,
    StoreDown,
    StoreError,
)
from cavorite_py.fsutil import TMP_MARK
from cavorite_py.keys import KeyScheme
from cavorite_py.results import FileResult, NullObserver, Outcome, Report
from cavorite_py.state import StateDB
from cavorite_py.stores.base import ObjectInfo, Progress, Store, StoreSettings
from cavorite_py.upload import LIST_MIN_FILES
from cavorite_py.workspace import Workspace
from tests.fixtures.repos import git

# --------------------------------------------------------------------- store doubles


class Recording(Store):
    """Wraps a real store; records every call as ``(method, key)``; optional hooks."""

    def __init__(
        self,
        inner: Store,
        before_put: Callable[[str, Path], None] | None = None,
        after_put: Callable[[str, Path], None] | None = None,
        keeps_sha256: bool = True,
    ) -> None:
        super().__init__(inner.settings)
        self.inner = inner
        self.before_put = before_put
        self.after_put = after_put
        self.keeps_sha256 = keeps_sha256
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _record(self, method: str, key: str) -> None:
        with self._lock:
            self.calls.append((method, key))

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)

    def put(
        self,
        key: str,
        path: Path,
        info: ObjectInfo,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self._record("put", key)
        if self.before_put is not None:
            self.before_put(key, path)
        self.inner.put(key, path, info, overwrite, progress)
        if self.after_put is not None:
            self.after_put(key, path)

    def get(self, key: str, fileobj: BinaryIO) -> None:
        self._record("get", key)
        self.inner.get(key, fileobj)

    def stat(self, key: str) -> ObjectInfo | None:
        self._record("stat", key)
        info = self.inner.stat(key)
        if info is not None and not self.keeps_sha256:
            return ObjectInfo(info.size, None)
        return info

    def list(self, prefix: str = "") -> Iterator[str]:
        self._record("list", prefix)
        return self.inner.list(prefix)

    def delete(self, key: str, version: str | None = None) -> None:
        self._record("delete", key)
        self.inner.delete(key, version)

    def describe(self) -> str:
        return self.inner.describe()


class Failing(Recording):
    """Fails ``put`` and ``get`` for the keys in ``broken`` with ``error``."""

    def __init__(self, inner: Store, broken: set[str], error: Exception) -> None:
        super().__init__(inner)
        self.broken = broken
        self.error = error

    def put(self, key: str, path: Path, info: ObjectInfo, *args: Any, **kwargs: Any) -> None:
        if key in self.broken:
            self._record("put", key)
            raise self.error
        super().put(key, path, info, *args, **kwargs)

    def get(self, key: str, fileobj: BinaryIO) -> None:
        if key in self.broken:
            self._record("get", key)
            raise self.error
        super().get(key, fileobj)


# --------------------------------------------------------------------- fixtures and helpers


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def age(path: Path, seconds: int = 3600) -> None:
    """Move a file's times into the past, so that any later write changes its mtime."""
    past = time.time_ns() - seconds * 1_000_000_000
    os.utime(path, ns=(past, past))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if TMP_MARK in p.name)


@pytest.fixture
def objects(tmp_path: Path) -> Path:
    return tmp_path / "objects"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "work"
    root.mkdir()
    return Workspace(root)


@pytest.fixture
def local(objects: Path, ws: Workspace) -> Iterator[LocalStore]:
    store = LocalStore(StoreSettings(objects.as_uri(), root=ws.root))
    yield store
    store.close()


@pytest.fixture
def recording(local: LocalStore) -> Recording:
    return Recording(local)


def make_engine(ws: Workspace, store: Store, jobs: int = 1) -> Engine:
    return Engine(workspace=ws, open_store=lambda: store, jobs=jobs)


def only(report: Report) -> FileResult:
    assert len(report.results) == 1, report.results
    return report.results[0]


@pytest.fixture
def repo_root(tmp_path: Path, objects: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    cavorite_py.init(root, backend_address=objects.as_uri(), key_scheme="path")
    return root


@pytest.fixture
def repo(repo_root: Path) -> Iterator[cavorite_py.Repo]:
    with cavorite_py.Repo.find(repo_root) as repo:
        yield repo


# --------------------------------------------------------------------- round trip (Repo API)


FILES = {
    "empty.bin": b"",
    "small.txt": b"hello\n",
    "multi-chunk.bin": os.urandom((5 << 20) // 2 + 17),  # 2.5 MiB: several read chunks
    "dir/deeper/nested.dat": os.urandom(4096),
    "with space/ünïcødé 文件.bin": os.urandom(100),
}


def test_round_trip_is_byte_identical(repo: cavorite_py.Repo, objects: Path) -> None:
    root = repo.root
    for rel, data in FILES.items():
        write(root / rel, data)
    up = repo.upload(list(FILES), cwd=root)
    assert up.ok, [r.error for r in up.failed]
    assert [r.outcome for r in up.results] == [Outcome.UPLOADED] * len(FILES)
    assert [r.path for r in up.results] == [root / rel for rel in FILES]
    for rel, data in FILES.items():
        meta = metadata.read(root / f"{rel}.cfile")
        assert (meta.name, meta.checksum, meta.size) == (rel, sha(data), len(data))
        assert (objects / rel).read_bytes() == data
        (root / rel).unlink()

    down = repo.retrieve(cwd=root)
    assert down.ok, [r.error for r in down.failed]
    assert sorted(r.path for r in down.results) == sorted(root / rel for rel in FILES)
    assert {r.outcome for r in down.results} == {Outcome.RETRIEVED}
    assert down.transferred_bytes == sum(map(len, FILES.values()))
    for rel, data in FILES.items():
        assert (root / rel).read_bytes() == data
    assert leftovers(root) == []

    again = repo.retrieve(cwd=root)
    assert {r.outcome for r in again.results} == {Outcome.UP_TO_DATE}


def test_init_then_find_from_a_subdirectory(repo_root: Path, objects: Path) -> None:
    (repo_root / "a" / "b").mkdir(parents=True)
    with cavorite_py.Repo.find(repo_root / "a" / "b") as repo:
        assert repo.root == repo_root
        assert repo.config.backend_address == objects.as_uri()
        assert repo.workspace.extension == "cfile"


def test_init_refuses_an_existing_config_without_force(repo_root: Path) -> None:
    with pytest.raises(cavorite_py.ConfigError, match="already exists; use --force"):
        cavorite_py.init(repo_root, backend_address="elsewhere")
    result = cavorite_py.init(repo_root, backend_address="elsewhere", force=True)
    assert result.repo.config.backend_address == "elsewhere"


def test_init_refuses_an_unknown_store_listing_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(cavorite_py.ConfigError) as info:
        cavorite_py.init(tmp_path, "nosuchstore")
    message = str(info.value)
    assert "'nosuchstore'" in message
    for name in ("localstore", "s3", "gcs", "azure", "plugin"):
        assert name in message
    assert not (tmp_path / ".cavorite").exists()


# --------------------------------------------------------------------- integrity


def test_corrupted_object_fails_with_both_hashes_and_leaves_nothing(
    repo: cavorite_py.Repo, objects: Path
) -> None:
    data = os.urandom(3000)
    artifact = write(repo.root / "d" / "a.bin", data)
    assert repo.upload(["d/a.bin"], cwd=repo.root).ok
    artifact.unlink()
    stored = objects / "d" / "a.bin"
    corrupt = bytes([data[0] ^ 0xFF]) + data[1:]
    with open(stored, "r+b") as f:  # same size, one byte flipped
        f.write(corrupt[:1])

    result = only(repo.retrieve(["d/a.bin"], cwd=repo.root))
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, IntegrityError)
    message = str(result.error)
    assert sha(data) in message
    assert sha(corrupt) in message
    assert "a.bin" in message
    assert not artifact.exists()
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["a.bin.cfile"]


def test_truncated_object_fails_and_leaves_nothing(repo: cavorite_py.Repo, objects: Path) -> None:
    data = os.urandom(3000)
    artifact = write(repo.root / "a.bin", data)
    assert repo.upload(["a.bin"], cwd=repo.root).ok
    artifact.unlink()
    (objects / "a.bin").write_bytes(data[:100])
    result = only(repo.retrieve(cwd=repo.root))
    assert isinstance(result.error, IntegrityError)
    assert sha(data) in str(result.error) and sha(data[:100]) in str(result.error)
    assert not artifact.exists()
    assert leftovers(repo.root) == []


def test_corrupted_download_with_force_keeps_the_local_file(
    repo: cavorite_py.Repo, objects: Path
) -> None:
    artifact = write(repo.root / "a.bin", b"original")
    assert repo.upload(["a.bin"], cwd=repo.root).ok
    artifact.write_bytes(b"local edit")
    (objects / "a.bin").write_bytes(b"rotten!!")
    result = only(repo.retrieve(["a.bin"], force=True, cwd=repo.root))
    assert isinstance(result.error, IntegrityError)
    assert artifact.read_bytes() == b"local edit"
    assert leftovers(repo.root) == []


def test_a_store_failing_mid_download_leaves_no_partial_file(
    ws: Workspace, local: LocalStore
) -> None:
    data = os.urandom(10_000)
    artifact = write(ws.root / "a.bin", data)
    assert make_engine(ws, local).upload([artifact]).ok
    artifact.unlink()

    class Breaks(Recording):
        def get(self, key: str, fileobj: BinaryIO) -> None:
            fileobj.write(data[:5000])
            raise StoreError("connection reset")

    result = only(make_engine(ws, Breaks(local)).retrieve([ws.cfile_for(artifact)]))
    assert isinstance(result.error, StoreError)
    assert sorted(os.listdir(ws.root)) == ["a.bin.cfile"]


def test_missing_object_names_the_key(ws: Workspace, local: LocalStore) -> None:
    cfile = ws.root / "a.bin.cfile"
    metadata.write(cfile, metadata.Metadata("a.bin", sha(b"x"), "", 1))
    result = only(make_engine(ws, local).retrieve([cfile]))
    assert isinstance(result.error, ObjectNotFound)
    assert "'a.bin' is not in the store" in str(result.error)
    assert os.listdir(ws.root) == ["a.bin.cfile"]


# --------------------------------------------------------------------- hostile names


HOSTILE = {
    "absolute": "/etc/passwd",
    "windows-absolute": "C:/Windows/win.ini",
    "dotdot": "../outside.bin",
    "inner-dotdot": "a/../../outside.bin",
    "backslash": "..\\..\\outside.bin",
    "nul": "a\u0000b",
    "empty": "",
    "dot-segment": "./a.bin",
    "double-slash": "a//b",
}


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_names_are_refused_before_any_io(
    ws: Workspace, recording: Recording, name: str, tmp_path: Path
) -> None:
    cfile = ws.root / "victim.bin.cfile"
    cfile.write_text(json.dumps({"name": name, "checksum": sha(b"x"), "date_modified": ""}))
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = only(make_engine(ws, recording).retrieve([cfile], force=True))
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, MetadataError)
    assert str(cfile) in str(result.error)
    assert recording.calls == []
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_hostile_name_through_the_repo_touches_nothing(
    repo: cavorite_py.Repo, objects: Path, tmp_path: Path
) -> None:
    write(objects / "outside.bin", b"planted")
    cfile = repo.root / "a.bin.cfile"
    cfile.write_text(
        json.dumps({"name": "../outside.bin", "checksum": sha(b"planted"), "date_modified": ""})
    )
    result = only(repo.retrieve(cwd=repo.root))
    assert isinstance(result.error, MetadataError)
    assert not (repo.root / "a.bin").exists()


# --------------------------------------------------------------------- local edits


def test_local_edit_survives_retrieve_without_force(repo: cavorite_py.Repo) -> None:
    artifact = write(repo.root / "a.bin", b"committed")
    assert repo.upload(["a.bin"], cwd=repo.root).ok
    artifact.write_bytes(b"edited locally")

    result = only(repo.retrieve(["a.bin"], cwd=repo.root))
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, ConflictError)
    assert "modified locally" in str(result.error)
    assert "--force" in str(result.error)
    assert artifact.read_bytes() == b"edited locally"

    forced = only(repo.retrieve(["a.bin"], force=True, cwd=repo.root))
    assert forced.outcome is Outcome.RETRIEVED
    assert artifact.read_bytes() == b"committed"
    assert leftovers(repo.root) == []


def test_retrieve_refuses_to_replace_a_symlink_or_directory(
    ws: Workspace, local: LocalStore, tmp_path: Path
) -> None:
    artifact = write(ws.root / "a.bin", b"data")
    assert make_engine(ws, local).upload([artifact]).ok
    artifact.unlink()
    target = write(tmp_path / "elsewhere.txt", b"not yours")
    artifact.symlink_to(target)
    result = only(make_engine(ws, local).retrieve([ws.cfile_for(artifact)], force=True))
    assert isinstance(result.error, PathError)
    assert "symbolic link" in str(result.error)
    assert target.read_bytes() == b"not yours"


# --------------------------------------------------------------------- re-upload


@pytest.mark.parametrize("keeps_sha256", [True, False], ids=["store-keeps-sha", "no-sha"])
def test_reupload_of_an_unchanged_file_sends_nothing(
    ws: Workspace, local: LocalStore, keeps_sha256: bool
) -> None:
    artifact = write(ws.root / "a.bin", os.urandom(2000))
    first = Recording(local, keeps_sha256=keeps_sha256)
    assert only(make_engine(ws, first).upload([artifact])).outcome is Outcome.UPLOADED
    assert first.count("put") == 1
    cfile_bytes = ws.cfile_for(artifact).read_bytes()
    cfile_mtime = ws.cfile_for(artifact).stat().st_mtime_ns

    second = Recording(local, keeps_sha256=keeps_sha256)
    result = only(make_engine(ws, second).upload([artifact]))
    assert result.outcome is Outcome.ALREADY_STORED
    assert second.count("put") == 0
    assert second.count("delete") == 0
    assert ws.cfile_for(artifact).read_bytes() == cfile_bytes
    assert ws.cfile_for(artifact).stat().st_mtime_ns == cfile_mtime


def test_already_stored_object_writes_a_missing_cfile(ws: Workspace, local: LocalStore) -> None:
    artifact = write(ws.root / "a.bin", b"same bytes")
    assert make_engine(ws, local).upload([artifact]).ok
    ws.cfile_for(artifact).unlink()
    store = Recording(local)
    assert only(make_engine(ws, store).upload([artifact])).outcome is Outcome.ALREADY_STORED
    assert store.count("put") == 0
    assert metadata.read(ws.cfile_for(artifact)).checksum == sha(b"same bytes")


def test_different_content_under_the_same_key_needs_force(
    ws: Workspace, local: LocalStore, objects: Path
) -> None:
    artifact = write(ws.root / "a.bin", b"version 1")
    assert make_engine(ws, local).upload([artifact]).ok
    old_cfile = ws.cfile_for(artifact).read_bytes()
    artifact.write_bytes(b"version 2, longer")

    store = Recording(local)
    result = only(make_engine(ws, store).upload([artifact]))
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, ConflictError)
    assert "'a.bin'" in str(result.error) and "--force" in str(result.error)
    assert store.count("put") == 0
    assert (objects / "a.bin").read_bytes() == b"version 1"
    assert ws.cfile_for(artifact).read_bytes() == old_cfile

    forced = only(make_engine(ws, store).upload([artifact], force=True))
    assert forced.outcome is Outcome.UPLOADED
    assert (objects / "a.bin").read_bytes() == b"version 2, longer"
    assert metadata.read(ws.cfile_for(artifact)).checksum == sha(b"version 2, longer")


def test_same_size_different_content_is_a_conflict_too(
    ws: Workspace, local: LocalStore, objects: Path
) -> None:
    artifact = write(ws.root / "a.bin", b"AAAA")
    assert make_engine(ws, local).upload([artifact]).ok
    artifact.write_bytes(b"BBBB")
    store = Recording(local, keeps_sha256=False)  # forces a streamed comparison
    result = only(make_engine(ws, store).upload([artifact]))
    assert isinstance(result.error, ConflictError)
    assert (objects / "a.bin").read_bytes() == b"AAAA"


# --------------------------------------------------------------------- changes during upload


def test_file_growing_during_upload_gets_no_cfile(ws: Workspace, local: LocalStore) -> None:
    artifact = write(ws.root / "a.bin", b"first part")

    def append(key: str, path: Path) -> None:
        with open(path, "ab") as f:
            f.write(b" and more")

    result = only(make_engine(ws, Recording(local, after_put=append)).upload([artifact]))
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, FileChangedError)
    assert "changed while it was being uploaded" in str(result.error)
    assert not ws.cfile_for(artifact).exists()
    assert leftovers(ws.root) == []


def test_file_rewritten_in_place_during_upload_gets_no_cfile(
    ws: Workspace, local: LocalStore
) -> None:
    artifact = write(ws.root / "a.bin", b"0123456789")
    age(artifact)

    def rewrite(key: str, path: Path) -> None:
        with open(path, "r+b") as f:  # same size, same inode
            f.write(b"X")

    result = only(make_engine(ws, Recording(local, before_put=rewrite)).upload([artifact]))
    assert isinstance(result.error, FileChangedError)
    assert not ws.cfile_for(artifact).exists()


def test_file_replaced_during_upload_gets_no_cfile(ws: Workspace, local: LocalStore) -> None:
    artifact = write(ws.root / "a.bin", b"0123456789")
    stat = artifact.stat()

    def replace(key: str, path: Path) -> None:
        fresh = write(ws.root / "new.tmp", b"9876543210")
        os.utime(fresh, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        os.replace(fresh, path)  # new inode, same size and mtime

    result = only(make_engine(ws, Recording(local, after_put=replace)).upload([artifact]))
    assert isinstance(result.error, FileChangedError)
    assert not ws.cfile_for(artifact).exists()


def test_file_rewritten_with_its_mtime_restored_gets_no_cfile(
    ws: Workspace, local: LocalStore
) -> None:
    artifact = write(ws.root / "a.bin", b"0123456789")
    age(artifact)
    stat = artifact.stat()

    def rewrite(key: str, path: Path) -> None:
        with open(path, "r+b") as f:
            f.write(b"X")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    result = only(make_engine(ws, Recording(local, before_put=rewrite)).upload([artifact]))
    assert isinstance(result.error, FileChangedError)
    assert not ws.cfile_for(artifact).exists()


# --------------------------------------------------------------------- many files


def test_one_failing_upload_does_not_stop_the_others(ws: Workspace, local: LocalStore) -> None:
    names = ["a.bin", "b.bin", "c.bin", "d.bin"]
    artifacts = [write(ws.root / n, n.encode() * 100) for n in names]
    store = Failing(local, {"b.bin"}, StoreError("the disk is on fire"))
    report = make_engine(ws, store, jobs=1).upload(artifacts)
    assert [r.path for r in report.results] == artifacts
    assert [r.outcome for r in report.results] == [
        Outcome.UPLOADED,
        Outcome.FAILED,
        Outcome.UPLOADED,
        Outcome.UPLOADED,
    ]
    assert str(report.results[1].error).endswith("b.bin: the disk is on fire")  # file named
    assert not report.ok and len(report.failed) == 1
    assert not ws.cfile_for(artifacts[1]).exists()
    assert all(ws.cfile_for(a).exists() for a in artifacts if a.name != "b.bin")


@pytest.mark.parametrize("jobs", [1, 3])
def test_a_store_gone_down_leaves_the_files_not_yet_started(
    ws: Workspace, local: LocalStore, jobs: int
) -> None:
    """No connection to the store (or no bucket): every other file would wait for the same
    timeouts and fail the same way, so the ones not yet started are not attempted; one file's
    own failure, even a lost connection, does not stop the rest (above)."""
    artifacts = [write(ws.root / f"f{i}.bin", b"%d" % i * 100) for i in range(12)]
    down = StoreDown("cannot reach the store (EndpointConnectionError)")
    store = Failing(local, {f"f{i}.bin" for i in range(12)}, down)
    report = make_engine(ws, store, jobs=jobs).upload(artifacts)
    assert [r.path for r in report.results] == artifacts
    assert all(r.outcome is Outcome.FAILED for r in report.results)
    tried = store.count("put")
    assert 1 <= tried <= jobs  # only those already under way when the first one failed
    skipped = [r.error for r in report.results if isinstance(r.error, NotAttempted)]
    assert len(skipped) == 12 - tried
    assert all(e.reason == str(down) for e in skipped)
    assert str(skipped[-1]).endswith(f"f11.bin: not attempted: {down}")
    assert not any(ws.cfile_for(a).exists() for a in artifacts)

    assert make_engine(ws, local).upload(artifacts).ok  # and retrieve the same way
    for a in artifacts:
        a.unlink()
    cfiles = [ws.cfile_for(a) for a in artifacts]
    report = make_engine(ws, store, jobs=1).retrieve(cfiles)
    assert [type(r.error) for r in report.results] == [StoreDown] + [NotAttempted] * 11
    assert not any(a.exists() for a in artifacts)


def test_a_failed_listing_of_a_store_gone_down_tries_no_file(
    ws: Workspace, local: LocalStore
) -> None:
    artifacts = [write(ws.root / f"f{i:03}.bin", b"%d" % i) for i in range(LIST_MIN_FILES)]
    down = StoreDown("bucket 'b' does not exist")

    class NoBucket(Recording):
        def list(self, prefix: str = "") -> Iterator[str]:
            raise down

    store = NoBucket(local)
    report = make_engine(ws, store, jobs=2).upload(artifacts)
    assert all(isinstance(r.error, NotAttempted) for r in report.results)
    assert [m for m, _ in store.calls] == []  # the listing raised before it was recorded


def test_an_os_error_becomes_a_result_naming_the_file(ws: Workspace, local: LocalStore) -> None:
    good = write(ws.root / "good.bin", b"g")
    store = Failing(local, {"bad.bin"}, PermissionError(13, "Permission denied"))
    bad = write(ws.root / "bad.bin", b"b")
    report = make_engine(ws, store, jobs=2).upload([bad, good])
    assert [r.outcome for r in report.results] == [Outcome.FAILED, Outcome.UPLOADED]
    assert isinstance(report.results[0].error, CavoriteError)
    assert "bad.bin" in str(report.results[0].error)
    assert "permission denied" in str(report.results[0].error).lower()


def test_a_file_name_no_store_can_hold_fails_alone(ws: Workspace, recording: Recording) -> None:
    good = write(ws.root / "good.bin", b"g")
    bad = ws.root / os.fsdecode(b"latin1-\xe9.bin")  # not UTF-8: no key, no JSON cfile
    bad.write_bytes(b"b")
    report = make_engine(ws, recording).upload([bad, good])
    assert [r.outcome for r in report.results] == [Outcome.FAILED, Outcome.UPLOADED]
    assert isinstance(report.results[0].error, MetadataError)
    assert [k for m, k in recording.calls if m == "put"] == ["good.bin"]
    assert not ws.cfile_for(bad).exists()


def test_one_failing_retrieve_does_not_stop_the_others(ws: Workspace, local: LocalStore) -> None:
    artifacts = [write(ws.root / f"{n}.bin", os.urandom(500)) for n in "abcde"]
    assert make_engine(ws, local).upload(artifacts).ok
    for a in artifacts:
        a.unlink()
    ws.cfile_for(artifacts[1]).write_text("{ not json")
    (ws.cfile_for(artifacts[3])).write_text(
        json.dumps({"name": "never-uploaded.bin", "checksum": sha(b""), "date_modified": ""})
    )
    store = Failing(local, {"e.bin"}, StoreError("timeout"))
    cfiles = [ws.cfile_for(a) for a in artifacts]
    report = make_engine(ws, store, jobs=3).retrieve(cfiles)
    assert [r.path for r in report.results] == artifacts
    outcomes = [r.outcome for r in report.results]
    assert outcomes == [
        Outcome.RETRIEVED,
        Outcome.FAILED,
        Outcome.RETRIEVED,
        Outcome.FAILED,
        Outcome.FAILED,
    ]
    errors = [type(r.error) for r in report.results]
    assert errors[1:] == [MetadataError, type(None), ObjectNotFound, StoreError]
    assert artifacts[0].exists() and artifacts[2].exists()
    assert not any(a.exists() for a in (artifacts[1], artifacts[3], artifacts[4]))
    assert leftovers(ws.root) == []


class Slow(Recording):
    """Counts how many transfers run at once."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.running = 0
        self.most = 0

    def _enter(self) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.01)

    def _leave(self) -> None:
        with self._lock:
            self.running -= 1

    def put(self, *args: Any, **kwargs: Any) -> None:
        self._enter()
        try:
            super().put(*args, **kwargs)
        finally:
            self._leave()

    def get(self, key: str, fileobj: BinaryIO) -> None:
        self._enter()
        try:
            super().get(key, fileobj)
        finally:
            self._leave()


def test_many_files_in_parallel(ws: Workspace, local: LocalStore) -> None:
    contents = {f"d{i % 5}/f{i:03}.bin": os.urandom(100 + i) for i in range(60)}
    artifacts = [write(ws.root / rel, data) for rel, data in contents.items()]
    store = Slow(local)
    up = make_engine(ws, store, jobs=8).upload(artifacts)
    assert up.ok
    assert [r.path for r in up.results] == artifacts
    assert store.count("put") == 60
    assert 1 < store.most <= 8
    for a in artifacts:
        a.unlink()
    store.most = 0
    down = make_engine(ws, store, jobs=8).retrieve([ws.cfile_for(a) for a in artifacts])
    assert down.ok
    assert [r.path for r in down.results] == artifacts
    assert 1 < store.most <= 8
    for rel, data in contents.items():
        assert (ws.root / rel).read_bytes() == data


def test_jobs_from_the_config_are_used(repo_root: Path) -> None:
    path = repo_root / ".cavorite" / "config"
    data = json.loads(path.read_text())
    data["options"]["jobs"] = 3
    path.write_text(json.dumps(data))
    with cavorite_py.Repo.find(repo_root) as repo:
        assert repo.engine().jobs == 3
        assert repo.engine(jobs=5).jobs == 5
        with pytest.raises(cavorite_py.UsageError):
            repo.engine(jobs=0)


# --------------------------------------------------------------------- progress


def test_observer_sees_every_byte_and_every_file(ws: Workspace, local: LocalStore) -> None:
    events: list[tuple[str, Any]] = []
    lock = threading.Lock()

    class Observer:
        def started(self, path: Path, size: int | None) -> None:
            with lock:
                events.append(("started", size))

        def advanced(self, path: Path, nbytes: int) -> None:
            with lock:
                events.append(("advanced", nbytes))

        def finished(self, result: FileResult) -> None:
            with lock:
                events.append(("finished", result.outcome))

    artifact = write(ws.root / "a.bin", os.urandom(3 << 20))
    engine = Engine(workspace=ws, open_store=lambda: local, jobs=1, observer=Observer())
    assert engine.upload([artifact]).ok
    assert events[0] == ("started", 3 << 20)
    assert sum(n for e, n in events if e == "advanced") == 3 << 20
    assert events[-1] == ("finished", Outcome.UPLOADED)
    events.clear()
    artifact.unlink()
    assert engine.retrieve([ws.cfile_for(artifact)]).ok
    assert sum(n for e, n in events if e == "advanced") == 3 << 20
    assert events[-1] == ("finished", Outcome.RETRIEVED)


# --------------------------------------------------------------------- .gitignore


@pytest.fixture
def git_cavorite(make_git_repo: Callable[..., Path], objects: Path) -> Path:
    root = make_git_repo("gitrepo")
    cavorite_py.init(root, backend_address=objects.as_uri(), key_scheme="path")
    return root


def test_gitignore_gets_one_anchored_entry_per_artifact(git_cavorite: Path) -> None:
    root = git_cavorite
    names = ["a.bin", "d/b.bin", "star*.bin", "a[1].bin", "#x.bin", "sp ace.bin"]
    for n in names:
        write(root / n, n.encode())
    with cavorite_py.Repo.find(root) as repo:
        assert repo.upload(names, cwd=root).ok
        first = (root / ".gitignore").read_text(), (root / "d" / ".gitignore").read_text()
        assert first[0].splitlines() == [
            "/a.bin",
            "/star\\*.bin",
            "/a\\[1\\].bin",
            "/\\#x.bin",
            "/sp ace.bin",
        ]
        assert first[1] == "/b.bin\n"
        # again, and once more after a change: no duplicates
        assert repo.upload(names, cwd=root).ok
        (root / "a.bin").write_bytes(b"changed")
        assert repo.upload(["a.bin"], force=True, cwd=root).ok
    assert ((root / ".gitignore").read_text(), (root / "d" / ".gitignore").read_text()) == first
    status = git(root, "status", "--porcelain", "-uall", "-z").stdout.split("\0")
    listed = sorted(e[3:] for e in status if e and not e[3:].startswith(".cavorite/"))
    assert listed == sorted([".gitignore", "d/.gitignore", *(f"{n}.cfile" for n in names)])


def test_gitignore_only_lists_files_that_got_a_cfile(git_cavorite: Path, objects: Path) -> None:
    root = git_cavorite
    write(root / "ok.bin", b"ok")
    write(root / "clash.bin", b"mine")
    write(objects / "clash.bin", b"someone else's")
    with cavorite_py.Repo.find(root) as repo:
        report = repo.upload(["ok.bin", "clash.bin"], cwd=root)
    assert [r.outcome for r in report.results] == [Outcome.UPLOADED, Outcome.FAILED]
    assert (root / ".gitignore").read_text() == "/ok.bin\n"


def test_gitignore_can_be_turned_off(git_cavorite: Path) -> None:
    write(git_cavorite / "a.bin", b"a")
    with cavorite_py.Repo.find(git_cavorite) as repo:
        assert repo.upload(["a.bin"], update_gitignore=False, cwd=git_cavorite).ok
    assert not (git_cavorite / ".gitignore").exists()


def test_no_gitignore_outside_git(repo: cavorite_py.Repo) -> None:
    write(repo.root / "a.bin", b"a")
    assert repo.upload(["a.bin"], cwd=repo.root).ok
    assert not (repo.root / ".gitignore").exists()


def test_a_gitignore_that_cannot_be_updated_is_named_in_a_warning(git_cavorite: Path) -> None:
    root = git_cavorite
    for rel in ("a/x.bin", "b/x.bin"):
        write(root / rel, b"x")
    (root / "a" / ".gitignore").mkdir()  # stands for any .gitignore that cannot be written
    with cavorite_py.Repo.find(root) as repo:
        report = repo.upload(["a", "b"], cwd=root)
    assert [r.outcome for r in report.results] == [Outcome.UPLOADED] * 2
    [warning] = report.warnings
    assert warning.startswith(f"uploaded, but could not update {root / 'a' / '.gitignore'}: ")
    assert (root / "b" / ".gitignore").read_text() == "/x.bin\n"  # the other directory's


def test_an_unwritable_gitignore_does_not_crash_the_upload(git_cavorite: Path) -> None:
    (git_cavorite / ".gitignore").mkdir()  # stands for any .gitignore that cannot be written
    write(git_cavorite / "a.bin", b"a")
    with cavorite_py.Repo.find(git_cavorite) as repo:
        try:
            report = repo.upload(["a.bin"], cwd=git_cavorite)
        except CavoriteError:
            return  # a clear, expected error is acceptable too
    assert report.results[0].outcome is Outcome.UPLOADED


# --------------------------------------------------------------------- unknown keys


def test_unknown_cfile_fields_survive_a_rewrite(ws: Workspace, local: LocalStore) -> None:
    artifact = write(ws.root / "a.bin", b"version 1")
    assert make_engine(ws, local).upload([artifact]).ok
    cfile = ws.cfile_for(artifact)
    data = json.loads(cfile.read_text())
    data.update({"owner": "release-team", "tags": ["x", "y"]})
    cfile.write_text(json.dumps(data))

    artifact.write_bytes(b"version 2")
    assert only(make_engine(ws, local).upload([artifact], force=True)).outcome is Outcome.UPLOADED
    rewritten = json.loads(cfile.read_text())
    assert rewritten["checksum"] == sha(b"version 2")
    assert rewritten["owner"] == "release-team"
    assert rewritten["tags"] == ["x", "y"]
    assert list(rewritten)[:4] == ["name", "checksum", "date_modified", "size"]


def test_unknown_config_keys_survive_a_repo_round_trip(repo_root: Path) -> None:
    path = repo_root / ".cavorite" / "config"
    data = json.loads(path.read_text())
    data["options"]["custom"] = {"keep": True}
    data["schema"] = 7
    path.write_text(json.dumps(data))
    with cavorite_py.Repo.find(repo_root) as repo:
        write(repo_root / "a.bin", b"a")
        assert repo.upload(["a.bin"], cwd=repo_root).ok
        configmod.save(repo_root, repo.config)
    assert json.loads(path.read_text()) == data


# --------------------------------------------------------------------- long names


def test_long_non_ascii_names_round_trip(ws: Workspace, local: LocalStore) -> None:
    # 80 three-byte characters: the artifact (240 bytes) and its cfile (246) fit in 255 bytes;
    # their temporary names must fit too
    artifact = write(ws.root / ("文" * 80), b"data")
    assert make_engine(ws, local).upload([artifact]).ok
    artifact.unlink()
    result = only(make_engine(ws, local).retrieve([ws.cfile_for(artifact)]))
    assert result.outcome is Outcome.RETRIEVED, result.error
    assert artifact.read_bytes() == b"data"


# --------------------------------------------------------------------- odd times


def test_a_file_dated_after_2262_uploads(repo: cavorite_py.Repo) -> None:
    artifact = write(repo.root / "future.bin", b"from the future")
    year_2300 = 10_413_792_000 * 1_000_000_000
    os.utime(artifact, ns=(year_2300, year_2300))
    report = repo.upload(["future.bin"], cwd=repo.root)
    assert report.ok
    repo.close()  # writes the state cache
    stamp = metadata.read(repo.root / "future.bin.cfile").date_modified
    assert stamp.startswith("2300-01-01T")


def test_a_file_dated_before_1970_uploads(repo: cavorite_py.Repo) -> None:
    artifact = write(repo.root / "old.bin", b"from the past")
    os.utime(artifact, ns=(-1_000_000_000_000_000_000, -1_000_000_000_000_000_000))
    with repo:
        assert repo.upload(["old.bin"], cwd=repo.root).ok
    stamp = metadata.read(repo.root / "old.bin.cfile").date_modified
    assert stamp.startswith("1938-")


# --------------------------------------------------------------------- batches list once


def test_a_large_batch_lists_once_instead_of_a_stat_per_new_file(
    ws: Workspace, recording: Recording
) -> None:
    files = [write(ws.root / "batch" / f"{i:03d}.bin", b"x%d" % i) for i in range(LIST_MIN_FILES)]
    report = make_engine(ws, recording, jobs=4).upload(files)
    assert report.ok
    assert recording.count("list") == 1
    assert recording.count("stat") == 0
    assert recording.count("put") == LIST_MIN_FILES
    # a second run finds every key listed: one stat each, nothing sent
    recording.calls.clear()
    again = make_engine(ws, recording, jobs=4).upload(files)
    assert {r.outcome for r in again.results} == {Outcome.ALREADY_STORED}
    assert recording.count("put") == 0
    assert recording.count("stat") == LIST_MIN_FILES


class ListingRecording(Recording):
    """A recording store whose listing tells each object's size and version."""

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo | None]]:
        self._record("list", prefix)
        return self.inner.list_info(prefix)


class Threads(NullObserver):
    """Records the thread each file finished in."""

    def __init__(self) -> None:
        self.of: dict[Path, str] = {}

    def finished(self, result: FileResult) -> None:
        self.of[result.path] = threading.current_thread().name


def test_files_known_stored_are_done_without_a_worker(local: LocalStore) -> None:
    """A no-op upload's files (content remembered for their stat, key listed at a remembered
    version) are done in the calling thread, with no request; a changed file still goes to a
    worker and is stored under its new key."""
    recording = ListingRecording(local)
    ws = Workspace(local.settings.root, key_scheme=KeyScheme.VERSIONED)
    (ws.root / ".cavorite").mkdir()  # where the state cache is kept
    files = [write(ws.root / "quick" / f"{i:03d}.bin", b"q%d" % i) for i in range(LIST_MIN_FILES)]
    for f in files:
        # older than their hashing: a file changed in the second it was hashed is not trusted
        os.utime(f, (time.time() - 10, time.time() - 10))
    state = StateDB(ws.root)
    assert Engine(ws, lambda: local, jobs=4, cache=state).upload(files).ok
    state.close()
    write(files[0], b"changed")
    threads = Threads()
    state = StateDB(ws.root)
    report = Engine(ws, lambda: recording, jobs=4, cache=state, observer=threads).upload(files)
    state.close()
    outcomes = [r.outcome for r in report.results]
    assert outcomes == [Outcome.UPLOADED] + [Outcome.ALREADY_STORED] * (LIST_MIN_FILES - 1)
    assert threads.of[files[0]].startswith("cavorite")
    main = threading.current_thread().name
    assert {threads.of[f] for f in files[1:]} == {main}
    # one listing and the changed file's put: nothing asked of the unchanged ones
    assert recording.count("stat") == 0
    assert recording.count("list") == 1
    assert recording.count("put") == 1


def _stored_and_known(local: LocalStore, scheme: KeyScheme) -> tuple[Workspace, list[Path]]:
    """:data:`LIST_MIN_FILES` files uploaded with a state cache, so that the next upload knows
    each of them stored (done without a look at the file or a request per file)."""
    ws = Workspace(local.settings.root, key_scheme=scheme)
    (ws.root / ".cavorite").mkdir(exist_ok=True)
    files = [write(ws.root / "known" / f"{i:03d}.bin", b"k%d" % i) for i in range(LIST_MIN_FILES)]
    for f in files:
        age(f)
    with contextlib.closing(StateDB(ws.root)) as state:
        assert Engine(ws, lambda: local, cache=state).upload(files).ok
    return ws, files


def _upload_known(ws: Workspace, store: Store, files: list[Path]) -> Report:
    with contextlib.closing(StateDB(ws.root)) as state:
        return Engine(ws, lambda: store, cache=state).upload(files)


@pytest.mark.parametrize("scheme", [KeyScheme.PATH, KeyScheme.VERSIONED])
def test_a_no_op_upload_sends_again_an_object_deleted_from_the_store(
    local: LocalStore, scheme: KeyScheme
) -> None:
    """The listing is what tells a no-op upload that an object this clone remembers stored is
    gone: it is uploaded again (the others cost nothing); its cfile stays as it was."""
    ws, files = _stored_and_known(local, scheme)
    cfile = ws.cfile_for(files[5]).read_bytes()
    key = ws.key_for(files[5], sha(files[5].read_bytes()))
    local.delete(key)
    recording = ListingRecording(local)
    report = _upload_known(ws, recording, files)
    outcomes = [r.outcome for r in report.results]
    assert outcomes[5] is Outcome.UPLOADED
    assert outcomes[:5] + outcomes[6:] == [Outcome.ALREADY_STORED] * (LIST_MIN_FILES - 1)
    assert [k for m, k in recording.calls if m == "put"] == [key]
    assert recording.count("stat") == 0
    assert local.stat(key) is not None
    assert ws.cfile_for(files[5]).read_bytes() == cfile


def test_a_no_op_upload_refuses_an_object_replaced_in_the_store(local: LocalStore) -> None:
    """An object written again by someone else shows a new version in the listing: it is
    looked at, and different content under the file's path key is refused as before."""
    ws, files = _stored_and_known(local, KeyScheme.PATH)
    cfile = ws.cfile_for(files[7]).read_bytes()
    other = write(ws.root.parent / "other.bin", b"someone else's")
    local.put("known/007.bin", other, ObjectInfo(14, sha(b"someone else's")), overwrite=True)
    report = _upload_known(ws, local, files)
    failed = [r for r in report.results if r.failed]
    assert [r.path for r in failed] == [files[7]]
    assert isinstance(failed[0].error, ConflictError)
    assert ws.cfile_for(files[7]).read_bytes() == cfile
    assert len(report.results) - len(failed) == LIST_MIN_FILES - 1


def test_a_no_op_upload_writes_again_a_cfile_edited_since(local: LocalStore) -> None:
    """A file known stored whose cfile no longer says so (edited by hand) gets the cfile an
    upload writes; the others are left byte for byte."""
    ws, files = _stored_and_known(local, KeyScheme.PATH)
    before = {f: ws.cfile_for(f).read_bytes() for f in files}
    edited = ws.cfile_for(files[3])
    edited.write_text(edited.read_text().replace(sha(b"k3"), sha(b"other")))
    report = _upload_known(ws, local, files)
    assert {r.outcome for r in report.results} == {Outcome.ALREADY_STORED}
    assert metadata.read(edited).checksum == sha(b"k3")
    assert all(ws.cfile_for(f).read_bytes() == before[f] for f in files if f != files[3])


def test_a_no_op_upload_does_not_trust_a_cfile_replaced_by_a_link(local: LocalStore) -> None:
    """What the state cache remembers of a directory is used only for a cfile that is still
    the regular file it read: one replaced by a link to the same content is refused, as
    without a cache, and the link is left in place; the others are done as known."""
    ws, files = _stored_and_known(local, KeyScheme.PATH)
    cfile = ws.cfile_for(files[9])
    copy = write(ws.root.parent / "copy.cfile", cfile.read_bytes())
    cfile.unlink()
    cfile.symlink_to(copy)
    report = _upload_known(ws, local, files)
    failed = [r for r in report.results if r.failed]
    assert [r.path for r in failed] == [files[9]]
    assert "symbolic link" in str(failed[0].error)
    assert cfile.is_symlink()
    assert len(report.results) - len(failed) == LIST_MIN_FILES - 1


def test_an_upload_remembers_the_contents_it_placed_in_every_directory(
    local: LocalStore,
) -> None:
    """The contents of a run's files are remembered as placed at their paths, directory by
    directory, the repository's root included."""
    ws = Workspace(local.settings.root)
    (ws.root / ".cavorite").mkdir()
    names = ["top.bin", "a/one.bin", "a/two.bin", "a/b/three.bin", "c/four.bin"]
    files = [write(ws.root / name, name.encode()) for name in names]
    with contextlib.closing(StateDB(ws.root)) as state:
        assert Engine(ws, lambda: local, cache=state).upload(files).ok
    with contextlib.closing(StateDB(ws.root)) as state:
        assert [state.placed(f) for f in files] == [{sha(n.encode())} for n in names]


def test_a_key_stored_after_the_listing_is_still_not_overwritten(
    ws: Workspace, local: LocalStore, tmp_path: Path
) -> None:
    files = [write(ws.root / f"{i:03d}.bin", b"mine %d" % i) for i in range(LIST_MIN_FILES)]
    other = write(tmp_path / "other.bin", b"someone else's content")

    def race(key: str, path: Path) -> None:
        if key == "000.bin":  # appears between the listing and our put
            local.put(key, other, ObjectInfo(other.stat().st_size, sha(other.read_bytes())))

    report = make_engine(ws, Recording(local, before_put=race)).upload(files)
    failed = [r for r in report.results if r.failed]
    assert [r.path.name for r in failed] == ["000.bin"]
    assert isinstance(failed[0].error, ConflictError)
    assert not ws.cfile_for(files[0]).exists()
    assert ws.cfile_for(files[1]).exists()


# --------------------------------------------------------------------- interruption


class SlowGet(Recording):
    """Streams the object ``slow_key`` in many small, slow chunks."""

    def __init__(self, inner: Store, slow_key: str) -> None:
        super().__init__(inner)
        self.slow_key = slow_key

    def get(self, key: str, fileobj: BinaryIO) -> None:
        if key != self.slow_key:
            return super().get(key, fileobj)
        for _ in range(1000):  # 10 s if nothing stops it
            time.sleep(0.01)
            fileobj.write(b"x" * 10)
        return None


class InterruptOn:
    """An observer that raises KeyboardInterrupt (as Ctrl-C does) when ``name`` finishes."""

    def __init__(self, name: str) -> None:
        self.name = name

    def started(self, path: Path, size: int | None) -> None:
        pass

    def advanced(self, path: Path, nbytes: int) -> None:
        pass

    def finished(self, result: FileResult) -> None:
        if result.path.name == self.name:
            time.sleep(0.2)  # let the slow download get going
            raise KeyboardInterrupt


def test_an_interrupted_run_stops_its_transfers_promptly(ws: Workspace, local: LocalStore) -> None:
    files = [write(ws.root / "fast.bin", b"fast"), write(ws.root / "slow.bin", b"x" * 10_000)]
    assert make_engine(ws, local).upload(files).ok
    for f in files:
        f.unlink()
    slow = SlowGet(local, "slow.bin")
    engine = Engine(ws, lambda: slow, jobs=2, observer=InterruptOn("fast.bin"))
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        engine.retrieve([ws.cfile_for(f) for f in files])
    assert time.monotonic() - started < 5  # not the 10 s the slow download would take
    assert not (ws.root / "slow.bin").exists()
    assert leftovers(ws.root) == []


def test_a_download_meeting_the_same_file_from_another_run_succeeds(
    ws: Workspace, local: LocalStore
) -> None:
    artifact = write(ws.root / "a.bin", b"content")
    assert make_engine(ws, local).upload([artifact]).ok
    artifact.unlink()

    def other_run_writes(key: str, fileobj: BinaryIO) -> None:
        artifact.write_bytes(b"content")  # another retrieve finished first
        local.get(key, fileobj)

    class Racing(Recording):
        def get(self, key: str, fileobj: BinaryIO) -> None:
            other_run_writes(key, fileobj)

    report = make_engine(ws, Racing(local)).retrieve([ws.cfile_for(artifact)])
    assert only(report).outcome is Outcome.RETRIEVED
    assert artifact.read_bytes() == b"content"


def test_a_download_never_replaces_a_different_file_that_appeared_meanwhile(
    ws: Workspace, local: LocalStore
) -> None:
    artifact = write(ws.root / "a.bin", b"content")
    assert make_engine(ws, local).upload([artifact]).ok
    artifact.unlink()

    class Racing(Recording):
        def get(self, key: str, fileobj: BinaryIO) -> None:
            artifact.write_bytes(b"someone's new work")
            local.get(key, fileobj)

    report = make_engine(ws, Racing(local)).retrieve([ws.cfile_for(artifact)])
    assert isinstance(only(report).error, ConflictError)
    assert artifact.read_bytes() == b"someone's new work"
    assert leftovers(ws.root) == []


def test_the_run_after_a_retrieve_reads_no_artifact(repo_root: Path) -> None:
    files = [write(repo_root / f"f{i}.bin", b"data %d" % i) for i in range(5)]
    with cavorite_py.Repo.find(repo_root) as repo:
        assert repo.upload(files).ok
    for f in files:
        f.unlink()
    with cavorite_py.Repo.find(repo_root) as repo:
        assert {r.outcome for r in repo.retrieve().results} == {Outcome.RETRIEVED}
    with cavorite_py.Repo.find(repo_root) as repo:  # at once: no waiting out a clock tick
        assert {r.outcome for r in repo.status().results} == {Outcome.UP_TO_DATE}
        assert (repo.state.hits, repo.state.misses) == (5, 0)
    files[0].write_bytes(b"data X")  # same size, written now: seen as modified
    with cavorite_py.Repo.find(repo_root) as repo:
        outcomes = [r.outcome for r in repo.status().results]
        assert outcomes[0] is Outcome.MODIFIED and outcomes[1:] == [Outcome.UP_TO_DATE] * 4


def test_the_store_is_opened_only_when_a_file_needs_it(ws: Workspace, local: LocalStore) -> None:
    files = [write(ws.root / f"f{i}.bin", b"data %d" % i) for i in range(3)]
    for f in files:  # written a while ago: the state cache trusts what upload hashed
        os.utime(f, (time.time() - 60, time.time() - 60))
    state = StateDB(ws.root)
    assert Engine(ws, lambda: local, cache=state).upload(files).ok
    opened: list[int] = []

    def opener() -> LocalStore:
        opened.append(1)
        return local

    report = Engine(ws, opener, cache=state).retrieve([ws.cfile_for(f) for f in files])
    assert [r.outcome for r in report.results] == [Outcome.UP_TO_DATE] * 3
    assert opened == []  # every file in place by the state cache: no store needed
    files[1].unlink()
    report = Engine(ws, opener, cache=state).retrieve([ws.cfile_for(f) for f in files])
    assert [r.outcome for r in report.results] == [
        Outcome.UP_TO_DATE,
        Outcome.RETRIEVED,
        Outcome.UP_TO_DATE,
    ]
    assert opened == [1]


# --------------------------------------------------------------------- outdated files


class EditingStore(LocalStore):
    """A local store that lets ``edit`` run in the middle of each ``get``."""

    edit: Callable[[], None] = staticmethod(lambda: None)

    def get(self, key: str, fileobj: BinaryIO) -> None:
        self.edit()
        super().get(key, fileobj)


def outdated(root: Path, store: Store, cache: StateDB) -> tuple[Engine, Path, Path]:
    """An engine over ``root`` (versioned keys) whose ``a.bin`` is outdated: it holds v2, which
    cavorite uploaded, while its cfile went back to v1 (as a checkout of an older commit does)."""
    ws = Workspace(root, key_scheme=KeyScheme.VERSIONED)
    engine = Engine(workspace=ws, open_store=lambda: store, jobs=1, cache=cache)
    artifact, cfile = root / "a.bin", root / "a.bin.cfile"
    write(artifact, b"version one")
    assert only(engine.upload([artifact])).outcome is Outcome.UPLOADED
    first = cfile.read_bytes()
    write(artifact, b"version two, longer")
    assert only(engine.upload([artifact])).outcome is Outcome.UPLOADED
    cfile.write_bytes(first)
    return engine, artifact, cfile


def test_an_outdated_file_edited_during_its_download_is_kept(tmp_path: Path, objects: Path) -> None:
    """An outdated file (content cavorite put there, whose cfile changed since) is replaced
    without --force, but only as it was when hashed: an edit made meanwhile is kept."""
    root = tmp_path / "work"
    root.mkdir()
    store = EditingStore(StoreSettings(objects.as_uri(), root=root))
    with contextlib.closing(StateDB(root)) as cache:
        engine, artifact, cfile = outdated(root, store, cache)

        def edit() -> None:
            artifact.write_bytes(b"edited by hand during the download")

        store.edit = edit
        result = only(engine.retrieve([cfile]))
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, ConflictError)
    assert "changed during the download" in str(result.error)
    assert artifact.read_bytes() == b"edited by hand during the download"
    store.close()


def test_an_outdated_file_is_replaced_without_force(tmp_path: Path, objects: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    store = LocalStore(StoreSettings(objects.as_uri(), root=root))
    with contextlib.closing(StateDB(root)) as cache:
        engine, artifact, cfile = outdated(root, store, cache)
        result = only(engine.retrieve([cfile]))
    assert (result.outcome, result.detail) == (Outcome.RETRIEVED, "was outdated")
    assert artifact.read_bytes() == b"version one"
    store.close()
