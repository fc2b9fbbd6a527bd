"""The packed results of a report read back as the results added, in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cavorite_py.errors import CavoriteError
from cavorite_py.fsutil import relative_posix
from cavorite_py.results import COPIED, FileResult, Outcome, Report, Results

SHA = "ab" * 32


def test_results_read_back_equal_in_order(tmp_path: Path) -> None:
    added = [
        FileResult(tmp_path / "d" / "a.bin", Outcome.UP_TO_DATE, "d/a.bin", 64, SHA),
        FileResult(tmp_path / "b.bin", Outcome.ALREADY_STORED, "other/key", None, SHA),
        FileResult(tmp_path / "c.bin", Outcome.MISSING, None, None, None),
        FileResult(tmp_path / "e.bin", Outcome.FAILED, error=CavoriteError("e.bin: no")),
        FileResult(tmp_path / "f.bin", Outcome.MODIFIED, "f.bin", 3, SHA, detail="edited"),
        FileResult(tmp_path / "g.bin", Outcome.UPLOADED, "g.bin", 0, "AB" * 32),
        FileResult(tmp_path / "nön\udcff.bin", Outcome.UP_TO_DATE, "p/ü", 1, SHA),
    ]
    results = Results(added)
    assert list(results) == added
    assert results == added
    assert [results[i] for i in range(len(added))] == added
    assert results[-1] == added[-1]
    assert results[1:3] == added[1:3]
    assert list(results.outcomes()) == [r.outcome for r in added]


def test_results_in_any_directory_read_back_in_it(tmp_path: Path) -> None:
    # a directory is found by its path's text: the root, a relative path, a name that is also
    # a directory's, and the same directory made twice are each read back as added
    added = [
        FileResult(Path("/top.bin"), Outcome.UP_TO_DATE, "top.bin", 1, SHA),
        FileResult(Path("rel.bin"), Outcome.UP_TO_DATE, "rel.bin", 1, SHA),
        FileResult(Path("d/rel.bin"), Outcome.UP_TO_DATE, "d/rel.bin", 1, SHA),
        FileResult(tmp_path / "d", Outcome.UP_TO_DATE, "d", 1, SHA),
        FileResult(tmp_path / "d" / "a.bin", Outcome.UP_TO_DATE, "d/a.bin", 1, SHA),
        FileResult(Path(str(tmp_path / "d")) / "b.bin", Outcome.UP_TO_DATE, "d/b.bin", 1, SHA),
    ]
    results = Results(added)
    results.add(Outcome.UP_TO_DATE, Path("/"), "also-top.bin", "also-top.bin", 1, SHA)
    results.add(Outcome.UP_TO_DATE, tmp_path / "d", "c.bin", "d/c.bin", 1, SHA)
    whole = [
        *added,
        FileResult(Path("/also-top.bin"), Outcome.UP_TO_DATE, "also-top.bin", 1, SHA),
        FileResult(tmp_path / "d" / "c.bin", Outcome.UP_TO_DATE, "d/c.bin", 1, SHA),
    ]
    assert list(results) == whole
    assert [(d, n) for _, d, n, _, _ in results.rows()] == [
        (r.path.parent, r.path.name) for r in whole
    ]


def test_results_added_by_their_fields_read_back_as_made_whole(tmp_path: Path) -> None:
    fields = [
        (Outcome.UP_TO_DATE, tmp_path / "d", "a.bin", "d/a.bin", 64, SHA),
        (Outcome.UP_TO_DATE, tmp_path, "b.bin", "other/key", None, SHA),
        (Outcome.UPLOADED, tmp_path, "c.bin", "c.bin", 0, "AB" * 32),
        (Outcome.MISSING, tmp_path, "nön\udcff.bin", None, None, None),
    ]
    added, whole = Results(), Results()
    for outcome, directory, name, key, size, checksum in fields:
        added.add(outcome, directory, name, key, size, checksum)
        whole.append(FileResult(directory / name, outcome, key, size, checksum))
    assert added == whole
    assert list(added.done_paths()) == [d / n for _, d, n, *_ in fields]
    rows = [(o, d, n, size, r) for o, d, n, size, r in added.rows()]
    assert rows == [(o, d, n, size, r) for o, d, n, size, r in whole.rows()]
    assert rows[0] == (Outcome.UP_TO_DATE, tmp_path / "d", "a.bin", 64, None)
    assert rows[2][4] is not None  # an upper-case checksum is kept whole


def test_done_results_read_back_relative_with_their_sums(tmp_path: Path) -> None:
    """done_relative gives what relative_posix gives of done_paths, packed results and whole
    ones alike, failed ones left out; sums gives each result's sha256 as added."""
    added = [
        FileResult(tmp_path / "d" / "e" / "a.bin", Outcome.UPLOADED, "d/e/a.bin", 1, SHA),
        FileResult(tmp_path / "d" / "e" / "b.bin", Outcome.ALREADY_STORED, "k", 1, SHA),
        FileResult(tmp_path / "d" / "e" / "x.bin", Outcome.FAILED, error=CavoriteError("no")),
        FileResult(tmp_path / "top.bin", Outcome.UPLOADED, "top.bin", 2, "AB" * 32),
        FileResult(tmp_path / "d" / "c.bin", Outcome.NOT_PUSHED, "d/c.bin", 3, SHA, detail="x"),
        FileResult(tmp_path / "d" / "n.bin", Outcome.MISSING),
    ]
    results = Results(added)
    expected = [relative_posix(p, tmp_path) for p in results.done_paths()]
    assert list(results.done_relative(tmp_path)) == expected
    assert expected == ["d/e/a.bin", "d/e/b.bin", "top.bin", "d/c.bin", "d/n.bin"]
    sums = [(o, d / n, sha) for o, d, n, sha in results.sums()]
    assert sums == [(r.outcome, r.path, r.checksum) for r in added]


def test_report_counts_and_failures(tmp_path: Path) -> None:
    bad = FileResult(tmp_path / "x", Outcome.FAILED, error=CavoriteError("x: no"))
    report = Report([FileResult(tmp_path / "a", Outcome.UP_TO_DATE, "a", 1, SHA), bad])
    assert report.failed == [bad]
    assert not report.ok
    assert report.counts()[Outcome.UP_TO_DATE] == 1
    report.results.append(FileResult(tmp_path / "b", Outcome.RETRIEVED, "b", 5, SHA))
    assert report.transferred_bytes == 5
    # a copy inside the store (a renamed file) sent nothing
    report.results.append(FileResult(tmp_path / "c", Outcome.UPLOADED, "c", 7, SHA, detail=COPIED))
    report.results.append(FileResult(tmp_path / "d", Outcome.UPLOADED, "d", 11, SHA))
    assert report.transferred_bytes == 16
    assert Report().results == []


@pytest.mark.parametrize("count", [0, 1, 5])
def test_json_written_in_batches_is_the_whole_document(
    tmp_path: Path, count: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cavorite_py.cli import output
    from cavorite_py.workspace import Workspace

    monkeypatch.setattr(output, "LINES_PER_WRITE", 2)
    ws = Workspace(tmp_path)
    report = Report(
        [FileResult(tmp_path / f"é{i}", Outcome.UP_TO_DATE, f"k{i}", i, SHA) for i in range(count)]
    )
    report.results.append(FileResult(tmp_path / "x", Outcome.FAILED, error=CavoriteError("no")))
    report.warnings.append("careful")
    output.write_json(ws, report, "status")
    expected = json.dumps(output.report_dict(ws, report, "status"), indent=2) + "\n"
    assert capsys.readouterr().out == expected
