"""Verify takes the repository's cfiles a batch at a time and keeps its results packed: a
million cfiles are never held as paths and result objects at once. Its report is what it was
when every cfile was listed first: every local result, then every store result, each in the
cfiles' order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import cavorite_py
from cavorite_py import inspection
from cavorite_py.results import Outcome, Results


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    cavorite_py.init(root, backend_address=(tmp_path / "objects").as_uri())
    return root


def uploaded(root: Path, count: int) -> list[Path]:
    files = []
    for i in range(count):
        path = root / f"d{i % 2}" / f"{i}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"content %d" % i)
        files.append(path)
    with cavorite_py.Repo.find(root) as repo:
        assert repo.upload(files).ok
    return files


def test_local_then_store_results_in_order_a_batch_at_a_time(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inspection, "BATCH_FILES", 2)
    files = uploaded(root, 5)
    files[1].write_bytes(b"edited")
    files[3].unlink()
    for obj in (root.parent / "objects" / "d0").iterdir():
        if obj.name.startswith("4.bin"):
            obj.unlink()

    taken: list[int] = []
    checked: list[int] = []
    real_local = inspection.Inspector.local

    def counted_local(self: inspection.Inspector, cfile: Path) -> object:
        checked.append(len(taken))
        return real_local(self, cfile)

    monkeypatch.setattr(inspection.Inspector, "local", counted_local)
    with cavorite_py.Repo.find(root) as repo:
        cfiles = sorted(repo.workspace.cfile_for(f) for f in files)

        def walked() -> Iterator[Path]:
            for cfile in cfiles:
                taken.append(1)
                yield cfile

        store = repo.store
        inspector = inspection.Inspector(repo.workspace, repo.state)
        report = inspector.verify(walked(), store, jobs=2)

    assert isinstance(report.results, Results)
    # the first batch was checked before the rest of the cfiles were read
    assert checked[:2] == [2, 2]
    assert checked[-1] == 5
    artifacts = [root / c.relative_to(root).as_posix().removesuffix(".cfile") for c in cfiles]
    assert [r.path for r in report.results] == artifacts + artifacts
    by_name = {r.path.name: r.outcome for r in report.results[:5]}
    assert by_name == {
        "0.bin": Outcome.UP_TO_DATE,
        "1.bin": Outcome.MODIFIED,
        "2.bin": Outcome.UP_TO_DATE,
        "3.bin": Outcome.MISSING,
        "4.bin": Outcome.UP_TO_DATE,
    }
    stored = {r.path.name: r.outcome for r in report.results[5:]}
    assert stored == {
        "0.bin": Outcome.STORED,
        "1.bin": Outcome.STORED,
        "2.bin": Outcome.STORED,
        "3.bin": Outcome.STORED,
        "4.bin": Outcome.NOT_IN_STORE,
    }


def test_verify_of_the_whole_repository_walks_its_cfiles(root: Path) -> None:
    files = uploaded(root, 3)
    with cavorite_py.Repo.find(root) as repo:
        report = repo.verify(remote=True)
    assert len(report.results) == 6
    assert {r.path for r in report.results} == set(files)
    assert report.ok
