"""A run takes its files a batch at a time, the observer's plan included: a display never holds
more than a batch or two of a million files, and shows the totals of the files looked at so far,
marked while more follow."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from cavorite_localstore import LocalStore

from cavorite_py import run as runmod
from cavorite_py.cli.progress import RichObserver
from cavorite_py.engine import Engine
from cavorite_py.results import NullObserver, Outcome
from cavorite_py.stores.base import StoreSettings
from cavorite_py.workspace import Workspace


class Plans(NullObserver):
    """Records each plan: how many files, and whether more were to follow."""

    def __init__(self) -> None:
        self.plans: list[tuple[int, bool]] = []

    def planned(self, sizes: Mapping[Path, int | None], more: bool) -> None:
        self.plans.append((len(sizes), more))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "work").mkdir()
    return Workspace(tmp_path / "work")


@pytest.fixture
def local(tmp_path: Path, ws: Workspace) -> Iterator[LocalStore]:
    (tmp_path / "objects").mkdir()
    store = LocalStore(StoreSettings((tmp_path / "objects").as_uri(), root=ws.root))
    yield store
    store.close()


def test_upload_and_retrieve_plan_a_batch_at_a_time(
    ws: Workspace, local: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runmod, "BATCH_FILES", 3)
    files = []
    for i in range(7):
        path = ws.root / "d" / f"{i}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x%d" % i)
        files.append(path)

    plans = Plans()
    engine = Engine(ws, lambda: local, jobs=2, observer=plans)
    assert [r.outcome for r in engine.upload(files).results] == [Outcome.UPLOADED] * 7
    assert plans.plans == [(3, True), (3, True), (1, False)]

    for path in files:
        path.unlink()
    plans.plans.clear()
    cfiles = [ws.cfile_for(path) for path in files]
    assert [r.outcome for r in engine.retrieve(cfiles).results] == [Outcome.RETRIEVED] * 7
    assert plans.plans == [(3, True), (3, True), (1, False)]


def test_the_display_adds_each_batch_and_marks_that_more_follow(ws: Workspace) -> None:
    with RichObserver(ws, result_lines=False) as shown:
        shown.planned({ws.root / "a": 10, ws.root / "b": None}, more=True)
        assert shown._count() == "0/2+ files"
        shown.planned({ws.root / "c": 5}, more=False)
        assert shown._count() == "0/3 files"
        assert shown._total == 15
