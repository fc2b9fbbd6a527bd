"""The Store contract, written once and run against every store.

Each store contributes a fixture named ``<name>_store`` (see ``tests/fixtures``) that yields a
fresh, empty store over its real backend; add the name to ``STORES`` to run the suite on it.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from cavorite_py.errors import IntegrityError, ObjectExists, ObjectNotFound
from cavorite_py.hashing import HashingWriter
from cavorite_py.keys import KeyScheme, object_key
from cavorite_py.stores.base import ObjectInfo, Store

STORES = ["localstore", "s3", "gcs", "azure", "fsspec", "fsspec_file"]
STORES += ["plugin_python", "plugin_sh"]  # executable plugins, through the protocol
if os.environ.get("CAVORITE_TEST_PLUGIN"):  # your own plugin: see docs/plugins.md
    STORES.append("plugin_custom")
if os.environ.get("CAVORITE_TEST_STORE"):  # your own installed store type: the same
    STORES.append("custom")

MakeFile = Callable[[bytes], tuple[Path, ObjectInfo]]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Store:
    value: Store = request.getfixturevalue(f"{request.param}_store")
    return value


@pytest.fixture
def make_file(tmp_path: Path) -> MakeFile:
    counter = iter(range(1_000_000))

    def make(data: bytes) -> tuple[Path, ObjectInfo]:
        path = tmp_path / f"src-{next(counter)}.bin"
        path.write_bytes(data)
        return path, ObjectInfo(len(data), hashlib.sha256(data).hexdigest())

    return make


def fetch(store: Store, key: str) -> bytes:
    buf = io.BytesIO()
    store.get(key, buf)
    return buf.getvalue()


class NonSeekable(io.RawIOBase):
    """A sink that cannot seek, like the engine's hashing writer."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def test_put_get_round_trip(store: Store, make_file: MakeFile) -> None:
    data = os.urandom(70_001)
    path, info = make_file(data)
    store.put("dir/a.bin", path, info)
    assert fetch(store, "dir/a.bin") == data


def test_get_into_non_seekable_sink(store: Store, make_file: MakeFile) -> None:
    data = os.urandom(300_000)
    path, info = make_file(data)
    store.put("ns.bin", path, info)
    sink = NonSeekable()
    store.get("ns.bin", sink)  # type: ignore[arg-type]
    assert bytes(sink.data) == data


def test_stat_reports_size_and_recorded_sha256(store: Store, make_file: MakeFile) -> None:
    path, info = make_file(b"hello world")
    store.put("s.txt", path, info)
    got = store.stat("s.txt")
    assert got is not None
    assert got.size == 11
    assert got.sha256 in (info.sha256, None)


def test_stat_missing_is_none(store: Store) -> None:
    assert store.stat("nope/missing.bin") is None


def test_get_missing_raises_not_found(store: Store) -> None:
    with pytest.raises(ObjectNotFound):
        store.get("missing.bin", io.BytesIO())


def test_delete(store: Store, make_file: MakeFile) -> None:
    path, info = make_file(b"x")
    store.put("d.bin", path, info)
    store.delete("d.bin")
    assert store.stat("d.bin") is None
    with pytest.raises(ObjectNotFound):
        store.delete("d.bin")


def test_put_existing_without_overwrite_raises_and_keeps_old(
    store: Store, make_file: MakeFile
) -> None:
    old, old_info = make_file(b"old")
    new, new_info = make_file(b"newer content")
    store.put("k.bin", old, old_info)
    with pytest.raises(ObjectExists):
        store.put("k.bin", new, new_info)
    assert fetch(store, "k.bin") == b"old"


def test_put_with_overwrite_replaces(store: Store, make_file: MakeFile) -> None:
    old, old_info = make_file(b"old")
    new, new_info = make_file(b"newer content")
    store.put("k.bin", old, old_info)
    store.put("k.bin", new, new_info, overwrite=True)
    assert fetch(store, "k.bin") == b"newer content"
    got = store.stat("k.bin")
    assert got is not None
    assert got.size == len(b"newer content")
    assert got.sha256 in (new_info.sha256, None)


@pytest.mark.parametrize(
    "key",
    ["with space/file name.bin", "ünïcødé/日本語.bin", "a/b/c/d/e/deep.bin", "dots.v1.2.tar.gz"],
)
def test_awkward_keys(store: Store, make_file: MakeFile, key: str) -> None:
    path, info = make_file(key.encode())
    store.put(key, path, info)
    assert fetch(store, key) == key.encode()
    assert key in set(store.list(key.split("/", maxsplit=1)[0]))
    store.delete(key)
    assert store.stat(key) is None


