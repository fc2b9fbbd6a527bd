"""The Store contract: what every store, built-in or plugin, must do, as pytest tests.

:class:`StoreContract` holds the tests; a subclass supplies the ``store`` fixture (a fresh, empty
store per test). The suite puts a 9 MiB object: a store with a multipart or chunk threshold should
be configured below that in its fixture, so that the multipart path is tested too.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from .. import consent
from ..errors import IntegrityError, ObjectChanged, ObjectExists, ObjectNotFound
from ..hashing import HashingWriter
from ..keys import KeyScheme, object_key
from ..stores.base import ObjectInfo, Store, StoreSettings, delete_version

MakeFile = Callable[[bytes], tuple[Path, ObjectInfo]]
"""Writes the bytes to a new file; returns its path and the ``ObjectInfo`` (size, sha256)
that the engine would pass to ``put``."""


def fetch(store: Store, key: str) -> bytes:
    """The object's bytes, through ``store.get``."""
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


@contextmanager
def plugin_store(
    executable: str | os.PathLike[str], address: str, root: Path, **options: Any
) -> Iterator[Store]:
    """The executable store plugin at ``executable``, opened with ``address`` and ``options``
    (``root``: the directory a relative address is taken from), allowed to run while the
    context lasts and closed after it."""
    from ..stores.plugin import PluginStore

    path = Path(executable).absolute()
    settings = StoreSettings(address, {"plugin_address": str(path), **options}, root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(consent.ENV_VAR, str(path))
        store = PluginStore(settings)
        try:
            yield store
        finally:
            store.close()


def versioned(path: str, info: ObjectInfo) -> str:
    """The versioned key of ``path`` for the content ``info`` describes."""
    assert info.sha256 is not None
    return object_key(KeyScheme.VERSIONED, "", path, info.sha256)


def copy_or_skip(store: Store, source: str, key: str, info: ObjectInfo) -> None:
    """``store.copy``, or skip the test for a store without one (the engine uploads instead)."""
    try:
        store.copy(source, key, info)
    except NotImplementedError:
        pytest.skip(f"{type(store).__name__} has no copy (the engine uploads instead)")


def _got(store: Store, key: str) -> tuple[bytes, str | None]:
    buf = io.BytesIO()
    version = store.get(key, buf)
    return buf.getvalue(), version


class StoreContract:
    """The contract suite. Subclass it as ``Test...`` and define the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> Store:
        """A fresh, empty store: to be defined by the subclass."""
        pytest.fail(
            f"{type(self).__name__} must define the fixture `store` (a fresh, empty store)",
            pytrace=False,
        )

    @pytest.fixture
    def announces_size(self) -> bool:
        """Whether the store learns an object's size before its bytes (from a header, a stat)
        and tells the sink (``expect_size``): override with False for one that cannot."""
        return True

    @pytest.fixture
    def make_file(self, tmp_path: Path) -> MakeFile:
        counter = iter(range(1_000_000))

        def make(data: bytes) -> tuple[Path, ObjectInfo]:
            path = tmp_path / f"src-{next(counter)}.bin"
            path.write_bytes(data)
            return path, ObjectInfo(len(data), hashlib.sha256(data).hexdigest())

        return make

    def test_put_get_round_trip(self, store: Store, make_file: MakeFile) -> None:
        data = os.urandom(70_001)
        path, info = make_file(data)
        store.put("dir/a.bin", path, info)
        assert fetch(store, "dir/a.bin") == data

    def test_get_into_non_seekable_sink(self, store: Store, make_file: MakeFile) -> None:
        data = os.urandom(300_000)
        path, info = make_file(data)
        store.put("ns.bin", path, info)
        sink = NonSeekable()
        store.get("ns.bin", sink)  # type: ignore[arg-type]
        assert bytes(sink.data) == data

    def test_stat_reports_size_and_recorded_sha256(self, store: Store, make_file: MakeFile) -> None:
        path, info = make_file(b"hello world")
        store.put("s.txt", path, info)
        got = store.stat("s.txt")
        assert got is not None
        assert got.size == 11
        assert got.sha256 in (info.sha256, None)

    def test_stat_missing_is_none(self, store: Store) -> None:
        assert store.stat("nope/missing.bin") is None

    def test_get_missing_raises_not_found(self, store: Store) -> None:
        with pytest.raises(ObjectNotFound):
            store.get("missing.bin", io.BytesIO())

    def test_delete(self, store: Store, make_file: MakeFile) -> None:
        path, info = make_file(b"x")
        store.put("d.bin", path, info)
        store.delete("d.bin")
        assert store.stat("d.bin") is None
        with pytest.raises(ObjectNotFound):
            store.delete("d.bin")

    def test_put_existing_without_overwrite_raises_and_keeps_old(
        self, store: Store, make_file: MakeFile
    ) -> None:
        old, old_info = make_file(b"old")
        new, new_info = make_file(b"newer content")
        store.put("k.bin", old, old_info)
        with pytest.raises(ObjectExists):
            store.put("k.bin", new, new_info)
        assert fetch(store, "k.bin") == b"old"

    def test_put_with_overwrite_replaces(self, store: Store, make_file: MakeFile) -> None:
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
        [
            "with space/file name.bin",
            "ünïcødé/日本語.bin",
            "a/b/c/d/e/deep.bin",
            "dots.v1.2.tar.gz",
        ],
    )
    def test_awkward_keys(self, store: Store, make_file: MakeFile, key: str) -> None:
        path, info = make_file(key.encode())
        store.put(key, path, info)
        assert fetch(store, key) == key.encode()
        assert key in set(store.list(key.split("/", maxsplit=1)[0]))
        store.delete(key)
        assert store.stat(key) is None

    def test_empty_object(self, store: Store, make_file: MakeFile) -> None:
        path, info = make_file(b"")
        store.put("empty.bin", path, info)
        assert fetch(store, "empty.bin") == b""
        got = store.stat("empty.bin")
        assert got is not None
        assert got.size == 0

    def test_large_object(self, store: Store, make_file: MakeFile) -> None:
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

    def test_list_by_prefix_isolates(self, store: Store, make_file: MakeFile) -> None:
        path, info = make_file(b"1")
        for key in ["team-a/x.bin", "team-a/sub/y.bin", "team-b/x.bin", "team-ab.bin"]:
            store.put(key, path, info)
        assert sorted(store.list("team-a/")) == ["team-a/sub/y.bin", "team-a/x.bin"]
        assert sorted(store.list("team-b/")) == ["team-b/x.bin"]
        assert sorted(store.list("")) == sorted(
            ["team-a/x.bin", "team-a/sub/y.bin", "team-b/x.bin", "team-ab.bin"]
        )
        assert list(store.list("nothing/")) == []

    def test_concurrent_puts_and_gets(self, store: Store, make_file: MakeFile) -> None:
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

    def test_close_twice_is_harmless(self, store: Store) -> None:
        store.close()
        store.close()

    def test_versions_agree_and_change_with_the_content(
        self, store: Store, make_file: MakeFile
    ) -> None:
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
            stat.size,
            stat.version,
        )
        assert got in (None, stat.version)  # None: the GCS emulator sends no generation header
        second, info2 = make_file(b"other")  # the same size, other bytes
        store.put("v/a.bin", second, info2, overwrite=True)
        again = store.stat("v/a.bin")
        assert again is not None and again.version not in (None, stat.version)
        relisted = dict(store.list_info("v/"))["v/a.bin"]
        assert relisted is not None and (relisted.size, relisted.version) == (
            again.size,
            again.version,
        )
        data, got = _got(store, "v/a.bin")
        assert data == b"other"
        assert got in (None, again.version)

    def test_written_times_are_aware_and_recent(self, store: Store, make_file: MakeFile) -> None:
        """A store that tells when an object was written (prune deletes only objects older than
        its grace age, and keeps every object whose age it cannot tell) must tell a
        timezone-aware time near the moment of the put, from stat and from list_info alike."""
        before = datetime.now(UTC)
        path, info = make_file(b"dated")
        store.put("t/a.bin", path, info)
        told = [store.stat("t/a.bin"), dict(store.list_info("t/"))["t/a.bin"]]
        for found in told:
            if found is None or found.modified is None:
                continue
            assert found.modified.tzinfo is not None
            assert abs(found.modified - before) < timedelta(hours=1)

    def test_delete_of_a_version_only_while_it_is_current(
        self, store: Store, make_file: MakeFile
    ) -> None:
        """A delete that names a version (prune's) removes the object only while it is still
        that version: one written again since is kept. A store without versions never matches
        one."""
        first, info = make_file(b"first")
        store.put("c/a.bin", first, info)
        old = store.stat("c/a.bin")
        assert old is not None
        second, info2 = make_file(b"other")
        store.put("c/a.bin", second, info2, overwrite=True)
        with pytest.raises(ObjectChanged):
            delete_version(store, "c/a.bin", old.version or "no such version")
        assert fetch(store, "c/a.bin") == b"other"
        current = store.stat("c/a.bin")
        assert current is not None
        if current.version is not None:
            delete_version(store, "c/a.bin", current.version)
            assert store.stat("c/a.bin") is None
            with pytest.raises(ObjectNotFound):
                delete_version(store, "c/a.bin", current.version)

    @pytest.mark.parametrize("limit", [0, 10, 2 << 20])
    def test_get_stops_at_the_size_of_the_cfile(
        self, store: Store, make_file: MakeFile, announces_size: bool, limit: int
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
        if announces_size:
            assert f"holds {len(data)} bytes where its cfile records {limit}" in message
            assert target.data == b""
        # the sink without a limit takes it all, as before
        assert fetch(store, "big.bin") == data

    def test_get_of_an_object_no_larger_than_the_cfile_passes(
        self, store: Store, make_file: MakeFile
    ) -> None:
        data = os.urandom(100_000)
        store.put("fits.bin", *make_file(data))
        target = NonSeekable()
        sink = HashingWriter(target, limit=len(data))
        store.get("fits.bin", cast(BinaryIO, sink))
        assert bytes(target.data) == data
        assert sink.size == len(data)

    # ------------------------------------------------------------ versioned keys and copies

    def test_versioned_keys_of_a_path_sit_beside_its_path_key(
        self, store: Store, make_file: MakeFile
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

    def test_versioned_key_near_the_length_limit(self, store: Store, make_file: MakeFile) -> None:
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

    def test_copy_keeps_the_bytes_and_the_sha256(self, store: Store, make_file: MakeFile) -> None:
        data = os.urandom(70_001)
        path, info = make_file(data)
        store.put(versioned("old/a.bin", info), path, info)
        copy_or_skip(store, versioned("old/a.bin", info), versioned("new/b.bin", info), info)
        assert fetch(store, versioned("new/b.bin", info)) == data
        copied = store.stat(versioned("new/b.bin", info))
        source = store.stat(versioned("old/a.bin", info))
        assert copied is not None and source is not None
        assert (copied.size, copied.sha256) == (source.size, source.sha256)

    def test_copy_never_replaces_an_existing_object(
        self, store: Store, make_file: MakeFile
    ) -> None:
        path, info = make_file(b"source")
        other, other_info = make_file(b"kept")
        store.put("src.bin", path, info)
        store.put("dst.bin", other, other_info)
        with pytest.raises((ObjectExists, NotImplementedError)):
            store.copy("src.bin", "dst.bin", info)
        assert fetch(store, "dst.bin") == b"kept"

    def test_copy_of_a_missing_object_raises_not_found(
        self, store: Store, make_file: MakeFile
    ) -> None:
        _, info = make_file(b"x")
        with pytest.raises((ObjectNotFound, NotImplementedError)):
            store.copy("nowhere.bin", "dst.bin", info)
        assert store.stat("dst.bin") is None
