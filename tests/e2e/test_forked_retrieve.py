"""A retrieve of many files from the local store shares them between processes, one per core:
the files, the state cache's knowledge, the content cache's entries, the messages and the exit
code are what one process alone gives."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import pytest

from cavorite_py.forking import FORK_FILES
from tests.fixtures.repos import Cavorite, git, tree

FILES = FORK_FILES + 20
IN_CHILD = re.compile(r": retrieved in a child process$", re.MULTILINE)
# a file's work done by the run's usual path (a file the state cache answers for logs nothing)
WORKED = re.compile(r": [a-z-]+ in [0-9.]+ s", re.MULTILINE)

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or len(os.sched_getaffinity(0)) < 2,
    reason="processes are forked only with two cores or more",
)


@pytest.fixture
def source(cavorite_repo: Path, cavorite: Cavorite) -> Path:
    """A repository whose FILES small files are uploaded to its local store and committed."""
    for i in range(FILES):
        path = cavorite_repo / "data" / f"d{i % 7}" / f"f{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%d\0" % i * (1 + i % 50))
    result = cavorite("-q", "upload", "data", cwd=cavorite_repo)
    assert result.code == 0, result.stderr
    git(cavorite_repo, "add", "-A")
    git(cavorite_repo, "commit", "-qm", "data")
    return cavorite_repo


def clone(source: Path, name: str) -> Path:
    target = source.parent / name
    git(source.parent, "clone", "-q", str(source), str(target))
    return target


def files(repo: Path) -> dict[str, bytes]:
    """The repository's files, its state cache and temporary area left out."""
    return {k: v for k, v in tree(repo).items() if not k.startswith(".cavorite/")}


def test_many_files_come_as_from_one_process(source: Path, cavorite: Cavorite) -> None:
    forked, alone = clone(source, "forked"), clone(source, "alone")

    first = cavorite("-vv", "retrieve", cwd=forked)
    assert first.code == 0, first.stderr
    assert len(IN_CHILD.findall(first.stderr)) == FILES
    one = cavorite("-vv", "retrieve", "--jobs", "1", cwd=alone)
    assert one.code == 0, one.stderr
    assert not IN_CHILD.search(one.stderr)
    assert len(WORKED.findall(one.stderr)) == FILES

    assert first.stdout == one.stdout
    assert files(forked) == files(alone) == files(source)
    # what the children learnt is in the state cache: nothing is looked at again
    again = cavorite("-vv", "--json", "retrieve", cwd=forked)
    assert again.code == 0, again.stderr
    summary = json.loads(again.stdout)["summary"]
    assert summary["up-to-date"] == sum(summary.values()) == FILES
    assert not WORKED.search(again.stderr)
    assert cavorite("status", cwd=forked).code == 0


def test_a_corrupted_object_fails_as_in_one_process(
    source: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (local_objects / "data" / "d3" / "f0010.bin").write_bytes(b"not what was uploaded")
    forked, alone = clone(source, "forked"), clone(source, "alone")

    got = cavorite("retrieve", cwd=forked)
    expected = cavorite("retrieve", "--jobs", "1", cwd=alone)
    assert got == expected
    assert got.code != 0
    errors = [line for line in got.stderr.splitlines() if "f0010.bin" in line]
    assert len(errors) == 1
    assert "downloaded content does not match its cfile" in errors[0]
    assert not (forked / "data" / "d3" / "f0010.bin").exists()
    assert files(forked) == files(alone)


def test_the_content_cache_gains_every_entry(
    source: Path, local_objects: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    config = tmp_path / "config"
    (config / "cavorite").mkdir(parents=True)
    (config / "cavorite" / "config.json").write_text('{"cache": {"local_store": "always"}}')
    env = {"CAVORITE_CACHE_DIR": str(cache), "XDG_CONFIG_HOME": str(config)}

    first = cavorite("-vv", "retrieve", cwd=clone(source, "first"), env=env)
    assert first.code == 0, first.stderr
    assert len(IN_CHILD.findall(first.stderr)) == FILES
    entries = [p for p in (cache / "objects").rglob("*") if p.is_file()]
    assert len(entries) == FILES
    # no pin of a child left behind
    assert not list((cache / "pins").iterdir())

    # every object from the cache (the store is not needed, nor opened): shared as well
    shutil.move(local_objects, tmp_path / "away")
    second = clone(source, "second")
    warm = cavorite("-vv", "retrieve", cwd=second, env=env)
    assert warm.code == 0, warm.stderr
    assert len(IN_CHILD.findall(warm.stderr)) == FILES
    assert files(second) == files(source)


def test_a_bad_cache_entry_in_a_child_is_downloaded_by_the_parent(
    source: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    """Every object in the cache: the children copy them without the store, which only the
    parent opens; an entry found damaged there is the parent's to download."""
    cache = tmp_path / "cache"
    config = tmp_path / "config"
    (config / "cavorite").mkdir(parents=True)
    (config / "cavorite" / "config.json").write_text('{"cache": {"local_store": "always"}}')
    env = {"CAVORITE_CACHE_DIR": str(cache), "XDG_CONFIG_HOME": str(config)}
    first = cavorite("retrieve", cwd=clone(source, "first"), env=env)
    assert first.code == 0, first.stderr
    damaged = source / "data" / "d3" / "f0010.bin"
    sha = json.loads((damaged.parent / "f0010.bin.cfile").read_text())["checksum"]
    entry = cache / "objects" / sha[:2] / sha[2:]
    entry.chmod(0o644)
    entry.write_bytes(b"damaged")

    second = clone(source, "second")
    warm = cavorite("-vv", "retrieve", cwd=second, env=env)
    assert warm.code == 0, warm.stderr
    assert len(IN_CHILD.findall(warm.stderr)) == FILES - 1
    assert re.search(r"f0010\.bin: retrieved in [0-9.]+ s", warm.stderr), warm.stderr
    assert files(second) == files(source)


def test_a_program_using_the_library_is_never_forked(
    source: Path,
    cavorite: Cavorite,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cavorite_py import Repo

    for name, value in cavorite.env.items():
        monkeypatch.setenv(name, value)
    target = clone(source, "library")
    with caplog.at_level(logging.DEBUG, logger="cavorite_py"), Repo.find(target) as repo:
        report = repo.retrieve([target])
    assert not report.failed
    assert not IN_CHILD.search(caplog.text)
    assert len(WORKED.findall(caplog.text)) == FILES
    assert files(target) == files(source)
