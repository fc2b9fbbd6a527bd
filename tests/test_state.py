"""The state cache remembers cfiles' content: unchanged cfiles are not read again, changed ones
always are, and nothing it holds is trusted beyond what reading the file would give."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cavorite_py import metadata
from cavorite_py.errors import MetadataError
from cavorite_py.metadata import Metadata
from cavorite_py.state import HOLDING, PLACED_PER_PATH, RACY_NS, StateDB
from cavorite_py.statefile import OBJECTS_BY_CONTENT, SCHEMA_VERSION, StateFile
from cavorite_py.stores.base import ObjectInfo

SHA_A = "a" * 64
SHA_B = "b" * 64
HOUR_NS = 3600 * 10**9


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / ".cavorite").mkdir()
    return tmp_path


def write_cfile(
    path: Path,
    checksum: str,
    name: str = "data/a.bin",
    age_ns: int = HOUR_NS,
    extra: dict[str, str] | None = None,
) -> None:
    """A cfile last modified ``age_ns`` ago (old enough to be trusted by default), with another
    tool's field unless ``extra`` says otherwise."""
    fields = {"tool": "x"} if extra is None else extra
    metadata.write(path, Metadata(name, checksum, "2026-01-01T00:00:00Z", 3, fields))
    then = time.time_ns() - age_ns
    os.utime(path, ns=(then, then))


def remembered(root: Path, cfile: Path) -> Metadata:
    """Read ``cfile`` through a fresh cache and save what it learnt, as one run does."""
    cache = StateDB(root)
    meta = cache.cfile(cfile)
    cache.close()
    return meta


def test_an_unchanged_cfile_is_not_read_again(root: Path, reads: list[Path]) -> None:
    cfile = root / "a.bin.cfile"
    write_cfile(cfile, SHA_A)
    first = remembered(root, cfile)
    assert reads == [cfile]
    again = remembered(root, cfile)
    assert reads == [cfile]  # the second run answered from the cache
    assert again == first
    assert (again.name, again.checksum, again.size, dict(again.extra)) == (
        "data/a.bin",
        SHA_A,
        3,
        {"tool": "x"},
    )


def test_a_replaced_cfile_is_read_again(root: Path, reads: list[Path]) -> None:
    cfile = root / "a.bin.cfile"
    write_cfile(cfile, SHA_A)
    remembered(root, cfile)
    write_cfile(cfile, SHA_B)  # as git checkout or an upload writes it: a new file
    assert remembered(root, cfile).checksum == SHA_B
    assert len(reads) == 2


def test_a_cfile_edited_in_place_with_its_old_date_is_read_again(
    root: Path, reads: list[Path]
) -> None:
    """Same size, same mtime (set back by hand), same inode: the ctime still gives it away."""
    cfile = root / "a.bin.cfile"
    write_cfile(cfile, SHA_A)
    remembered(root, cfile)
    before = cfile.stat()
    text = cfile.read_text().replace(SHA_A, SHA_B)
    with open(cfile, "r+", encoding="utf-8") as f:
        f.write(text)
    os.utime(cfile, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = cfile.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert remembered(root, cfile).checksum == SHA_B
    assert len(reads) == 2


def test_a_cfile_read_just_after_it_was_written_is_read_again(
    root: Path, reads: list[Path]
) -> None:
    """Written in the same clock tick as it was read, it could change without its mtime
    moving: what was remembered then is not trusted."""
    cfile = root / "a.bin.cfile"
    write_cfile(cfile, SHA_A, age_ns=RACY_NS // 4)
    remembered(root, cfile)
    remembered(root, cfile)
    assert len(reads) == 2


def test_a_link_in_place_of_a_remembered_cfile_is_refused(root: Path) -> None:
    cfile = root / "a.bin.cfile"
    write_cfile(cfile, SHA_A)
    remembered(root, cfile)
    target = root / "elsewhere.cfile"
    write_cfile(target, SHA_A)
    cfile.unlink()
    cfile.symlink_to(target)
    with pytest.raises(MetadataError, match="symbolic link"):
        remembered(root, cfile)


def test_a_removed_cfile_is_reported_missing(root: Path) -> None:
    cfile = root / "a.bin.cfile"
    write_cfile(cfile, SHA_A)
    remembered(root, cfile)
    cfile.unlink()
    with pytest.raises(MetadataError, match="no such metadata file"):
        remembered(root, cfile)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("name", "../../etc/passwd"),
        ("name", None),
        ("checksum", "not a sha256"),
        ("object_size", -1),
        ("object_size", "three"),
        ("date_modified", b"\x00"),
        ("extra", "{not json"),
        ("extra", "[1, 2]"),
    ],
)
def test_a_forged_entry_with_the_right_signature_is_validated(
    root: Path, reads: list[Path], column: str, value: object
) -> None:
    """What the cache holds passes the same checks as the file would: an entry that does not is
    ignored, and the cfile itself is read."""
    cfile = root / "a.bin.cfile"
    write_cfile(cfile, SHA_A)
    remembered(root, cfile)
    st = cfile.stat()
    with contextlib.closing(sqlite3.connect(root / ".cavorite" / "state.db")) as db, db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute(
            f"UPDATE cfiles SET {column} = ? WHERE path = ? AND size = ? AND ino = ?",
            (value, "a.bin.cfile", st.st_size, st.st_ino),
        )
        assert db.total_changes == 1
    assert remembered(root, cfile).checksum == SHA_A
    assert len(reads) == 2


