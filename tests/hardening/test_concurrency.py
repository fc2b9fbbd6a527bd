"""Runs that overlap: two retrieves of one repository, two uploads of one key, a file that
changes while it is being uploaded.

The command is the installed package's, with the local store's copying slowed down
(``slowcli.py``) so that the runs really overlap; the API tests change a file from inside a
store's ``put``, at a precise moment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cavorite_localstore import LocalStore

from cavorite_py import metadata
from cavorite_py.engine import Engine
from cavorite_py.errors import FileChangedError
from cavorite_py.results import Outcome
from cavorite_py.stores.base import ObjectInfo, Progress, StoreSettings
from cavorite_py.workspace import Workspace
from tests.fixtures.repos import Cavorite, git

from .interrupt import partial_temps, running, temp_area, wait_for
from .support import error_lines, sha256, temp_files

MIB = 1 << 20
SLOW = {"CAVORITE_SLOW_CHUNK": str(64 << 10), "CAVORITE_SLOW_DELAY": "0.02"}


def stored(objects: Path, key: str) -> bytes | None:
    path = objects / key
    return path.read_bytes() if path.is_file() else None


@pytest.fixture
def tracked(repo: Path, cavorite: Cavorite) -> dict[str, bytes]:
    """Six artifacts of 1 MiB in two directories, uploaded and committed, then removed."""
    files = {f"{d}/f{i}.bin": os.urandom(MIB) for d in ("a", "b") for i in range(3)}
    for name, data in files.items():
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_bytes(data)
    assert cavorite("upload", "a", "b", cwd=repo).code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "six files")
    for name in files:
        (repo / name).unlink()
    return files


# --------------------------------------------------------------------- two retrieves


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_two_retrieves_of_one_repository_at_once(
    repo: Path, tracked: dict[str, bytes], cavorite: Cavorite, tmp_path: Path, jobs: str
) -> None:
    args = ["retrieve", "--jobs", jobs]
    with (
        running(args, repo, cavorite.env, tmp_path / "first", **SLOW) as first,
        running(args, repo, cavorite.env, tmp_path / "second", **SLOW) as second,
    ):
        wait_for("both runs downloading", lambda: len(partial_temps(temp_area(repo))) >= 1)
        results = [first.wait(), second.wait()]
    for result in results:
        assert result.code == 0, result.stdout + result.stderr
        assert error_lines(result) == []
        assert "Traceback" not in result.stderr
    for name, data in tracked.items():
        assert (repo / name).read_bytes() == data
    assert temp_files(repo) == []
    again = cavorite("retrieve", "--json", cwd=repo)
    assert {f["outcome"] for f in json.loads(again.stdout)["files"]} == {"up-to-date"}


def test_a_quick_retrieve_during_a_slow_one(
    repo: Path, tracked: dict[str, bytes], cavorite: Cavorite, tmp_path: Path
) -> None:
    """The quick run finishes files the slow one is still downloading; the slow one then puts
    identical verified bytes in place, and both report success."""
    with running(["retrieve", "--jobs", "1"], repo, cavorite.env, tmp_path / "slow", **SLOW) as r:
        wait_for("the slow run downloading", lambda: bool(partial_temps(temp_area(repo))))
        quick = cavorite("retrieve", cwd=repo)
        slow = r.wait()
    for result in (quick, slow):
        assert result.code == 0, result.stdout + result.stderr
        assert error_lines(result) == []
    for name, data in tracked.items():
        assert (repo / name).read_bytes() == data
    assert temp_files(repo) == []


# --------------------------------------------------------------------- two uploads


def test_two_uploads_of_the_same_file_at_once(
    repo: Path, cavorite: Cavorite, tmp_path: Path, local_objects: Path
) -> None:
    data = os.urandom(2 * MIB)
    (repo / "big.bin").write_bytes(data)
    args = ["upload", "--json", "big.bin"]
    with (
        running(args, repo, cavorite.env, tmp_path / "first", **SLOW) as first,
        running(args, repo, cavorite.env, tmp_path / "second", **SLOW) as second,
    ):
        results = [first.wait(), second.wait()]
    outcomes = set()
    for result in results:
        assert result.code == 0, result.stdout + result.stderr
        outcomes |= {f["outcome"] for f in json.loads(result.stdout)["files"]}
    assert outcomes <= {"uploaded", "already-stored"} and "uploaded" in outcomes
    assert stored(local_objects, "big.bin") == data
    assert metadata.read(repo / "big.bin.cfile").checksum == sha256(data)
    assert (repo / ".gitignore").read_text().count("/big.bin\n") == 1


def test_two_clones_racing_different_content_to_one_key(
    repo: Path, cavorite: Cavorite, tmp_path: Path, local_objects: Path
) -> None:
    """Both see the key absent and send; the store keeps exactly one. The other run must end
    with a conflict and no cfile: its cfile would point at content that is not its own."""
    clone = tmp_path / "clone"  # its store address ../objects is the same directory
    git(tmp_path, "clone", "--quiet", str(repo), str(clone))
    mine, theirs = os.urandom(2 * MIB), os.urandom(2 * MIB)
    (repo / "x.bin").write_bytes(mine)
    (clone / "x.bin").write_bytes(theirs)
    args = ["upload", "x.bin"]
    with (
        running(args, repo, cavorite.env, tmp_path / "mine", **SLOW) as a,
        running(args, clone, cavorite.env, tmp_path / "theirs", **SLOW) as b,
    ):
        results = {repo: a.wait(), clone: b.wait()}
    winners = [r for r, result in results.items() if result.code == 0]
    losers = [r for r, result in results.items() if result.code != 0]
    assert len(winners) == 1 and len(losers) == 1, results
    [winner], [loser] = winners, losers
    [line] = error_lines(results[loser])
    assert "the store already holds different content under 'x.bin'" in line
    assert "--force" in line
    assert not (loser / "x.bin.cfile").exists()
    content = (winner / "x.bin").read_bytes()
    assert stored(local_objects, "x.bin") == content
    assert metadata.read(winner / "x.bin.cfile").checksum == sha256(content)


@pytest.mark.parametrize("directory", [".", "d/e"])
def test_two_uploads_finishing_together_both_update_gitignore(
    repo: Path, cavorite: Cavorite, tmp_path: Path, directory: str
) -> None:
    """Both add a line to the same .gitignore (the root's, or a subdirectory's)."""
    where = repo / directory
    where.mkdir(parents=True, exist_ok=True)
    (where / "x.bin").write_bytes(b"x" * 1000)
    (where / "y.bin").write_bytes(b"y" * 1000)
    slow = {**SLOW, "CAVORITE_SLOW_GITIGNORE": "1.5"}
    with (
        running(["upload", "x.bin"], where, cavorite.env, tmp_path / "x", **slow) as x,
        running(["upload", "y.bin"], where, cavorite.env, tmp_path / "y", **slow) as y,
    ):
        assert x.wait().code == 0 and y.wait().code == 0
    lines = (where / ".gitignore").read_text().splitlines()
    assert lines.count("/x.bin") == 1 and lines.count("/y.bin") == 1


# --------------------------------------------------------------------- a file changing


def _append(path: Path) -> None:
    with open(path, "ab") as f:
        f.write(b"more")


def _rewrite_keeping_size_and_mtime(path: Path) -> None:
    st = path.stat()
    with open(path, "r+b") as f:
        f.write(b"X" * 4096)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(1000)


def _replace(path: Path) -> None:
    new = path.with_name("new.tmp")
    new.write_bytes(os.urandom(path.stat().st_size))
    os.replace(new, path)


CHANGES: dict[str, Callable[[Path], None]] = {
    "append": _append,
    "same-size-mtime-restored": _rewrite_keeping_size_and_mtime,
    "truncate": _truncate,
    "replaced-by-rename": _replace,
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_file_changed_during_upload_through_the_command(
    repo: Path,
    cavorite: Cavorite,
    tmp_path: Path,
    local_objects: Path,
    change: Callable[[Path], None],
) -> None:
    data = os.urandom(4 * MIB)
    (repo / "big.bin").write_bytes(data)
    (repo / "other.bin").write_bytes(b"unaffected")
    gitignore = (repo / ".gitignore").read_bytes()
    args = ["upload", "--json", "--jobs", "1", "big.bin", "other.bin"]
    with running(args, repo, cavorite.env, tmp_path / "run", **SLOW) as run:
        wait_for("the upload under way", lambda: bool(partial_temps(local_objects, MIB // 2)))
        change(repo / "big.bin")
        result = run.wait()
    assert result.code == 1, result.stdout + result.stderr
    files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
    assert files["other.bin"]["outcome"] == "uploaded"
    error = files["big.bin"]["error"]
    assert error["type"] == "FileChangedError"
    assert "changed while it was being uploaded; no cfile written" in error["message"]
    assert not (repo / "big.bin.cfile").exists()
    assert stored(local_objects, "big.bin") is None
    assert (repo / ".gitignore").read_bytes() == gitignore + b"/other.bin\n"
    # uploaded again once it is stable, it gets its cfile
    again = cavorite("upload", "big.bin", cwd=repo)
    assert again.code == 0, again.stderr
    assert metadata.read(repo / "big.bin.cfile").checksum == sha256((repo / "big.bin").read_bytes())


class ChangingStore(LocalStore):
    """A local store that lets ``change`` run in the middle of each ``put``."""

    change: Callable[[Path], None] = staticmethod(lambda path: None)

    def put(
        self,
        key: str,
        path: Path,
        info: ObjectInfo,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.change(path)
        super().put(key, path, info, overwrite, progress)


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_file_changed_during_put_through_the_api(
    tmp_path: Path, change: Callable[[Path], None]
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.bin").write_bytes(os.urandom(MIB))
    store = ChangingStore(StoreSettings((tmp_path / "objects").as_uri()))
    store.change = change
    engine = Engine(Workspace(root), lambda: store)
    report = engine.upload([root / "a.bin"])
    [result] = report.results
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, FileChangedError)
    assert not (root / "a.bin.cfile").exists()
    assert list(store.list()) == []
    assert [p.name for p in root.iterdir()] == ["a.bin"]


def test_changed_files_do_not_stop_the_others(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for i in range(8):
        (root / f"f{i}.bin").write_bytes(os.urandom(1000))
    store = ChangingStore(StoreSettings((tmp_path / "objects").as_uri()))
    store.change = lambda p: _append(p) if p.name in ("f2.bin", "f5.bin") else None
    report = Engine(Workspace(root), lambda: store, jobs=4).upload(sorted(root.iterdir()))
    failed = sorted(r.path.name for r in report.results if r.failed)
    assert failed == ["f2.bin", "f5.bin"]
    assert sorted(store.list()) == sorted(f"f{i}.bin" for i in range(8) if i not in (2, 5))
    cfiles = sorted(p.name for p in root.glob("*.cfile"))
    assert cfiles == sorted(f"f{i}.bin.cfile" for i in range(8) if i not in (2, 5))


def test_retrieve_while_the_store_object_is_replaced(
    repo: Path, tracked: dict[str, bytes], cavorite: Cavorite, tmp_path: Path, local_objects: Path
) -> None:
    """Someone overwrites an object in the store while the run downloads another: when its turn
    comes its bytes no longer match the cfile; the download is deleted, the error says so, and
    the other files arrive."""
    with running(["retrieve", "--jobs", "1", "a"], repo, cavorite.env, tmp_path / "r", **SLOW) as r:
        wait_for("the first download under way", lambda: bool(partial_temps(temp_area(repo))))
        replacement = local_objects / "a" / "replacement"
        replacement.write_bytes(os.urandom(MIB))
        os.replace(replacement, local_objects / "a" / "f2.bin")
        result = r.wait()
    assert result.code == 1, result.stderr
    [line] = error_lines(result)
    assert "a/f2.bin: downloaded content does not match its cfile" in line
    for name in ("a/f0.bin", "a/f1.bin"):
        assert (repo / name).read_bytes() == tracked[name]
    assert not (repo / "a" / "f2.bin").exists()
    assert temp_files(repo) == []
