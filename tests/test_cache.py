"""The machine-wide content cache: entries, verification on the way out, limits, pins, pending,
and several real processes at once."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cavorite_py.cache import Cache, reflink
from cavorite_py.cachesettings import (
    DEFAULT_MAX_OBJECTS,
    CacheSettings,
    default_max_size,
    load_settings,
    parse_size,
)
from cavorite_py.errors import ConfigError


def content(tag: str, size: int = 4096) -> tuple[bytes, str]:
    data = (tag.encode() * (size // len(tag) + 1))[:size]
    return data, hashlib.sha256(data).hexdigest()


def make_cache(root: Path, max_size: int = 0, max_objects: int = 0) -> Cache:
    return Cache(CacheSettings(root / "cache", max_size, max_objects))


def cached(cache: Cache, tmp_path: Path, tag: str, size: int = 4096, used: float = 0) -> str:
    """Add distinct content to ``cache``; ``used`` sets the entry's last use (LRU order)."""
    data, sha = content(tag, size)
    source = tmp_path / f"src-{tag}"
    source.write_bytes(data)
    assert cache.add(sha, source)
    if used:
        os.utime(cache.path_of(sha), (used, used))
    return sha


def spoil(cache: Cache, sha: str, data: bytes) -> None:
    entry = cache.path_of(sha)
    entry.chmod(0o644)
    entry.write_bytes(data)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    with make_cache(tmp_path) as c:
        yield c


def test_round_trip_by_copy(cache: Cache, tmp_path: Path) -> None:
    sha = cached(cache, tmp_path, "a", 3 << 20)
    target = tmp_path / "out"
    assert cache.place(sha, 3 << 20, target)
    assert target.read_bytes() == content("a", 3 << 20)[0]
    assert cache.stats["hit"] == 1
    assert cache.path_of(sha).stat().st_mode & 0o777 == 0o444


