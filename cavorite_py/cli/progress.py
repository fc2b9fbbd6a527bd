"""The progress display of transfers, on stderr, only when it is a terminal.

One overall line (files done of all, bytes moved of the total the cfiles or files give, rate,
time left), one line per file in flight, and each file's result line printed as it finishes.
Sizes are in binary units, as in every other output (see :func:`cavorite_py.results.human_size`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ..results import FileResult, NullObserver, human_size
from ..workspace import Workspace
from .base import settings
from .output import file_line, safe

if TYPE_CHECKING:
    from rich.progress import Progress, Task, TaskID
    from rich.text import Text

NAME_WIDTH = 40
"""characters of a file's name shown on its line"""
REDRAWS_PER_SECOND = 10


def _columns() -> list[object]:
    """Bar, bytes, rate, time left: every size through ``human_size``."""
    from rich.progress import BarColumn, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class Bytes(ProgressColumn):
        def render(self, task: Task) -> Text:
            total = "?" if task.total is None else human_size(int(task.total))
            return Text(f"{human_size(int(task.completed))} / {total}")

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{human_size(int(speed))}/s" if speed else "")

    return [
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        Bytes(),
        Rate(),
        TimeRemainingColumn(),
    ]


class RichObserver:
    """The overall line, a line per file in flight, and result lines as files finish."""

    def __init__(self, workspace: Workspace, result_lines: bool) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self._ws = workspace
        self.result_lines = result_lines
        """whether each file's result line is printed as it finishes (then not again)"""
        # redrawn by this class, not by a thread of rich's: every line printed and every redraw
        # under one lock (see _print)
        self._progress: Progress = Progress(
            *_columns(),  # type: ignore[arg-type]
            console=Console(stderr=True),
            transient=True,
            auto_refresh=False,
        )
        self._drawing = threading.Lock()
        self._stopping = threading.Event()
        self._redraws: threading.Thread | None = None
        self._overall = self._progress.add_task("files", total=None)
        self._tasks: dict[Path, TaskID] = {}
        self._sizes: dict[Path, int | None] = {}
        self._moved: dict[Path, int] = {}
        self._files = 0
        self._done = 0
        self._total: int | None = None
        self._more = False
        self._shown = False
        self._lock = threading.Lock()

    def planned(self, sizes: Mapping[Path, int | None], more: bool = False) -> None:
        """The files of one more batch (see :class:`~cavorite_py.results.Observer`): the
        totals grow by theirs, marked with a "+" while more follow."""
        with self._lock:
            self._sizes.update(sizes)
            self._files += len(sizes)
            self._more = more
            self._total = total = (self._total or 0) + sum(size or 0 for size in sizes.values())
            count = self._count()
        self._progress.update(self._overall, total=total, description=count)
        self._show()

    def _show(self) -> None:
        """Start drawing, once the totals are known (or a transfer starts without them)."""
        with self._lock:
            if self._shown:
                return
            self._shown = True
        with self._drawing:
            self._progress.start()
        settings.log_to = self._print
        self._redraws = threading.Thread(target=self._redraw, name="progress", daemon=True)
        self._redraws.start()

    def _redraw(self) -> None:
        while not self._stopping.wait(1 / REDRAWS_PER_SECOND):
            with self._drawing:
                self._progress.refresh()

    def _print(self, line: str) -> None:
        """``line`` above the display. Rich works out where the display is when a line is
        rendered but writes it later: two threads printing at once (a result line, a log line,
        a redraw) would each erase the other's display in the wrong place."""
        with self._drawing:
            self._progress.console.print(line, markup=False, highlight=False)

    def started(self, path: Path, size: int | None) -> None:
        self._show()
        name = safe(path.name)[:NAME_WIDTH]
        # (rich redraws as it adds a task)
        with self._drawing:
            task = self._progress.add_task(f"  {name}", total=size)
        with self._lock:
            self._tasks[path] = task
            self._moved.setdefault(path, 0)

    def advanced(self, path: Path, nbytes: int) -> None:
        with self._lock:
            task = self._tasks.get(path)
            self._moved[path] = self._moved.get(path, 0) + nbytes
        if task is not None:
            self._progress.advance(task, nbytes)
        self._progress.advance(self._overall, nbytes)

    def finished(self, result: FileResult) -> None:
        with self._lock:
            task = self._tasks.pop(result.path, None)
            self._done += 1
            # bytes the total counted for this file that will not move: out of the total
            unmoved = (self._sizes.pop(result.path, None) or 0) - self._moved.pop(result.path, 0)
            if unmoved > 0 and self._total is not None:
                self._total = max(self._total - unmoved, 0)
            total = self._total
            count = self._count()
        if task is not None:
            self._progress.remove_task(task)
        self._progress.update(self._overall, total=total, description=count)
        if self.result_lines and not result.failed:
            self._print(file_line(self._ws, result))

    def _count(self) -> str:
        if not self._files:
            return f"{self._done} files"
        return f"{self._done}/{self._files}{'+' if self._more else ''} files"

    def __enter__(self) -> RichObserver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        if self._redraws is not None:
            self._redraws.join()
        settings.log_to = None
        with self._drawing:
            self._progress.stop()


class _Quiet(NullObserver):
    result_lines = False

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def observer(as_json: bool, workspace: Workspace) -> RichObserver | _Quiet:
    """The display when stderr is a terminal and the output is text; otherwise nothing
    animated. Result lines are printed as files finish when stdout is the terminal too."""
    if as_json or settings.quiet or not sys.stderr.isatty():
        return _Quiet()
    return RichObserver(workspace, result_lines=sys.stdout.isatty())
