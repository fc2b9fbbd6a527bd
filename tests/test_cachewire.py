"""The content cache wired into retrieve, upload, status, the guard and push (in process, with
the local store; the command-line and S3 cases are in tests/e2e/test_offline.py)."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import cavorite_py
from cavorite_py.cache import Cache, Incoming, reflink
from cavorite_py.cachesettings import load_settings
from cavorite_py.cacheuse import RunCache
from cavorite_py.engine import Engine
from cavorite_py.results import Outcome
from cavorite_py.stores.base import Store

A = b"alpha\0" * 1000
B = b"beta\0" * 1500


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def objects(tmp_path: Path) -> Path:
    return tmp_path / "objects"


@pytest.fixture
def repo(tmp_path: Path, objects: Path) -> Iterator[cavorite_py.Repo]:
    root = tmp_path / "repo"
    root.mkdir()
    cavorite_py.init(root, backend_address=objects.as_uri(), key_scheme="path")
    (root / "a.bin").write_bytes(A)
    (root / "b.bin").write_bytes(B)
    with cavorite_py.Repo.find(root) as found:
        yield found


@pytest.fixture
def cache() -> Iterator[Cache]:
    with Cache(load_settings()) as c:
        yield c


@pytest.fixture
def local_store_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads from the local store enter the cache even where that takes a copy."""
    _user_config(tmp_path / "user-config", monkeypatch, local_store="always")


def _user_config(where: Path, monkeypatch: pytest.MonkeyPatch, **cache: object) -> None:
    config = where / "cavorite" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"cache": cache}))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(where))


def uploaded_and_cached(repo: cavorite_py.Repo) -> None:
    """Upload both files, then retrieve them again: the downloads enter the cache."""
    assert repo.upload(["a.bin", "b.bin"], cwd=repo.root).ok
    for name in ("a.bin", "b.bin"):
        (repo.root / name).unlink()
    assert repo.retrieve(cwd=repo.root).counts()[Outcome.RETRIEVED] == 2


@pytest.mark.usefixtures("local_store_cached")
def test_downloads_enter_the_cache_and_are_taken_from_it(
    repo: cavorite_py.Repo, cache: Cache, objects: Path
) -> None:
    uploaded_and_cached(repo)
    assert cache.has(sha(A)) and cache.has(sha(B))
    # the store's copies are gone: the cache's are placed
    for stored in objects.rglob("*.bin"):
        stored.unlink()
    (repo.root / "a.bin").unlink()
    report = repo.retrieve(cwd=repo.root)
    assert report.ok, report.results
    assert (repo.root / "a.bin").read_bytes() == A


@pytest.mark.usefixtures("local_store_cached")
def test_a_corrupted_entry_is_never_placed(
    repo: cavorite_py.Repo, cache: Cache, caplog: pytest.LogCaptureFixture
) -> None:
    uploaded_and_cached(repo)
    entry = cache.path_of(sha(A))
    entry.chmod(0o644)
    entry.write_bytes(b"X" + A[1:])
    (repo.root / "a.bin").unlink()
    with caplog.at_level(logging.WARNING, logger="cavorite_py"):
        report = repo.retrieve(cwd=repo.root)
    assert report.ok, report.results
    assert (repo.root / "a.bin").read_bytes() == A
    assert "removed corrupted cache entry" in caplog.text
    # fetched from the store, and cached again, whole
    assert entry.read_bytes() == A


@pytest.mark.usefixtures("local_store_cached")
def test_a_truncated_entry_is_never_placed(repo: cavorite_py.Repo, cache: Cache) -> None:
    uploaded_and_cached(repo)
    entry = cache.path_of(sha(B))
    entry.chmod(0o644)
    entry.write_bytes(B[:100])
    (repo.root / "b.bin").unlink()
    assert repo.retrieve(cwd=repo.root).ok
    assert (repo.root / "b.bin").read_bytes() == B


@pytest.mark.usefixtures("local_store_cached")
def test_all_cached_never_opens_the_store(repo: cavorite_py.Repo) -> None:
    uploaded_and_cached(repo)
    for name in ("a.bin", "b.bin"):
        (repo.root / name).unlink()

    def no_store() -> Store:
        raise AssertionError("the store was opened")

    engine = Engine(repo.workspace, no_store, None, content=repo.engine().content)
    report = engine.retrieve([repo.root / "a.bin.cfile", repo.root / "b.bin.cfile"])
    assert report.counts()[Outcome.RETRIEVED] == 2, report.results
    assert (repo.root / "b.bin").read_bytes() == B


