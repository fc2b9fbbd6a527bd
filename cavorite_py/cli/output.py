"""Rendering of results: one line per file and a summary, or one JSON document."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import NotAttempted
from ..results import FileResult, Outcome, Report, human_size
from ..workspace import Workspace
from .base import echo, printable, settings

LABELS = {
    Outcome.UPLOADED: "uploaded",
    Outcome.ALREADY_STORED: "already stored",
    Outcome.RETRIEVED: "retrieved",
    Outcome.UP_TO_DATE: "up to date",
    Outcome.STORED: "in store",
    Outcome.MISSING: "missing",
    Outcome.MODIFIED: "modified",
    Outcome.OUTDATED: "outdated",
    Outcome.ORPHANED: "orphaned",
    Outcome.UNTRACKED: "untracked",
    Outcome.NOT_IN_STORE: "not in store",
    Outcome.STORE_DIFFERS: "store differs",
    Outcome.NOT_PUSHED: "not pushed",
    Outcome.FAILED: "failed",
    Outcome.STOPPED_TRACKING: "stopped tracking",
    Outcome.DELETED: "deleted",
}


safe = printable


def file_line(ws: Workspace, result: FileResult) -> str:
    return _line(result.outcome, ws.display(result.path), result.size, result.detail)


def _line(outcome: Outcome, shown: str, size: int | None, detail: str | None) -> str:
    """A file's line: its outcome, where it is (as shown), and its detail or the bytes moved."""
    moved = human_size(size) if outcome in (Outcome.UPLOADED, Outcome.RETRIEVED) else ""
    note = detail or moved
    return f"{LABELS[outcome]:<15} {safe(shown)}" + (f"  ({safe(note)})" if note else "")


class _Shown:
    """:meth:`Workspace.display` of files, their directory's display worked out once."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws
        self._directory: Path | None = None
        self._shown = ""

    def __call__(self, directory: Path, name: str) -> str:
        if directory is not self._directory:
            self._directory, self._shown = directory, self._ws.display(directory)
        # as display(directory / name) gives it: relative to the current directory
        return name if self._shown == os.curdir else os.path.join(self._shown, name)

    def line(
        self,
        outcome: Outcome,
        directory: Path,
        name: str,
        size: int | None,
        result: FileResult | None,
    ) -> str:
        """The line of one of :meth:`Results.rows`."""
        if result is not None:
            return file_line(self._ws, result)
        return _line(outcome, self(directory, name), size, None)


def summary(report: Report) -> str:
    counts = report.counts()
    parts = [f"{counts[o]} {LABELS[o]}" for o in Outcome if counts[o]]
    total = len(report.results)
    return f"{total} file{'s' if total != 1 else ''}: " + (
        ", ".join(parts) if parts else "nothing to do"
    )


def render(ws: Workspace, report: Report, command: str, as_json: bool, shown: bool = False) -> int:
    """Print ``report``; return the exit code (1 if any file failed). ``shown``: the result
    lines of the files that did not fail were printed already, as they finished."""
    if as_json:
        write_json(ws, report, command)
        return 0 if report.ok else 1
    lines, errors = [], []
    left: Counter[str] = Counter()  # files not attempted, by reason: one line each reason
    where = _Shown(ws)
    for outcome, directory, name, size, result in report.results.rows():
        if result is not None and isinstance(result.error, NotAttempted):
            left[result.error.reason] += 1
        elif result is not None and result.failed:
            errors.append(f"cavorite: error: {safe(str(result.error))}")
        elif not (settings.quiet or shown):
            lines.append(where.line(outcome, directory, name, size, result))
            _flush_full(lines, "\n")
    for reason, count in left.items():
        files = f"{count} file{'s' if count != 1 else ''}"
        errors.append(f"cavorite: error: {files} not attempted: {safe(reason)}")
    if lines:  # few writes: thousands of lines echoed one by one are slow
        echo("\n".join(lines))
    if errors:
        echo("\n".join(errors), err=True)
    if not settings.quiet:
        for note in report.notes:
            echo(f"cavorite: note: {safe(note)}", err=True)
    for warning in report.warnings:
        echo(f"cavorite: warning: {safe(warning)}", err=True)
    echo(summary(report), err=not report.results)
    return 0 if report.ok else 1


LINES_PER_WRITE = 10_000
"""result lines written at once: few writes, and never a million lines held"""


def _flush_full(lines: list[str], sep: str, nl: bool = True) -> None:
    """Write ``lines`` (and empty the list) once it holds :data:`LINES_PER_WRITE`."""
    if len(lines) >= LINES_PER_WRITE:
        echo(sep.join(lines), nl=nl)
        lines.clear()


def write_json(ws: Workspace, report: Report, command: str) -> None:
    """``json.dumps(report_dict(...), indent=2)`` to stdout, byte for byte, its files written
    a batch at a time (never a document of a million files held whole)."""
    head = report_dict(ws, report, command, files=False)
    head["files"] = []
    text = json.dumps(head, indent=2)
    if not report.results:
        echo(text)
        return
    # the document up to its empty list of files, which is last
    echo(text[: -len("[]\n}")] + "[", nl=False)
    batch: list[str] = []
    for i, result in enumerate(report.results):
        item = json.dumps(result.to_dict(_relative(ws, result.path)), indent=2)
        # indented one more level (a JSON string holds no raw line break)
        batch.append(("\n    " if i == 0 else ",\n    ") + item.replace("\n", "\n    "))
        _flush_full(batch, "", nl=False)
    echo("".join(batch) + "\n  ]\n}")


def report_dict(ws: Workspace, report: Report, command: str, files: bool = True) -> dict[str, Any]:
    counts = report.counts()
    return {
        "command": command,
        "ok": report.ok,
        "summary": {o.value: counts[o] for o in Outcome},
        "warnings": list(report.warnings),
        "files": [r.to_dict(_relative(ws, r.path)) for r in report.results] if files else [],
    }


def _relative(ws: Workspace, path: Path) -> str:
    """Relative to the repository root, or to the current directory for paths outside it."""
    return ws.relative(path) if path.is_relative_to(ws.root) else ws.display(path)
