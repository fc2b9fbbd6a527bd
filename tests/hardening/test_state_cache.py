"""The state cache (``.cavorite/state.db``) damaged, locked, forged or replaced by a link: it only
ever saves work, so each case must end with the same answers as without it, no crash, and
nothing written outside the repository.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cavorite_py.statefile import SCHEMA_VERSION
from tests.fixtures.repos import Cavorite, CliResult

from .conftest import GOOD
from .support import assert_no_crash, read_only, sha256

STATE = Path(".cavorite") / "state.db"


def outcomes(stdout: str) -> dict[str, str]:
    return {f["path"]: f["outcome"] for f in json.loads(stdout)["files"]}


@pytest.fixture
def modified(repo: Path, cavorite: Cavorite) -> Path:
    """``good.bin`` edited locally (same size), after a status has cached its old hash."""
    assert cavorite("status", cwd=repo).code == 0
    data = bytearray(GOOD)
    data[0] ^= 0xFF
    (repo / "good.bin").write_bytes(bytes(data))
    return repo


def assert_answers_right(repo: Path, cavorite: Cavorite) -> None:
    """``good.bin`` is reported modified (its content differs from the cfile) and retrieve
    refuses to overwrite it."""
    status = cavorite("status", "--json", cwd=repo, timeout=60)
    assert_no_crash(status)
    assert outcomes(status.stdout) == {"good.bin": "modified"}
    retrieve = cavorite("retrieve", cwd=repo, timeout=60)
    assert retrieve.code == 1 and "modified locally" in retrieve.stderr


@pytest.mark.parametrize(
    "garbage",
    [b"", b"garbage" * 1000, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["empty", "garbage", "bad-pages"],
)
def test_a_damaged_cache_is_rebuilt(modified: Path, cavorite: Cavorite, garbage: bytes) -> None:
    (modified / STATE).write_bytes(garbage)
    assert_answers_right(modified, cavorite)
    with contextlib.closing(sqlite3.connect(modified / STATE)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT count(*) FROM hashes").fetchone()[0] >= 1


def test_a_forged_cache_is_not_trusted(modified: Path, cavorite: Cavorite) -> None:
    """A state.db committed in a hostile repository (or copied from another machine) claims the
    edited file has the cfile's hash: its entry's stat signature cannot match this file."""
    cache = modified / STATE
    cache.unlink()
    st = (modified / "good.bin").stat()
    rows = [
        # right path and hash, another file's inode, device and ctime
        ("good.bin", st.st_size, st.st_mtime_ns, 1, 12345, 1, st.st_mtime_ns + 10**12),
        # the right signature, but hashed in the same instant the file was written
        ("good.bin", st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, 0),
    ]
    for row in rows:
        with contextlib.closing(sqlite3.connect(cache)) as db, db:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute(
                "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER, ctime_ns INTEGER, ino INTEGER, dev INTEGER, "
                "hashed_ns INTEGER, sha256 TEXT)"
            )
            db.execute(
                "INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?,?,?,?)", (*row, sha256(GOOD))
            )
        assert_answers_right(modified, cavorite)


def test_a_cache_with_values_of_the_wrong_types(modified: Path, cavorite: Cavorite) -> None:
    """SQLite stores any type in any column: text where integers belong must not crash, even in
    an entry whose stat signature matches."""
    cache = modified / STATE
    st = (modified / "good.bin").stat()
    signature = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    with contextlib.closing(sqlite3.connect(cache)) as db, db:
        db.execute("DELETE FROM hashes")
        db.execute(
            "INSERT INTO hashes VALUES ('good.bin', ?, ?, ?, ?, ?, 'late', ?)",
            (*signature, sha256(GOOD)),
        )
        db.execute("INSERT INTO hashes VALUES (5, 'x', 2.5, NULL, X'00', 5, 6, 7)")
    assert_answers_right(modified, cavorite)


class QuickLockCavorite(Cavorite):
    """The command with the state cache's lock waits (``READ_WAIT``, ``WRITE_WAIT``) lowered to
    a tenth of a second, so that a test of a locked cache does not wait them out."""

    LAUNCHER = (
        "import cavorite_py.statefile as s; s.READ_WAIT = s.WRITE_WAIT = 0.1; "
        "from cavorite_py.__main__ import main; main()"
    )

    def __call__(
        self, *args: str | os.PathLike[str], cwd: Path, timeout: float = 120, **_: object
    ) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-c", self.LAUNCHER, *(os.fspath(a) for a in args)],
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)


def test_a_locked_cache_is_waited_for_briefly_then_ignored(
    modified: Path, cavorite: Cavorite
) -> None:
    """Another process holds an exclusive lock: the commands still answer right, within a few
    seconds, and leave the other process's database alone."""
    cavorite = QuickLockCavorite(cavorite.env)
    cache = modified / STATE
    inode = cache.stat().st_ino
    holder = sqlite3.connect(cache, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        assert_answers_right(modified, cavorite)
        (modified / "new.bin").write_bytes(b"new")
        upload = cavorite("upload", "new.bin", cwd=modified, timeout=60)
        assert upload.code == 0, upload.stderr
        assert cache.stat().st_ino == inode, "the locked database was deleted"
        holder.execute("COMMIT")
    finally:
        holder.close()


@pytest.mark.parametrize("name", ["state.db", "state.db-journal", ".gitignore"])
def test_a_link_in_place_of_the_cache_is_not_written_through(
    modified: Path, cavorite: Cavorite, tmp_path: Path, name: str
) -> None:
    """A hostile repository commits ``.cavorite/state.db`` (or its journal, or the .gitignore
    beside it) as a link to a file of the user's: nothing may be written there."""
    victim = tmp_path / "victim.db"
    with contextlib.closing(sqlite3.connect(victim)) as db, db:
        db.execute("CREATE TABLE precious (x)")
        db.execute("INSERT INTO precious VALUES ('do not touch')")
    before = victim.read_bytes()
    for path in (modified / ".cavorite").glob("state.db*"):
        path.unlink()
    (modified / ".cavorite" / ".gitignore").unlink()
    (modified / ".cavorite" / name).symlink_to(victim)
    assert_answers_right(modified, cavorite)
    assert victim.read_bytes() == before


@pytest.mark.parametrize("name", ["state.db", ".gitignore"])
def test_a_dangling_link_in_place_of_the_cache_creates_nothing(
    modified: Path, cavorite: Cavorite, tmp_path: Path, name: str
) -> None:
    """Through a dangling link SQLite would create a file anywhere the user can write, holding
    names that the repository chose (e.g. a shell start-up file)."""
    target = tmp_path / "home" / ".bash_profile_would_be"
    for path in (modified / ".cavorite").glob("state.db*"):
        path.unlink()
    (modified / ".cavorite" / ".gitignore").unlink()
    (modified / ".cavorite" / name).symlink_to(target)
    assert_answers_right(modified, cavorite)
    assert not target.exists()


def test_a_directory_in_place_of_the_cache(modified: Path, cavorite: Cavorite) -> None:
    for path in (modified / ".cavorite").glob("state.db*"):
        path.unlink()
    (modified / STATE).mkdir()
    (modified / STATE / "keep").write_text("not ours")
    assert_answers_right(modified, cavorite)
    assert (modified / STATE / "keep").read_text() == "not ours"


def test_a_cache_in_a_read_only_config_directory(modified: Path, cavorite: Cavorite) -> None:
    for path in (modified / ".cavorite").glob("state.db*"):
        path.unlink()
    with read_only(modified / ".cavorite"):
        assert_answers_right(modified, cavorite)
    assert not (modified / STATE).exists()