@pytest.mark.usefixtures("local_store_cached")
def test_a_download_is_written_into_the_cache_as_it_arrives(
    repo: cavorite_py.Repo, cache: Cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if _reflinks(repo.root, tmp_path):
        pytest.skip("this file system clones files: a download is added by reflink instead")

    def no_second_copy(*args: object) -> bool:
        raise AssertionError("the complete file was copied into the cache")

    assert repo.upload(["a.bin", "b.bin"], cwd=repo.root).ok
    (repo.root / "a.bin").unlink()
    monkeypatch.setattr(Cache, "_fill", no_second_copy)
    report = repo.retrieve(cwd=repo.root)
    assert report.counts()[Outcome.RETRIEVED] == 1, report.results
    entry = cache.path_of(sha(A))
    assert entry.read_bytes() == A
    assert entry.stat().st_mode & 0o777 == 0o444
    # a copy of its own, not the artifact's inode
    assert entry.stat().st_ino != (repo.root / "a.bin").stat().st_ino
    assert os.listdir(cache.root / "tmp") == []


@pytest.mark.usefixtures("local_store_cached")
def test_a_download_that_fails_verification_leaves_nothing_in_the_cache(
    repo: cavorite_py.Repo, cache: Cache, objects: Path
) -> None:
    assert repo.upload(["a.bin"], cwd=repo.root).ok
    (stored,) = objects.rglob("a.bin")
    stored.write_bytes(b"X" + A[1:])
    (repo.root / "a.bin").unlink()
    report = repo.retrieve(cwd=repo.root)
    assert report.counts()[Outcome.FAILED] == 1
    assert "does not match its cfile" in str(report.results[0].error)
    assert not (repo.root / "a.bin").exists()
    assert not cache.has(sha(A)) and not cache.has(sha(b"X" + A[1:]))
    assert os.listdir(cache.root / "tmp") == []


@pytest.mark.usefixtures("local_store_cached")
def test_a_cache_that_cannot_be_written_does_not_fail_the_retrieve(
    repo: cavorite_py.Repo,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if _reflinks(repo.root, tmp_path):
        pytest.skip("this file system clones files: a download is added by reflink instead")

    def full(self: Incoming, data: memoryview) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    assert repo.upload(["a.bin", "b.bin"], cwd=repo.root).ok
    for name in ("a.bin", "b.bin"):
        (repo.root / name).unlink()
    monkeypatch.setattr(Incoming, "write", full)
    with caplog.at_level(logging.WARNING, logger="cavorite_py"):
        report = repo.retrieve(cwd=repo.root)
    assert report.counts()[Outcome.RETRIEVED] == 2, report.results
    assert (repo.root / "a.bin").read_bytes() == A
    assert (repo.root / "b.bin").read_bytes() == B
    assert caplog.text.count("cannot be used") == 1, caplog.text
    assert not cache.has(sha(A)) and not cache.has(sha(B))
    assert os.listdir(cache.root / "tmp") == []


def test_local_store_downloads_enter_the_cache_only_when_free(
    repo: cavorite_py.Repo, cache: Cache, tmp_path: Path
) -> None:
    free = _reflinks(repo.root, tmp_path)
    uploaded_and_cached(repo)
    # the objects are on this machine already: no second copy unless a reflink makes it free
    assert cache.has(sha(A)) is free and cache.has(sha(B)) is free
    (repo.root / "a.bin").unlink()
    assert repo.retrieve(cwd=repo.root).counts()[Outcome.RETRIEVED] == 1
    assert (repo.root / "a.bin").read_bytes() == A


def test_an_unusable_cache_is_a_miss_and_one_warning(
    repo: cavorite_py.Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setenv("CAVORITE_CACHE_DIR", str(not_a_dir))
    assert repo.upload(["a.bin", "b.bin"], cwd=repo.root).ok
    for name in ("a.bin", "b.bin"):
        (repo.root / name).unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cavorite_py"):
        report = repo.retrieve(cwd=repo.root)
    assert report.ok, report.results
    assert (repo.root / "a.bin").read_bytes() == A
    # one per run, whatever the number of files
    assert caplog.text.count("cannot be used") == 1, caplog.text


def test_upload_adds_a_copy_only_when_configured(
    repo: cavorite_py.Repo, cache: Cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = _reflinks(repo.root, tmp_path)
    assert repo.upload(["a.bin"], cwd=repo.root).ok
    assert cache.has(sha(A)) is free
    config = tmp_path / "xdg" / "cavorite" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"cache": {"upload": "always"}}))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config.parent.parent))
    assert repo.upload(["b.bin"], cwd=repo.root).ok
    assert cache.has(sha(B))


