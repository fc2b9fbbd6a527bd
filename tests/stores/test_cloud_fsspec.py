"""The fsspec store on its memory and local filesystems, and on a fake filesystem that fails."""

from __future__ import annotations

import errno
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from cavorite_py.errors import (
    AccessDenied,
    CavoriteError,
    ConfigError,
    ObjectExists,
    ObjectNotFound,
    StoreError,
    StoreUnavailable,
)
from cavorite_py.stores.base import ObjectInfo, Store, StoreSettings
from cavorite_py.stores.fsspec import FsspecStore
from tests.fixtures.consent import approve_for_test
from tests.stores.support import make, race_for_one_key


@pytest.fixture(params=["fsspec", "fsspec_file"])
def any_fsspec(request: pytest.FixtureRequest) -> Store:
    store: Store = request.getfixturevalue(f"{request.param}_store")
    return store


def test_racing_writers_of_one_key_cannot_both_win(any_fsspec: Store, tmp_path: Path) -> None:
    won, files = race_for_one_key(any_fsspec, tmp_path)
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
    address = "memory://alice:s3cr3t@cavorite-tests/described?sig=T0PS3CRET#frag"
    described = FsspecStore(StoreSettings(address, {}, tmp_path)).describe()
    assert described == "memory://cavorite-tests/described"


# --- a filesystem whose backend fails with its own exceptions ---------------------------------

SECRET = "sig=T0PS3CRET"


class BackendError(Exception):
    """Not an OSError: what paramiko, botocore or any SDK under a filesystem may raise."""


class FlakyFS(MemoryFileSystem):  # type: ignore[misc]
    """A memory filesystem (its own store, not the shared one) whose every call named in
    ``failing`` raises ``failure``; registered in-process as ``flaky://``."""

    protocol = "flaky"
    failing: frozenset[str] = frozenset()
    failure: Callable[[], BaseException] = staticmethod(lambda: BackendError(f"boom {SECRET}"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store: dict[str, Any] = {}
        self.pseudo_dirs = [""]

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        return MemoryFileSystem._strip_protocol(str(path).replace("flaky://", "memory://", 1))

    def __getattribute__(self, name: str) -> Any:
        if name in type(self).failing:
            raise type(self).failure()
        return super().__getattribute__(name)


class RefusingFS(MemoryFileSystem):  # type: ignore[misc]
    """A filesystem that fails as it is created, as one that connects at once (sftp) does."""

    protocol = "refusing"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise BackendError(f"cannot connect with {SECRET}")


FLAKY_ADDRESS = "flaky://alice:pw@objects/team"
REFUSING_ADDRESS = f"refusing://alice:pw@host/dir?{SECRET}"


@pytest.fixture
def flaky(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FlakyFS]]:
    approve_for_test(monkeypatch, f"fsspec:{FLAKY_ADDRESS}", f"fsspec:{REFUSING_ADDRESS}")
    fsspec.register_implementation("flaky", FlakyFS, clobber=True)
    fsspec.register_implementation("refusing", RefusingFS, clobber=True)
    FlakyFS.clear_instance_cache()
    yield FlakyFS
    FlakyFS.failing = frozenset()
    FlakyFS.failure = staticmethod(lambda: BackendError(f"boom {SECRET}"))
    FlakyFS.clear_instance_cache()


def flaky_store(tmp_path: Path) -> FsspecStore:
    return FsspecStore(StoreSettings(FLAKY_ADDRESS, {}, tmp_path))


def assert_translated(exc: pytest.ExceptionInfo[BaseException], kind: type[BaseException]) -> None:
    assert type(exc.value) is StoreError
    assert isinstance(exc.value.__cause__, kind)
    message = str(exc.value)
    assert "\n" not in message
    assert kind.__name__ in message
    for secret in (SECRET, "boom", "alice", "pw@"):
        assert secret not in message


OPERATIONS: dict[str, Callable[[Store, Path], object]] = {
    "put": lambda store, src: store.put("a/b.bin", src, ObjectInfo(4, None)),
    "get": lambda store, src: store.get("a/b.bin", io.BytesIO()),
    "stat": lambda store, src: store.stat("a/b.bin"),
    "list": lambda store, src: list(store.list("a/")),
    "delete": lambda store, src: store.delete("a/b.bin"),
}


@pytest.mark.parametrize("op", sorted(OPERATIONS))
@pytest.mark.parametrize(
    "failing", [{"open", "_open", "info", "find", "isfile", "exists", "mv", "rm_file", "makedirs"}]
)
def test_backend_errors_become_store_errors(
    flaky: type[FlakyFS], tmp_path: Path, op: str, failing: set[str]
) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"data")
    store = flaky_store(tmp_path)
    store.put("a/b.bin", src, ObjectInfo(4, None))  # so that get and delete get that far
    flaky.failing = frozenset(failing)
    with pytest.raises(StoreError) as exc:
        OPERATIONS[op](store, src)
    assert_translated(exc, BackendError)


