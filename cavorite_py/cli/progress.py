"""Progress bars for transfers, on stderr, only when it is a terminal."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ..results import FileResult, NullObserver
from .app import settings
from .output import safe

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

BAR_MIN_SIZE = 1024 * 1024
"""files smaller than this get no bar of their own, only the overall count"""


class RichObserver:
    """One bar per large file in flight (bytes, rate, time left) and an overall file count."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress: Progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._overall = self._progress.add_task("files done: 0", total=None)
        self._tasks: dict[Path, TaskID] = {}
        self._done = 0
        self._lock = threading.Lock()

    def started(self, path: Path, size: int | None) -> None:
        if size is not None and size >= BAR_MIN_SIZE:
            task = self._progress.add_task(safe(path.name)[:40], total=size)
            with self._lock:
                self._tasks[path] = task

    def advanced(self, path: Path, nbytes: int) -> None:
        task = self._tasks.get(path)
        if task is not None:
            self._progress.advance(task, nbytes)

    def finished(self, result: FileResult) -> None:
        with self._lock:
            task = self._tasks.pop(result.path, None)
            self._done += 1
            done = self._done
        if task is not None:
            self._progress.remove_task(task)
        self._progress.update(self._overall, description=f"files done: {done}")

    def __enter__(self) -> RichObserver:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()


class _Quiet(NullObserver):
    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def observer(as_json: bool) -> RichObserver | _Quiet:
    """Bars when stderr is a terminal and the output is text; otherwise nothing animated."""
    if as_json or settings.quiet or not sys.stderr.isatty():
        return _Quiet()
    return RichObserver()