def _reflinks(directory: Path, cache_parent: Path) -> bool:
    """Whether files of ``directory`` can be cloned into the cache's file system."""
    source = directory / "probe"
    source.write_bytes(b"x")
    with open(source, "rb") as src, open(os.environ["CAVORITE_CACHE_DIR"] + ".probe", "wb") as dst:
        cloned = reflink(src.fileno(), dst.fileno())
    source.unlink()
    os.unlink(os.environ["CAVORITE_CACHE_DIR"] + ".probe")
    return cloned


def test_no_push_status_guard_and_push(repo: cavorite_py.Repo, cache: Cache, objects: Path) -> None:
    report = repo.upload(["a.bin"], cwd=repo.root, push=False)
    assert report.ok and report.counts()[Outcome.NOT_PUSHED] == 1
    assert (repo.root / "a.bin.cfile").exists()
    assert not list(objects.rglob("a.bin"))
    [pending] = cache.pending.entries()
    assert (pending.key, pending.path, pending.repo) == ("a.bin", "a.bin", str(repo.root))

    status = repo.status(["a.bin"], cwd=repo.root)
    assert [r.outcome for r in status.results] == [Outcome.NOT_PUSHED]
    checked, refusals = repo.check([repo.root / "a.bin.cfile"])
    assert refusals == []
    assert [r.outcome for r in checked.results] == [Outcome.NOT_PUSHED]

    pushed = repo.push()
    assert [r.outcome for r in pushed.results] == [Outcome.UPLOADED]
    assert pushed.results[0].path == repo.root / "a.bin"
    assert cache.pending.entries() == []
    assert [p.read_bytes() for p in objects.rglob("a.bin")] == [A]
    assert repo.push().results == []
    assert repo.status(["a.bin"], cwd=repo.root).results[0].outcome is Outcome.UP_TO_DATE


def test_push_accepts_the_same_object_already_stored_and_refuses_another(
    repo: cavorite_py.Repo, cache: Cache, objects: Path
) -> None:
    assert repo.upload(["a.bin", "b.bin"], cwd=repo.root, push=False).ok
    (objects / "a.bin").parent.mkdir(parents=True, exist_ok=True)
    (objects / "a.bin").write_bytes(A)
    (objects / "b.bin").write_bytes(b"other")
    report = repo.push()
    outcomes = {r.path.name: r.outcome for r in report.results}
    assert outcomes == {"a.bin": Outcome.ALREADY_STORED, "b.bin": Outcome.FAILED}
    [failed] = report.failed
    assert "already holds different content" in str(failed.error)
    assert [p.key for p in cache.pending.entries()] == ["b.bin"]
    assert (objects / "b.bin").read_bytes() == b"other"


def test_push_refuses_a_corrupted_pending_entry(repo: cavorite_py.Repo, cache: Cache) -> None:
    assert repo.upload(["a.bin"], cwd=repo.root, push=False).ok
    entry = cache.path_of(sha(A))
    entry.chmod(0o644)
    entry.write_bytes(b"rotten")
    [failed] = repo.push().failed
    assert "gone or corrupted" in str(failed.error)
    assert len(cache.pending.entries()) == 1


def test_an_upload_that_reaches_the_store_owes_no_push(
    repo: cavorite_py.Repo, cache: Cache
) -> None:
    assert repo.upload(["a.bin"], cwd=repo.root, push=False).ok
    assert repo.upload(["a.bin"], cwd=repo.root).ok
    assert cache.pending.entries() == []


def test_run_cache_without_settings_does_nothing(tmp_path: Path) -> None:
    off = RunCache(None)
    assert not off.enabled
    assert off.place(sha(A), None, tmp_path / "x", None) is False
    assert off.pending() == []
    off.finish()


def test_the_store_as_pending_markers_name_it_holds_no_credentials(tmp_path: Path) -> None:
    from cavorite_py.config import Config

    address = "https://user:secret@host:9000/bucket/team?sig=token"
    options = {"backend_address": address, "metadata_file_extension": "cfile"}
    config = Config.from_dict({"store_type": "s3", "options": options})
    assert cavorite_py.Repo(tmp_path, config).store_id == "s3 https://host:9000/bucket/team"