def test_missing_entry_is_a_miss(cache: Cache, tmp_path: Path) -> None:
    _, sha = content("absent")
    assert not cache.place(sha, 4096, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert cache.stats["miss"] == 1


def test_only_when_free_adds_nothing_without_reflink(cache: Cache, tmp_path: Path) -> None:
    data, sha = content("free")
    (tmp_path / "f").write_bytes(data)
    if _reflink_works(tmp_path):
        pytest.skip("this file system clones files: adding is free here")
    assert not cache.add(sha, tmp_path / "f", always=False)
    assert not cache.has(sha)
    assert cache.add(sha, tmp_path / "f", always=True)
    assert cache.has(sha)


def test_once_reflinks_failed_only_when_free_opens_nothing(cache: Cache, tmp_path: Path) -> None:
    if _reflink_works(tmp_path):
        pytest.skip("this file system clones files: adding is free here")
    (first, sha1), (second, sha2) = content("one"), content("two")
    (tmp_path / "one").write_bytes(first)
    (tmp_path / "two").write_bytes(second)
    assert not cache.add(sha1, tmp_path / "one", always=False)
    pins = list((cache.root / "pins").iterdir())
    before = pins[0].read_text()
    # the file system is known not to clone: no temporary file, no pin, nothing read
    (tmp_path / "two").chmod(0)
    assert not cache.add(sha2, tmp_path / "two", always=False)
    assert pins[0].read_text() == before
    assert os.listdir(cache.root / "tmp") == []
    # a present entry is still marked as used, and a copy still made when asked
    (tmp_path / "two").chmod(0o644)
    assert cache.add(sha2, tmp_path / "two", always=True)
    os.utime(cache.path_of(sha2), (1, 1))
    assert cache.add(sha2, tmp_path / "two", always=False)
    assert cache.path_of(sha2).stat().st_mtime > 1


def user_cache_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: dict[str, object]
) -> Path:
    """A user config (under ``tmp_path``, named by ``XDG_CONFIG_HOME``) whose ``cache`` is this:
    its path."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    config = tmp_path / "config" / "cavorite" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"cache": cache}))
    return config


def test_a_mode_other_than_free_or_always_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = user_cache_config(tmp_path, monkeypatch, {"local_store": "sometimes"})
    with pytest.raises(ConfigError, match="'local_store' must be 'free' or 'always'"):
        load_settings({})
    config.write_text(json.dumps({"cache": {"local_store": "always", "upload": "always"}}))
    loaded = load_settings({"CAVORITE_CACHE_DIR": str(tmp_path / "c")})
    assert (loaded.local_store, loaded.upload) == ("always", "always")


def test_a_file_that_changed_is_not_added(cache: Cache, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"now different")
    _, sha = content("before")
    assert not cache.add(sha, tmp_path / "f")
    assert not cache.has(sha)


@pytest.mark.parametrize("damage", ["flipped", "truncated", "longer"])
def test_corrupted_entry_is_removed_never_placed(cache: Cache, tmp_path: Path, damage: str) -> None:
    sha = cached(cache, tmp_path, "c")
    data = content("c")[0]
    bad = {"flipped": b"X" + data[1:], "truncated": data[:100], "longer": data + b"!"}[damage]
    spoil(cache, sha, bad)
    target = tmp_path / "out"
    assert not cache.place(sha, len(data), target)
    assert not target.exists()
    assert not cache.has(sha)
    assert cache.stats["corrupt"] == 1


def test_entry_of_another_size_than_asked_is_not_placed(cache: Cache, tmp_path: Path) -> None:
    sha = cached(cache, tmp_path, "s")
    assert not cache.place(sha, 4095, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_hardlink_shares_a_read_only_entry(cache: Cache, tmp_path: Path) -> None:
    sha = cached(cache, tmp_path, "h")
    target = tmp_path / "out"
    assert cache.place(sha, 4096, target, hardlink=True)
    assert target.stat().st_ino == cache.path_of(sha).stat().st_ino
    assert target.stat().st_mode & 0o222 == 0
    assert cache.stats["hardlink"] == 1
    # edited in place anyway (made writable first): the entry is wrong and is dropped
    target.chmod(0o644)
    target.write_bytes(b"edited")
    assert not cache.place(sha, 4096, tmp_path / "again")
    assert not cache.has(sha)


def test_count_limit_holds_and_oldest_go_first(tmp_path: Path) -> None:
    with make_cache(tmp_path, max_objects=3) as cache:
        shas = [cached(cache, tmp_path, f"n{i}", used=1_000_000 + i) for i in range(5)]
        report = cache.enforce()
        assert (report.removed, report.objects) == (2, 3)
        assert [cache.has(s) for s in shas] == [False, False, True, True, True]


def test_size_limit_holds(tmp_path: Path) -> None:
    with make_cache(tmp_path, max_size=10_000) as cache:
        shas = [cached(cache, tmp_path, f"z{i}", 4000, used=1_000_000 + i) for i in range(4)]
        report = cache.enforce()
        assert report.size <= 10_000
        assert cache.usage().size == report.size == 8000
        assert [cache.has(s) for s in shas] == [False, False, True, True]


def test_a_hit_makes_an_entry_recent(tmp_path: Path) -> None:
    with make_cache(tmp_path, max_objects=2) as cache:
        old, middle, new = (
            cached(cache, tmp_path, t, used=1_000_000 + i) for i, t in enumerate("omn")
        )
        assert cache.place(old, 4096, tmp_path / "out")
        cache.enforce()
        assert (cache.has(old), cache.has(middle), cache.has(new)) == (True, False, True)


def test_dry_run_removes_nothing(tmp_path: Path) -> None:
    with make_cache(tmp_path, max_objects=1) as cache:
        shas = [cached(cache, tmp_path, f"d{i}") for i in range(3)]
        assert cache.enforce(dry_run=True).removed == 2
        assert cache.clear(dry_run=True).removed == 3
        assert all(cache.has(s) for s in shas)


def test_pending_entries_survive_clear_and_limits(tmp_path: Path) -> None:
    with make_cache(tmp_path, max_objects=1) as cache:
        kept = cached(cache, tmp_path, "p", used=1_000_000)
        other = cached(cache, tmp_path, "q", used=2_000_000)
        pending = cache.pending.mark(kept, store="s3 s3://b", key="a/p.bin", repo="/r")
        cache.enforce()
        assert cache.has(kept)
        report = cache.clear()
        assert (cache.has(kept), cache.has(other), report.kept_pending) == (True, False, 1)
        assert cache.pending.entries() == [pending]
        assert cache.pending.entries("s3 s3://b") == [pending]
        assert cache.pending.entries("other store") == []
        assert cache.usage().pending_objects == 1
        cache.pending.clear(pending)
        cache.clear()
        assert not cache.has(kept)


def test_pending_needs_the_entry(cache: Cache) -> None:
    _, sha = content("never added")
    with pytest.raises(ValueError, match="not in the cache"):
        cache.pending.mark(sha, store="s", key="k", repo="/r")


def test_one_content_pending_under_two_keys(cache: Cache, tmp_path: Path) -> None:
    sha = cached(cache, tmp_path, "two")
    cache.pending.mark(sha, store="s", key="a.bin", repo="/r")
    cache.pending.mark(sha, store="s", key="b.bin", repo="/r")
    assert sorted(p.key for p in cache.pending.entries()) == ["a.bin", "b.bin"]


PINNER = """
import sys
from pathlib import Path
from cavorite_py.cache import Cache
from cavorite_py.cachesettings import CacheSettings
cache = Cache(CacheSettings(Path(sys.argv[1]), 0, 0))
cache.pin([sys.argv[2]])
print("pinned", flush=True)
sys.stdin.read()
"""


def test_entries_pinned_by_a_live_process_are_kept(cache: Cache, tmp_path: Path) -> None:
    sha = cached(cache, tmp_path, "pin")
    command = [sys.executable, "-c", PINNER, str(cache.root), sha]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as pinner:
        try:
            assert pinner.stdout is not None and pinner.stdout.readline() == b"pinned\n"
            report = cache.clear()
            assert (cache.has(sha), report.kept_in_use) == (True, 1)
        finally:
            pinner.kill()
    # the process ended without cleaning up: its pin file is stale, removed, and counts no more
    assert cache.clear().removed == 1
    cache.close()
    assert os.listdir(cache.root / "pins") == []


def test_eviction_in_progress_elsewhere_is_not_waited_for(cache: Cache, tmp_path: Path) -> None:
    import fcntl

    cached(cache, tmp_path, "busy")
    with open(cache.root / "lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert cache.enforce().busy


def _worker(root: str, tags: list[str], out: str, rounds: int, evict: bool) -> list[str]:
    """Place every tag's content ``rounds`` times (adding it when missing), or clear the cache
    ``rounds`` times when ``evict``; return the problems seen."""
    problems: list[str] = []
    with Cache(CacheSettings(Path(root), 0, 0)) as cache:
        for r in range(rounds):
            if evict:
                cache.clear()
                continue
            for tag in tags:
                data, sha = content(tag, 256 << 10)
                target = Path(out) / f"{tag}-{r}"
                if not cache.place(sha, len(data), target):
                    source = Path(out) / f"src-{tag}-{r}"
                    source.write_bytes(data)
                    cache.add(sha, source)
                    shutil.copyfile(source, target)
                    # a run is done with an entry: another may evict it now
                    cache.close()
                if target.read_bytes() != data:
                    problems.append(f"{target}: wrong content")
    return problems


def test_concurrent_processes_placing_and_evicting(tmp_path: Path) -> None:
    tags = [f"t{i}" for i in range(6)]
    outs = [tmp_path / f"out{i}" for i in range(3)]
    for out in outs:
        out.mkdir()
    root = str(tmp_path / "cache")
    jobs = [(root, tags, str(outs[0]), 8, False), (root, tags, str(outs[1]), 8, False)]
    jobs.append((root, tags, str(outs[2]), 40, True))
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        results = pool.starmap(_worker, jobs)
    assert results == [[], [], []]
    leftovers = [n for n in os.listdir(Path(root) / "tmp")]
    assert leftovers == []


def test_settings_from_environment_then_user_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"dir": str(tmp_path / "c"), "max_size": "2G", "max_objects": 7, "hardlink": True}
    user_cache_config(tmp_path, monkeypatch, settings)
    loaded = load_settings({"XDG_CACHE_HOME": str(tmp_path / "x")})
    assert loaded == CacheSettings(tmp_path / "c", 2 << 30, 7, hardlink=True)
    env = {
        "CAVORITE_CACHE_DIR": str(tmp_path / "e"),
        "CAVORITE_CACHE_MAX_SIZE": "500M",
        "CAVORITE_CACHE_MAX_OBJECTS": "0",
    }
    assert load_settings(env) == CacheSettings(tmp_path / "e", 500 << 20, 0, hardlink=True)


def test_default_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    loaded = load_settings({"XDG_CACHE_HOME": str(tmp_path / "x")})
    assert loaded.dir == tmp_path / "x" / "cavorite"
    assert loaded.max_size == default_max_size(loaded.dir) <= 10 << 30
    assert loaded.max_objects == DEFAULT_MAX_OBJECTS


@pytest.mark.parametrize(
    ("text", "size"),
    [("4096", 4096), ("10G", 10 << 30), ("500m", 500 << 20), ("1.5GiB", 3 << 29), ("2 KB", 2048)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "env",
    [
        {"CAVORITE_CACHE_MAX_SIZE": "ten"},
        {"CAVORITE_CACHE_MAX_OBJECTS": "-1"},
        {"CAVORITE_CACHE_DIR": "relative/dir"},
    ],
)
def test_bad_settings_are_config_errors(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with pytest.raises(ConfigError, match="CAVORITE_CACHE_"):
        load_settings(env)


def _reflink_works(directory: Path) -> bool:
    (directory / "probe-a").write_bytes(b"probe")
    with open(directory / "probe-a", "rb") as a, open(directory / "probe-b", "wb") as b:
        return reflink(a.fileno(), b.fileno())


@pytest.fixture(scope="module")
def cow_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory on a file system that clones files: a small XFS image made with
    ``reflink=1`` and loop-mounted (needs root and xfsprogs), else the test is skipped."""
    base = tmp_path_factory.mktemp("cow")
    if _reflink_works(base):
        yield base
        return
    if os.geteuid() != 0 or shutil.which("mkfs.xfs") is None:
        pytest.skip("no reflink here: needs a btrfs/xfs directory, or root with mkfs.xfs")
    image, mount = base / "xfs.img", base / "mnt"
    mount.mkdir()
    with open(image, "wb") as f:
        f.truncate(320 << 20)
    made = subprocess.run(
        ["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], check=False, capture_output=True
    )
    mounted = (
        made.returncode == 0
        and (
            subprocess.run(
                ["mount", "-o", "loop", str(image), str(mount)], check=False, capture_output=True
            )
        ).returncode
        == 0
    )
    if not mounted:
        pytest.skip("cannot make or loop-mount an XFS image here (no loop device access?)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_reflink_place_and_free_add(cow_dir: Path) -> None:
    with make_cache(cow_dir) as cache:
        data, sha = content("cow", 1 << 20)
        (cow_dir / "src").write_bytes(data)
        assert cache.add(sha, cow_dir / "src", always=False)
        assert cache.place(sha, len(data), cow_dir / "out")
        assert (cow_dir / "out").read_bytes() == data
        assert cache.stats["reflink"] == 1
        spoil(cache, sha, data[:-1] + b"!")
        assert not cache.place(sha, len(data), cow_dir / "bad")
        assert not (cow_dir / "bad").exists()


def test_an_incoming_entry_enters_the_cache_only_once_kept(cache: Cache, tmp_path: Path) -> None:
    data, sha = content("incoming", 3 << 20)
    download = tmp_path / "download"
    download.touch()
    if _reflink_works(tmp_path):
        pytest.skip("this file system clones files: a download is added by reflink instead")
    incoming = cache.incoming(sha, download)
    assert incoming is not None
    with incoming:
        for start in range(0, len(data), 1 << 20):
            incoming.write(memoryview(data)[start : start + (1 << 20)])
        # never under its name before it is kept
        assert not cache.has(sha)
        assert incoming.keep(len(data))
    entry = cache.path_of(sha)
    assert entry.read_bytes() == data
    assert entry.stat().st_mode & 0o777 == 0o444
    assert os.listdir(cache.root / "tmp") == []
    assert cache.stats["added"] == 1
    # present: nothing more to write, the entry is marked as used
    os.utime(entry, (1, 1))
    assert cache.incoming(sha, download) is None
    assert entry.stat().st_mtime > 1


@pytest.mark.parametrize("end", ["dropped", "left", "short"])
def test_an_incoming_entry_not_kept_leaves_nothing(cache: Cache, tmp_path: Path, end: str) -> None:
    data, sha = content("unkept", 1 << 20)
    (tmp_path / "download").touch()
    if _reflink_works(tmp_path):
        pytest.skip("this file system clones files: a download is added by reflink instead")
    incoming = cache.incoming(sha, tmp_path / "download")
    assert incoming is not None
    with incoming:
        incoming.write(memoryview(data)[:-1])
        if end == "dropped":
            incoming.drop()
        elif end == "short":
            # fewer bytes than the verified download: not an entry
            assert not incoming.keep(len(data))
    assert not cache.has(sha)
    assert os.listdir(cache.root / "tmp") == []


def test_no_incoming_entry_where_the_file_system_clones(cow_dir: Path) -> None:
    with make_cache(cow_dir) as cache:
        data, sha = content("cow-incoming", 1 << 20)
        (cow_dir / "download").touch()
        assert cache.incoming(sha, cow_dir / "download") is None
        assert os.listdir(cache.root / "tmp") == []
        # once complete, the download is added by a clone: no second write
        (cow_dir / "download").write_bytes(data)
        assert cache.add(sha, cow_dir / "download", always=False)
        assert cache.path_of(sha).read_bytes() == data