@pytest.mark.parametrize(
    ("column", "value"),
    [("name", "../x"), ("name", "a\nb"), ("checksum", SHA_A[:-1]), ("object_size", -1)],
)
def test_one_forged_cfile_entry_leaves_out_only_itself(
    root: Path, reads: list[Path], column: str, value: object
) -> None:
    """A directory's cfile rows are checked together: the forged one is read from its file,
    the others still come from the cache."""
    cfiles = [root / f"{i}.bin.cfile" for i in range(4)]
    for cfile in cfiles:
        write_cfile(cfile, SHA_A, extra={})
    cache = StateDB(root)
    for cfile in cfiles:
        cache.cfile(cfile)
    cache.close()
    with contextlib.closing(sqlite3.connect(root / ".cavorite" / "state.db")) as db, db:
        db.execute(f"UPDATE cfiles SET {column} = ? WHERE path = '2.bin.cfile'", (value,))
    reads.clear()
    with contextlib.closing(StateDB(root)) as cache:
        assert [cache.cfile(cfile).checksum for cfile in cfiles] == [SHA_A] * 4
    assert reads == [cfiles[2]]


def test_a_remembered_entry_keeps_other_tools_fields(root: Path, reads: list[Path]) -> None:
    cfile = root / "a.bin.cfile"
    write_cfile(cfile, SHA_A)
    first = remembered(root, cfile)
    with contextlib.closing(sqlite3.connect(root / ".cavorite" / "state.db")) as db:
        [(extra,)] = db.execute("SELECT extra FROM cfiles").fetchall()
    assert json.loads(extra) == {"tool": "x"}
    assert remembered(root, cfile) == first
    assert len(reads) == 1


def test_a_forged_entry_with_another_signature_is_not_used(root: Path, reads: list[Path]) -> None:
    cfile = root / "a.bin.cfile"
    write_cfile(cfile, SHA_A)
    remembered(root, cfile)
    with contextlib.closing(sqlite3.connect(root / ".cavorite" / "state.db")) as db, db:
        db.execute("UPDATE cfiles SET checksum = ?, ino = ino + 1", (SHA_B,))
    assert remembered(root, cfile).checksum == SHA_A
    assert len(reads) == 2


# ----------------------------------------------------------------- stored objects

STORE = "s3://bucket/prefix"


def stored(root: Path, key: str, listed: ObjectInfo) -> str | None:
    with contextlib.closing(StateDB(root)) as cache:
        return cache.object_sha256(STORE, key, listed)


def remember(root: Path, key: str, info: ObjectInfo) -> None:
    with contextlib.closing(StateDB(root)) as cache:
        cache.remember_object(STORE, key, info)