def test_empty_object(store: Store, make_file: MakeFile) -> None:
    path, info = make_file(b"")
    store.put("empty.bin", path, info)
    assert fetch(store, "empty.bin") == b""
    got = store.stat("empty.bin")
    assert got is not None
    assert got.size == 0


def test_large_object(store: Store, make_file: MakeFile) -> None:
    """Larger than the multipart/chunk threshold the fixtures configure (1-8 MiB)."""
    data = os.urandom(9 * 1024 * 1024 + 123)
    path, info = make_file(data)
    progress: list[int] = []
    store.put("big/large.bin", path, info, progress=progress.append)
    got = fetch(store, "big/large.bin")
    assert hashlib.sha256(got).hexdigest() == info.sha256
    assert sum(progress) == len(data)
    stat = store.stat("big/large.bin")
    assert stat is not None
    assert stat.size == len(data)


def test_list_by_prefix_isolates(store: Store, make_file: MakeFile) -> None:
    path, info = make_file(b"1")
    for key in ["team-a/x.bin", "team-a/sub/y.bin", "team-b/x.bin", "team-ab.bin"]:
        store.put(key, path, info)
    assert sorted(store.list("team-a/")) == ["team-a/sub/y.bin", "team-a/x.bin"]
    assert sorted(store.list("team-b/")) == ["team-b/x.bin"]
    assert sorted(store.list("")) == sorted(
        ["team-a/x.bin", "team-a/sub/y.bin", "team-b/x.bin", "team-ab.bin"]
    )
    assert list(store.list("nothing/")) == []


def test_concurrent_puts_and_gets(store: Store, make_file: MakeFile) -> None:
    payloads = {f"conc/{i:02d}.bin": os.urandom(1000 + i) for i in range(24)}
    files = {key: make_file(data) for key, data in payloads.items()}

    def put(key: str) -> None:
        path, info = files[key]
        store.put(key, path, info)

    def get(key: str) -> bytes:
        return fetch(store, key)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, payloads))
        results = dict(zip(payloads, pool.map(get, payloads), strict=True))
    assert results == payloads


def test_close_twice_is_harmless(store: Store) -> None:
    store.close()
    store.close()


def _got(store: Store, key: str) -> tuple[bytes, str | None]:
    buf = io.BytesIO()
    version = store.get(key, buf)
    return buf.getvalue(), version


def test_versions_agree_and_change_with_the_content(store: Store, make_file: MakeFile) -> None:
    """A store that tells an object's version must tell the same one from put, get, stat and
    list_info, and a new one once the object is written again: the engine trusts a listing
    only while the version it remembers is unchanged, and remembers what it downloaded against
    the version get names. A store without versions says None."""
    first, info = make_file(b"first")
    put = store.put("v/a.bin", first, info)
    stat = store.stat("v/a.bin")
    assert stat is not None
    listed = dict(store.list_info("v/"))
    assert set(listed) == {"v/a.bin"}
    listed_info = listed["v/a.bin"]
    data, got = _got(store, "v/a.bin")
    assert data == b"first"
    if stat.version is None:
        assert put is None or put.version is None
        assert listed_info is None or listed_info.version is None
        assert got is None
        return
    assert put is None or put.version == stat.version
    assert listed_info is not None and (listed_info.size, listed_info.version) == (
        stat.size, stat.version
    )
    assert got in (None, stat.version)  # None: the GCS emulator sends no generation header
    second, info2 = make_file(b"other")  # the same size, other bytes
    store.put("v/a.bin", second, info2, overwrite=True)
    again = store.stat("v/a.bin")
    assert again is not None and again.version not in (None, stat.version)
    relisted = dict(store.list_info("v/"))["v/a.bin"]
    assert relisted is not None and (relisted.size, relisted.version) == (again.size, again.version)
    data, got = _got(store, "v/a.bin")
    assert data == b"other"
    assert got in (None, again.version)


SIZE_UNKNOWN_BEFORE_THE_BODY = {"gcs", "fsspec_file"}
"""stores that learn an object's size only from its bytes: stopped by the sink, not before"""