def test_a_backend_error_while_reading_is_translated(flaky: type[FlakyFS], tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"data" * 1000)
    store = flaky_store(tmp_path)
    store.put("a.bin", src, ObjectInfo(4000, None))

    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise BackendError(f"connection reset {SECRET}")

    opened = store.fs.open
    store.fs.open = lambda *a, **k: Broken(opened(*a, **k).read())
    with pytest.raises(StoreError) as exc:
        store.get("a.bin", io.BytesIO())
    assert_translated(exc, BackendError)


def test_a_backend_error_on_creation_is_unavailable(flaky: type[FlakyFS], tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable) as exc:
        FsspecStore(StoreSettings(REFUSING_ADDRESS, {}, tmp_path))
    assert isinstance(exc.value.__cause__, BackendError)
    for secret in (SECRET, "alice", "pw@"):
        assert secret not in str(exc.value)


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (lambda: PermissionError(errno.EACCES, "denied"), AccessDenied),
        (lambda: OSError(errno.EIO, "I/O error"), StoreError),
        (lambda: ValueError("odd"), StoreError),
    ],
)
def test_os_errors_keep_their_meaning(
    flaky: type[FlakyFS],
    tmp_path: Path,
    failure: Callable[[], BaseException],
    kind: type[StoreError],
) -> None:
    store = flaky_store(tmp_path)
    flaky.failing = frozenset({"info"})
    flaky.failure = staticmethod(failure)
    with pytest.raises(StoreError) as exc:
        store.stat("a.bin")
    assert type(exc.value) is kind
    assert exc.value.__cause__ is not None


def test_missing_objects_and_our_own_errors_pass_unchanged(
    flaky: type[FlakyFS], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"data")
    store = flaky_store(tmp_path)
    with pytest.raises(ObjectNotFound):
        store.get("absent.bin", io.BytesIO())
    with pytest.raises(ObjectNotFound):
        store.delete("absent.bin")
    assert store.stat("absent.bin") is None
    store.put("a.bin", src, ObjectInfo(4, None))
    with pytest.raises(ObjectExists):
        store.put("a.bin", src, ObjectInfo(4, None))
    with pytest.raises(StoreError, match="unsafe object key"):
        store.put("a\\b.bin", src, ObjectInfo(4, None))  # the cfile rule: no backslash


def test_a_local_error_is_not_taken_for_the_stores(flaky: type[FlakyFS], tmp_path: Path) -> None:
    """The engine reports its own disk's errors (disk full...) itself, naming the file."""
    src = tmp_path / "src"
    src.write_bytes(b"data")
    store = flaky_store(tmp_path)
    store.put("a.bin", src, ObjectInfo(4, None))

    class Full(io.RawIOBase):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as exc:
        store.get("a.bin", Full())  # type: ignore[arg-type]
    assert not isinstance(exc.value, CavoriteError)
    with pytest.raises(FileNotFoundError):
        store.put("b.bin", tmp_path / "no-such-source", ObjectInfo(4, None))
    assert store.stat("b.bin") is None


def test_a_failed_put_leaves_no_temporary_file(flaky: type[FlakyFS], tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"data")
    store = flaky_store(tmp_path)
    flaky.failing = frozenset({"mv"})
    with pytest.raises(StoreError):
        store.put("a.bin", src, ObjectInfo(4, None), overwrite=True)
    flaky.failing = frozenset()
    assert list(store.list()) == []
    assert store.fs.find(store.root) == []