def test_a_stored_objects_sha256_is_known_only_at_the_same_version_and_size(root: Path) -> None:
    remember(root, "a.bin", ObjectInfo(3, SHA_A, '"etag-1"'))
    assert stored(root, "a.bin", ObjectInfo(3, None, '"etag-1"')) == SHA_A
    assert stored(root, "a.bin", ObjectInfo(3, None, '"etag-2"')) is None  # written again
    assert stored(root, "a.bin", ObjectInfo(4, None, '"etag-1"')) is None
    assert stored(root, "a.bin", ObjectInfo(3, None, None)) is None  # a listing without ETags
    assert stored(root, "b.bin", ObjectInfo(3, None, '"etag-1"')) is None
    with contextlib.closing(StateDB(root)) as cache:  # another store, same key
        assert cache.object_sha256("s3://other", "a.bin", ObjectInfo(3, None, '"etag-1"')) is None


def test_only_a_version_with_a_valid_sha256_is_remembered(root: Path) -> None:
    remember(root, "a.bin", ObjectInfo(3, None, '"etag-1"'))
    remember(root, "b.bin", ObjectInfo(3, SHA_A, None))
    remember(root, "c.bin", ObjectInfo(3, "not a sha256", '"etag-1"'))
    for key in ("a.bin", "b.bin", "c.bin"):
        assert stored(root, key, ObjectInfo(3, None, '"etag-1"')) is None


def test_a_forged_object_row_is_ignored(root: Path) -> None:
    remember(root, "a.bin", ObjectInfo(3, SHA_A, '"etag-1"'))
    with contextlib.closing(sqlite3.connect(root / ".cavorite" / "state.db")) as db, db:
        db.execute("UPDATE objects SET sha256 = 'x', size = '3'")
    assert stored(root, "a.bin", ObjectInfo(3, None, '"etag-1"')) is None


@pytest.mark.parametrize(
    "forged",
    [f"{SHA_A}\n{SHA_B}", SHA_A.upper(), SHA_A[:-1], SHA_A.encode(), 7, None],
    ids=["two-lines", "upper-case", "short", "blob", "integer", "null"],
)
def test_one_forged_row_leaves_out_only_itself(root: Path, forged: object) -> None:
    """A directory's rows are checked together: one that is not a sha256 is left out, and
    the others of the directory are still used."""
    files = [root / f"{i}.bin" for i in range(4)]
    with contextlib.closing(StateDB(root)) as cache:
        for i, path in enumerate(files):
            path.write_bytes(b"x")
            then = time.time_ns() - HOUR_NS
            os.utime(path, ns=(then, then))
            cache.remember(path, path.stat(), f"{i}" * 64)
            cache.remember_object(STORE, path.name, ObjectInfo(1, f"{i}" * 64, f"v{i}"))
    with contextlib.closing(sqlite3.connect(root / ".cavorite" / "state.db")) as db, db:
        db.execute("UPDATE hashes SET sha256 = ? WHERE path = '2.bin'", (forged,))
        db.execute("UPDATE objects SET sha256 = ? WHERE key = '2.bin'", (forged,))
    with contextlib.closing(StateDB(root)) as cache:
        hashes = [cache.lookup(path, path.stat()) for path in files]
        listed = [(p.name, ObjectInfo(1, None, f"v{i}")) for i, p in enumerate(files)]
        objects = [cache.object_sha256(STORE, key, seen) for key, seen in listed]
    assert hashes == objects == ["0" * 64, "1" * 64, None, "3" * 64]


def test_a_cache_written_before_objects_were_remembered_keeps_its_hashes(
    root: Path, reads: list[Path]
) -> None:
    cfile = root / "a.bin.cfile"
    write_cfile(cfile, SHA_A)
    remembered(root, cfile)
    with contextlib.closing(sqlite3.connect(root / ".cavorite" / "state.db")) as db, db:
        db.execute("DROP TABLE objects")
    assert stored(root, "a.bin", ObjectInfo(3, None, '"etag-1"')) is None
    assert remembered(root, cfile).checksum == SHA_A
    assert len(reads) == 1  # the cfile entry survived: the cache was not thrown away
    remember(root, "a.bin", ObjectInfo(3, SHA_A, '"etag-1"'))  # the table comes back
    assert stored(root, "a.bin", ObjectInfo(3, None, '"etag-1"')) == SHA_A