@pytest.mark.parametrize("limit", [0, 10, 2 << 20])
def test_get_stops_at_the_size_of_the_cfile(
    store: Store, make_file: MakeFile, request: pytest.FixtureRequest, limit: int
) -> None:
    """An object larger than its cfile says: the engine's sink takes no byte past that size
    and raises; a store that learns the size first refuses before writing anything."""
    data = os.urandom(3 << 20)
    store.put("big.bin", *make_file(data))
    target = NonSeekable()
    sink = HashingWriter(target, limit=limit, label="big.bin")
    with pytest.raises(IntegrityError) as raised:
        store.get("big.bin", cast(BinaryIO, sink))
    assert len(target.data) <= limit
    assert bytes(target.data) == data[: len(target.data)]
    message = str(raised.value)
    assert message.startswith("big.bin: the store ")
    if request.node.callspec.params["store"] not in SIZE_UNKNOWN_BEFORE_THE_BODY:
        assert f"holds {len(data)} bytes where its cfile records {limit}" in message
        assert target.data == b""
    # the sink without a limit takes it all, as before
    assert fetch(store, "big.bin") == data


def test_get_of_an_object_no_larger_than_the_cfile_passes(
    store: Store, make_file: MakeFile
) -> None:
    data = os.urandom(100_000)
    store.put("fits.bin", *make_file(data))
    target = NonSeekable()
    sink = HashingWriter(target, limit=len(data))
    store.get("fits.bin", cast(BinaryIO, sink))
    assert bytes(target.data) == data
    assert sink.size == len(data)


# ------------------------------------------------------------------ versioned keys and copies


def versioned(path: str, info: ObjectInfo) -> str:
    assert info.sha256 is not None
    return object_key(KeyScheme.VERSIONED, "", path, info.sha256)


def test_versioned_keys_of_a_path_sit_beside_its_path_key(
    store: Store, make_file: MakeFile
) -> None:
    contents = [b"v1", b"version two", b"three"]
    files = [make_file(data) for data in contents]
    keys = [versioned("assets/logo.png", info) for _, info in files]
    for key, (path, info) in zip(keys, files, strict=True):
        store.put(key, path, info)
    # a path-scheme object of the same path never collides with them
    store.put("assets/logo.png", *files[0])
    for key, data in zip(keys, contents, strict=True):
        assert fetch(store, key) == data
    assert sorted(store.list("assets/logo.png@")) == sorted(keys)
    assert sorted(store.list("assets/")) == sorted([*keys, "assets/logo.png"])


def test_versioned_key_near_the_length_limit(store: Store, make_file: MakeFile) -> None:
    # components a file system accepts (255 bytes at most), a whole key of 1,000 bytes
    # (some stores put an address prefix in front, within S3's 1,024)
    path, info = make_file(b"long")
    parts = ["d" * 200] * 4 + ["é" * 30]
    stem = "/".join(parts)
    name = stem + "/" + "f" * (1000 - 65 - len(stem.encode()) - 1)
    key = versioned(name, info)
    assert len(key.encode()) == 1000
    store.put(key, path, info)
    assert fetch(store, key) == b"long"
    assert list(store.list(stem)) == [key]


def copy_or_skip(store: Store, source: str, key: str, info: ObjectInfo) -> None:
    try:
        store.copy(source, key, info)
    except NotImplementedError:
        pytest.skip(f"{type(store).__name__} has no copy (the engine uploads instead)")


def test_copy_keeps_the_bytes_and_the_sha256(store: Store, make_file: MakeFile) -> None:
    data = os.urandom(70_001)
    path, info = make_file(data)
    store.put(versioned("old/a.bin", info), path, info)
    copy_or_skip(store, versioned("old/a.bin", info), versioned("new/b.bin", info), info)
    assert fetch(store, versioned("new/b.bin", info)) == data
    assert store.stat(versioned("new/b.bin", info)) == store.stat(versioned("old/a.bin", info))


def test_copy_never_replaces_an_existing_object(store: Store, make_file: MakeFile) -> None:
    path, info = make_file(b"source")
    other, other_info = make_file(b"kept")
    store.put("src.bin", path, info)
    store.put("dst.bin", other, other_info)
    with pytest.raises((ObjectExists, NotImplementedError)):
        store.copy("src.bin", "dst.bin", info)
    assert fetch(store, "dst.bin") == b"kept"


def test_copy_of_a_missing_object_raises_not_found(store: Store, make_file: MakeFile) -> None:
    _, info = make_file(b"x")
    with pytest.raises((ObjectNotFound, NotImplementedError)):
        store.copy("nowhere.bin", "dst.bin", info)
    assert store.stat("dst.bin") is None