def test_an_entry_sqlite_cannot_hold_is_left_out_and_the_others_kept(root: Path) -> None:
    """Some file systems report inode numbers beyond SQLite's 64-bit integers."""
    (root / "a.bin").write_bytes(b"abc")
    real = os.lstat(root / "a.bin")
    huge = os.stat_result(
        (real.st_mode, 2**64 - 1, real.st_dev, 1, 0, 0, 3, 0, 0, 0, 0.0, 0.0, 0.0, 1, 1, 1)
    )
    with contextlib.closing(StateDB(root)) as cache:
        cache.remember(root / "a.bin", real, SHA_A)
        cache.remember(root / "b.bin", huge, SHA_B)
    with contextlib.closing(sqlite3.connect(root / ".cavorite" / "state.db")) as db:
        assert db.execute("SELECT path, sha256 FROM hashes").fetchall() == [("a.bin", SHA_A)]


# ----------------------------------------------------------------- a planted database

RECURSIVE = (
    "WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r) "
    "SELECT 'a.bin', 3, n, n, n, n, n, 'x' FROM r"
)
PLANTS = {
    "recursive-view": [
        "DROP TABLE hashes",
        "CREATE VIEW hashes (path, size, mtime_ns, ctime_ns, ino, dev, hashed_ns, sha256) "
        f"AS {RECURSIVE}",
    ],
    "trigger": [
        "CREATE TRIGGER forever AFTER INSERT ON hashes BEGIN "
        f"INSERT INTO cfiles (path) SELECT n FROM ({RECURSIVE}); END"
    ],
    "extra-table": ["CREATE TABLE more (x)"],
    "other-columns": ["DROP TABLE objects", "CREATE TABLE objects (store, key)"],
}


def finished_within(seconds: float, work: Callable[[], None]) -> bool:
    """Whether ``work`` returns within ``seconds`` (a query that never ends blocks in C, out of
    reach of any signal: it runs in a thread left behind)."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


@pytest.mark.parametrize("plant", PLANTS.values(), ids=PLANTS.keys())
def test_a_database_holding_other_schema_objects_is_rebuilt_not_queried(
    root: Path, plant: list[str]
) -> None:
    """A committed or planted state.db whose tables were replaced or joined by other objects (a
    view that never ends, a trigger, another table) is thrown away before any query."""
    artifact = root / "a.bin"
    artifact.write_bytes(b"abc")
    then = time.time_ns() - HOUR_NS
    os.utime(artifact, ns=(then, then))
    with contextlib.closing(StateDB(root)) as cache:
        cache.remember(artifact, artifact.stat(), SHA_A)
    path = root / ".cavorite" / "state.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        for statement in plant:
            db.execute(statement)

    def use() -> None:
        with contextlib.closing(StateDB(root)) as cache:
            assert cache.lookup(artifact, artifact.stat()) is None
            cache.remember(artifact, artifact.stat(), SHA_B)
            cache.remember_object("s3://b", "a.bin", ObjectInfo(3, SHA_B, '"e"'))

    assert finished_within(10, use)
    with contextlib.closing(sqlite3.connect(path)) as db:
        kinds = db.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
        assert db.execute("SELECT path, sha256 FROM hashes").fetchall() == [("a.bin", SHA_B)]
    assert kinds == [
        ("table", "cfiles"),
        ("table", "hashes"),
        ("table", "objects"),
        ("index", OBJECTS_BY_CONTENT),
        ("table", "placed"),
        ("index", "sqlite_autoindex_cfiles_1"),
        ("index", "sqlite_autoindex_hashes_1"),
        ("index", "sqlite_autoindex_objects_1"),
        ("index", "sqlite_autoindex_placed_1"),
    ]


def test_placed_contents_are_remembered_per_path_and_bounded(root: Path) -> None:
    """The contents cavorite placed at a path survive a new run, the most recent first kept;
    a missing cache knows none (an outdated file then looks modified, never the reverse)."""
    artifact = root / "a.bin"
    many = [f"{n:064x}" for n in range(PLACED_PER_PATH + 3)]
    with contextlib.closing(StateDB(root)) as cache:
        for sha in many:
            cache.remember_placed(artifact, sha)
        cache.remember_placed(artifact, many[0])
        cache.remember_placed(artifact, "not a sha256")
    with contextlib.closing(StateDB(root)) as cache:
        assert cache.placed(artifact) == {many[0], *many[-(PLACED_PER_PATH - 1) :]}
        assert cache.placed(root / "b.bin") == frozenset()
    (root / ".cavorite" / "state.db").unlink()
    with contextlib.closing(StateDB(root)) as cache:
        assert cache.placed(artifact) == frozenset()


@pytest.mark.parametrize(
    ("forged", "kept"),
    [(f"{SHA_A}\n{SHA_B}", {SHA_A, SHA_B}), (f"{SHA_A} x", {SHA_A}), (SHA_A.upper(), set())],
    ids=["line-break", "not-a-sha256", "upper-case"],
)
def test_one_forged_placed_row_leaves_out_only_what_is_not_a_sha256(
    root: Path, forged: str, kept: set[str]
) -> None:
    """A directory's placed rows are checked together: in a forged one, only the sha256s
    count; the other rows are used as they are."""
    with contextlib.closing(StateDB(root)) as cache:
        cache.remember_placed_in(root, [(f"{i}.bin", f"{i}" * 64) for i in range(3)])
    with contextlib.closing(sqlite3.connect(root / ".cavorite" / "state.db")) as db, db:
        db.execute("UPDATE placed SET sha256s = ? WHERE path = '1.bin'", (forged,))
    with contextlib.closing(StateDB(root)) as cache:
        placed = [cache.placed(root / f"{i}.bin") for i in range(3)]
    assert placed == [{"0" * 64}, kept, {"2" * 64}]


def test_contents_placed_in_a_directory_are_remembered_as_one_by_one(root: Path) -> None:
    """remember_placed_in (a directory's files at once) remembers what remember_placed does
    for each file: in the root and below it; a name SQLite cannot hold or a value that is not
    a sha256 is left out."""
    (root / "d").mkdir()
    odd = os.fsdecode(b"odd-\xff.bin")
    with contextlib.closing(StateDB(root)) as cache:
        cache.remember_placed_in(root, [("a.bin", SHA_A), ("b.bin", "not a sha256")])
        cache.remember_placed_in(root / "d", [("a.bin", SHA_B), (odd, SHA_A), ("a.bin", SHA_A)])
    with contextlib.closing(StateDB(root)) as cache:
        assert cache.placed(root / "a.bin") == {SHA_A}
        assert cache.placed(root / "b.bin") == frozenset()
        assert cache.placed(root / "d" / "a.bin") == {SHA_A, SHA_B}
        assert cache.placed(root / "d" / odd) == frozenset()
        cache.remember_placed(root / "d" / "a.bin", SHA_B)
        assert cache.placed(root / "d" / "a.bin") == {SHA_A, SHA_B}


def test_objects_are_found_by_content_with_or_without_a_version(root: Path) -> None:
    sha = "a" * 64
    cache = StateDB(root)
    cache.remember_object("s", "a.bin@" + sha, ObjectInfo(3, sha))
    cache.remember_object("s", "b.bin", ObjectInfo(3, sha, "etag-1"))
    cache.remember_object("other", "c.bin", ObjectInfo(3, sha, "etag-2"))
    assert cache.objects_holding("s", sha) == ["a.bin@" + sha, "b.bin"]
    # an entry without a version never answers for a listing
    assert cache.object_sha256("s", "a.bin@" + sha, ObjectInfo(3, None, "")) is None
    cache.close()
    again = StateDB(root)
    assert again.objects_holding("s", sha) == ["a.bin@" + sha, "b.bin"]
    assert again.objects_holding("s", "b" * 64) == []


def test_objects_are_found_by_content_through_the_index(root: Path) -> None:
    with contextlib.closing(StateDB(root)) as cache:
        for i in range(50):
            cache.remember_object("s", f"k{i}", ObjectInfo(1, f"{i:02x}" * 32, "v1"))
    with contextlib.closing(sqlite3.connect(root / ".cavorite" / "state.db")) as db:
        plan = db.execute(f"EXPLAIN QUERY PLAN SELECT key FROM objects WHERE {HOLDING}", ("", ""))
        assert [row[-1] for row in plan] == [
            f"SEARCH objects USING INDEX {OBJECTS_BY_CONTENT} (<expr>=?)"
        ]
    with contextlib.closing(StateDB(root)) as cache:
        assert cache.objects_holding("s", "07" * 32) == ["k7"]
        # the same first 16 digits, another content
        assert cache.objects_holding("s", "07" * 8 + "f" * 48) == []
        assert cache.objects_holding("t", "07" * 32) == []


def test_objects_learnt_are_found_by_content_before_and_after_they_are_written(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cavorite_py.state.FLUSH_ROWS", 2)
    with contextlib.closing(StateDB(root)) as cache:
        for name in ("a", "b", "c"):
            cache.remember_object("s", name, ObjectInfo(1, SHA_A, "v1"))
            assert cache.objects_holding("s", SHA_A) == ["a", "b", "c"][: "abc".index(name) + 1]
        # two written as the run went (what was learnt is not also kept), one still to write
        assert cache._learnt_holding == {("s", SHA_A): {"c"}}


def test_objects_learnt_are_still_found_when_another_run_holds_the_file(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write skipped (the file locked by another run) keeps what was learnt for the run."""
    monkeypatch.setattr("cavorite_py.statefile.WRITE_WAIT", 0.05)
    with contextlib.closing(StateDB(root)) as cache:
        cache.remember_object("s", "a", ObjectInfo(1, SHA_A, "v1"))
    holder = sqlite3.connect(root / ".cavorite" / "state.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        cache = StateDB(root)
        cache.remember_object("s", "b", ObjectInfo(1, SHA_A, "v2"))
        cache.flush()
        assert cache._learnt_holding == {("s", SHA_A): {"b"}}
        holder.execute("COMMIT")
        assert cache.objects_holding("s", SHA_A) == ["a", "b"]
        cache.remember_object("s", "c", ObjectInfo(1, SHA_A, "v3"))
        cache.flush()
        # written this time: found by the index alone
        assert cache._learnt_holding == {}
        assert {"a", "c"} <= set(cache.objects_holding("s", SHA_A))
        cache.close()
    finally:
        holder.close()


def without_the_index(root: Path) -> Path:
    """A state cache file as an earlier version wrote it (no index by content), remembering
    one object, a.bin, holding SHA_A; its path."""
    with contextlib.closing(StateDB(root)) as cache:
        cache.remember_object("s", "a.bin", ObjectInfo(3, SHA_A, "v1"))
    path = root / ".cavorite" / "state.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(f"DROP INDEX {OBJECTS_BY_CONTENT}")
    return path


def test_objects_by_content_are_prepared_before_a_fork(root: Path) -> None:
    """Without the index, the table is read once, in the parent, before children ask."""
    path = without_the_index(root)
    cache = StateDB(root)
    cache.prepare_holding()
    assert cache._holding == {("s", SHA_A): {"a.bin"}}
    cache.forked()
    path.unlink()
    assert cache.objects_holding("s", SHA_A) == ["a.bin"]
    cache.close()


def test_objects_are_found_by_content_in_a_file_without_the_index(root: Path) -> None:
    """An earlier version's file: the table is read whole; the next write adds the index."""
    path = without_the_index(root)
    assert not StateFile(path).has_index(OBJECTS_BY_CONTENT)
    with contextlib.closing(StateDB(root)) as cache:
        assert cache.objects_holding("s", SHA_A) == ["a.bin"]
        cache.remember_object("s", "b.bin", ObjectInfo(3, SHA_A, "v2"))
        assert cache.objects_holding("s", SHA_A) == ["a.bin", "b.bin"]
    assert StateFile(path).has_index(OBJECTS_BY_CONTENT)
    with contextlib.closing(StateDB(root)) as cache:
        assert cache.objects_holding("s", SHA_A) == ["a.bin", "b.bin"]


def test_a_forked_cache_reads_by_a_connection_of_its_own_and_writes_nothing(root: Path) -> None:
    with contextlib.closing(StateDB(root)) as cache:
        cache.remember_object("s", "a.bin", ObjectInfo(3, SHA_A, "v1"))
    path = root / ".cavorite" / "state.db"
    before = path.read_bytes()
    cache = StateDB(root)
    cache.remember_object("s", "b.bin", ObjectInfo(3, SHA_A, "v2"))
    assert cache.objects_holding("s", SHA_A) == ["a.bin", "b.bin"]
    parents = cache._file
    cache.forked()
    assert cache._file is not parents and cache._file.read_only
    # the file's entry and the one learnt before the fork, read without the parent's connection
    parents.close()
    assert cache.objects_holding("s", SHA_A) == ["a.bin", "b.bin"]
    cache.remember_object("s", "c.bin", ObjectInfo(3, SHA_A, "v3"))
    cache.close()
    assert path.read_bytes() == before


def test_a_read_only_state_file_leaves_a_damaged_file_alone(root: Path) -> None:
    path = root / ".cavorite" / "state.db"
    path.write_bytes(b"not a database" * 100)
    assert StateFile(path, read_only=True).read("objects", "key") == []
    assert path.read_bytes() == b"not a database" * 100
    # the parent's own file is thrown away and rebuilt
    assert StateFile(path).read("objects", "key") == []
    assert not path.exists()


def test_entries_are_read_back_directory_by_directory(root: Path) -> None:
    """Each directory's rows are read on their own: a sibling whose name extends another's, a
    nested directory and the root each get theirs, none another's."""
    paths = ["a.bin", "d/a.bin", "d/e/a.bin", "d0/a.bin", "d-x/a.bin", "dé/a.bin"]
    old = time.time_ns() - HOUR_NS
    for i, rel in enumerate(paths):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * i)
        os.utime(root / rel, ns=(old, old))
    with contextlib.closing(StateDB(root)) as cache:
        for i, rel in enumerate(paths):
            cache.remember(root / rel, os.stat(root / rel), f"{i:x}" * 64)
            cache.remember_placed(root / rel, f"{i:x}" * 64)
        cache.remember_object("s", "k/a", ObjectInfo(1, SHA_A, "v1"))
    with contextlib.closing(StateDB(root)) as cache:
        for i, rel in reversed(list(enumerate(paths))):
            assert cache.lookup(root / rel, os.stat(root / rel)) == f"{i:x}" * 64
            assert cache.placed(root / rel) == {f"{i:x}" * 64}
        assert cache.object_sha256("s", "k/a", ObjectInfo(1, None, "v1")) == SHA_A
        assert cache.object_sha256("s", "k/b", ObjectInfo(1, None, "v1")) is None
        assert cache.objects_holding("s", SHA_A) == ["k/a"]


def test_a_long_run_writes_what_it_learnt_as_it_goes(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cavorite_py.state.FLUSH_ROWS", 2)
    cache = StateDB(root)
    for name in ("a", "b", "c"):
        cache.remember_placed(root / name, SHA_A)
    # written before the run ends (two rows), and still known to the run
    with contextlib.closing(StateDB(root)) as other:
        assert [other.placed(root / n) for n in "abc"] == [{SHA_A}, {SHA_A}, frozenset()]
    assert cache.placed(root / "c") == {SHA_A}
    cache.close()


def test_a_write_is_one_transaction(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The schema's statements and the rows are committed together, once (each commit syncs
    the file and its journal); the schema version is written only when it changes."""
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db: sqlite3.Connection = connect(*args, **kwargs)
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced)
    state = StateFile(root / ".cavorite" / "state.db")
    for sha, versioned in ((SHA_A, True), (SHA_B, False)):
        statements.clear()
        assert state.write({"objects": [("s", "k", "v1", 1, sha)]})
        assert statements[0] == "BEGIN IMMEDIATE"
        assert statements[-1] == "COMMIT"
        assert "COMMIT" not in statements[:-1]
        assert any(s.startswith("PRAGMA user_version =") for s in statements) is versioned
    state.close()
    assert StateFile(root / ".cavorite" / "state.db").read("objects", "sha256") == [(SHA_B,)]
