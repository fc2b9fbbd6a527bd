"""One run over many files: a bounded number in flight, every file a result, one failure never
stopping the others, and a stop for all of them on Ctrl-C, once the store is down or once the
disk is full."""

from __future__ import annotations

import errno
import itertools
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .cacheuse import NO_CACHE, RunCache
from .diagnostics import cause_chain
from .errors import CavoriteError, DiskFull, NotAttempted, ParentOnly, StoreError
from .parallel import bounded_map
from .results import FileResult, Observer, Outcome, Report, human_size
from .state import StateCache
from .stores.base import Store
from .workspace import Workspace

E = TypeVar("E", bound=CavoriteError)

log = logging.getLogger(__name__)

BATCH_FILES = 10_000
"""files a run looks at together (see :meth:`Run.batches`)"""
LOCAL_JOBS = 1
"""files in flight at once when they come from the local cache (the store is not opened): one.
Copying from the cache waits on nothing, so threads only add GIL hand-offs (2,000 x 32 KiB from
a warm cache, paired medians of 7: 2.08 s with 1 job, 2.24 s with 2, slower in 6 pairs of 7;
0.83 s of CPU with 1 job, 1.31 s with 2, 1.46 s with 4)"""


FULL_ERRNOS = frozenset(
    {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), getattr(errno, "EFBIG", errno.ENOSPC)}
)
"""a write refused for want of room: the disk is full, or the user's quota is used up"""


@dataclass
class RunWatch:
    """Whether an error that stops the run (``stops_run``: the store went down, the disk is
    full) happened during a run over many files: those not yet started are then not attempted,
    since each would wait for the same timeouts, or fail the same way."""

    down: CavoriteError | None = None

    def check(self, where: str) -> None:
        """Raise :class:`NotAttempted` for the file shown as ``where`` if the run stopped."""
        if self.down is not None:
            raise NotAttempted(where, str(self.down))

    def saw(self, error: BaseException | None) -> None:
        """Note a file's error: one that ``stops_run`` stops the run."""
        if isinstance(error, CavoriteError) and error.stops_run and self.down is None:
            self.down = error


@dataclass
class Run:
    """What the files of one upload or retrieve share: the workspace, the store (opened when a
    file first needs it), the state cache, the observer, and whether the run must stop."""

    workspace: Workspace
    open_store: Callable[[], Store]
    """opens the store: a retrieve that finds every file in place never calls it (nor imports a
    cloud SDK)"""
    cache: StateCache
    observer: Observer
    jobs: int | None = None
    """files in flight at once; None: the store's ``default_jobs``"""
    watch: RunWatch = field(default_factory=RunWatch)
    content: RunCache = NO_CACHE
    """the machine-wide content cache (see :mod:`cavorite_py.cacheuse`)"""
    _opened: Store | None = field(default=None, init=False, repr=False)
    _store_name: str | None = field(default=None, init=False, repr=False)
    _opening: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _open_error: Exception | None = field(default=None, init=False, repr=False)
    """why the store could not be opened: the run's failure, raised again to whoever asks"""
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _more: bool = field(default=False, init=False, repr=False)

    @property
    def store(self) -> Store:
        """The store, opened now if it was not yet (once, whichever thread asks first). A
        store that cannot be opened fails the run, not a file (see :meth:`attempt`)."""
        if self._opened is None:
            with self._opening:
                if self._open_error is not None:
                    raise self._open_error
                if self._opened is None:
                    try:
                        self._opened = self.open_store()
                    except ParentOnly:
                        raise
                    except Exception as exc:
                        self._open_error = exc
                        raise
        return self._opened

    def forked(self) -> None:
        """This is a child process forked by the run: a store the parent had not opened is
        not opened here either (a file that needs it fails in the child, and the parent does
        it)."""
        if self._opened is None:
            self.open_store = _opened_by_the_parent

    @property
    def store_name(self) -> str:
        """The store as the state cache knows it (its description), worked out once per run."""
        if self._store_name is None:
            self._store_name = self.store.describe()
        return self._store_name

    def each(
        self,
        paths: Sequence[Path],
        one: Callable[[Path], FileResult],
        artifact_of: Callable[[Path], Path],
        opens_store: bool = True,
        quick: Callable[[Path], bool] | None = None,
    ) -> Report:
        """``one`` over every path, ``jobs`` at a time; a failure becomes the file's result,
        named by its artifact, and Ctrl-C stops the transfers in flight. Unless
        ``opens_store``, the store is left unopened (a file may still open it). A path that
        ``quick`` says needs only a few lookups is done in this thread: handing it to a worker
        would cost more than the work (a no-op upload of 2,000 files: 0.33 s with two workers,
        0.23 s with none)."""
        by_path = self.each_by_path(paths, one, artifact_of, opens_store, quick)
        return Report([by_path[p] for p in paths])

    def each_by_path(
        self,
        paths: Sequence[Path],
        one: Callable[[Path], FileResult],
        artifact_of: Callable[[Path], Path],
        opens_store: bool = True,
        quick: Callable[[Path], bool] | None = None,
    ) -> dict[Path, FileResult]:
        """:meth:`each`, its results by path (for a caller that puts them in its own order:
        a report packs each result, and each one packed twice costs as much as a file's
        lookups)."""
        if not paths:
            return {}

        def guarded(path: Path) -> tuple[Path, FileResult]:
            start = time.monotonic()
            result = self.attempt(artifact_of(path), lambda: one(path))
            if log.isEnabledFor(logging.DEBUG):
                took = time.monotonic() - start
                shown = self.workspace.display(result.path)
                why = f": {cause_chain(result.error)}" if result.error is not None else ""
                log.debug("%s: %s in %.3f s%s", shown, result.outcome.value, took, why)
            self.observer.finished(result)
            return path, result

        # opens the store before the workers start (unless ``jobs`` is given: then the first
        # file that needs it does)
        jobs = self.jobs or (self.store.default_jobs if opens_store else LOCAL_JOBS)
        by_path: dict[Path, FileResult] = {}

        def slow() -> Iterator[Path]:
            for path in paths:
                if quick is not None and quick(path):
                    by_path.update([guarded(path)])
                else:
                    yield path

        by_path.update(bounded_map(guarded, slow(), jobs, on_stop=self._stop.set))
        return by_path

    @property
    def plans(self) -> bool:
        """Whether the observer plans the run (see :meth:`plan`)."""
        return getattr(self.observer, "planned", None) is not None

    def batches(self, paths: Iterable[Path]) -> Iterator[list[Path]]:
        """``paths`` in lists of :data:`BATCH_FILES`, each run to its end before the one after
        the next is read (a million files are never held at once). One list is read ahead, so
        that :meth:`plan` can tell the observer whether more files follow."""
        it = iter(paths)
        batch = list(itertools.islice(it, BATCH_FILES))
        while batch:
            following = list(itertools.islice(it, BATCH_FILES))
            self._more = bool(following)
            yield batch
            batch = following

    def attempt(self, artifact: Path, work: Callable[[], FileResult]) -> FileResult:
        """``work()``, or the failed result of ``artifact`` it raised."""
        try:
            self._check_stopped(artifact)
            if self.watch.down is not None:
                self.watch.check(self.workspace.display(artifact))
            return work()
        except (CavoriteError, OSError) as exc:
            if exc is self._open_error:
                # the store cannot be opened: the run fails, once, not each file
                raise
            # the file's name as shown (worked out only here: it costs a getcwd and more)
            shown = self.workspace.display(artifact)
            error = disk_full(exc) or exc
            self.watch.saw(error)
            return FileResult(artifact, Outcome.FAILED, error=named(error, shown))

    def stop(self) -> None:
        """Stop the run (Ctrl-C): each transfer in flight ends at its next chunk."""
        self._stop.set()

    def _check_stopped(self, artifact: Path) -> None:
        if self._stop.is_set():
            raise CavoriteError(f"{self.workspace.display(artifact)}: interrupted")

    @property
    def more(self) -> bool:
        """Whether files follow the batch :meth:`batches` last handed out."""
        return self._more

    def plan(self, sizes: Mapping[Path, int | None], done: Sequence[FileResult] = ()) -> None:
        """Tell the observer (if it asks, see :class:`Observer`) the files of this batch and
        the bytes each may transfer, and whether more batches follow, then report the results
        of ``done``, known already."""
        planned = getattr(self.observer, "planned", None)
        if planned is not None:
            planned({**sizes, **{r.path: 0 for r in done}}, more=self._more)
        for result in done:
            log.debug("%s: %s, known already", self.workspace.display(result.path), result.outcome)
            self.observer.finished(result)

    def progress(self, artifact: Path) -> Callable[[int], None]:
        """The progress callback of one transfer; it also ends the transfer early, at its next
        chunk, once the run is interrupted (Ctrl-C), so that workers stop instead of finishing."""

        def advanced(nbytes: int) -> None:
            self._check_stopped(artifact)
            self.observer.advanced(artifact, nbytes)

        return advanced


def named(exc: CavoriteError | OSError, where: str) -> CavoriteError:
    """A file's error as its result shows it: the file named, once."""
    if isinstance(exc, OSError):
        return CavoriteError(f"{where}: {os_message(exc)}")
    if isinstance(exc, StoreError | DiskFull):
        return naming(exc, where)
    return exc


def disk_full(exc: CavoriteError | OSError) -> DiskFull | None:
    """``exc`` as a :class:`DiskFull` if a full disk (or quota) caused it, however a store
    wrapped it: a store's own message (which says where) is kept."""
    if isinstance(exc, DiskFull):
        return exc
    seen: BaseException | None = exc
    while seen is not None and not (isinstance(seen, OSError) and seen.errno in FULL_ERRNOS):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    text = os_message(exc) if isinstance(exc, OSError) else str(exc)
    full = DiskFull(f"{text}; free some space and run the command again")
    full.__cause__ = exc
    return full


def _room_left(directory: Path, size: int) -> int | None:
    """The free space of ``directory``'s file system once ``size`` bytes are written there;
    None when unknown (some network file systems do not say). :class:`DiskFull` if they do not
    fit."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        # no answer: the write says so if it comes to that
        return None
    if free < size:
        raise DiskFull(
            f"not enough space: {human_size(size)} to download, {human_size(free)} free on the "
            f"file system holding {directory}; free some space and run the command again"
        )
    return free - size


@dataclass
class RoomCheck:
    """Refuse, before it starts, a download that the file system cannot hold
    (:class:`DiskFull`). For the many downloads of one run, the file system is asked once per
    directory, and again only when the space it reported, less what this run downloaded into
    the directory since, runs short. A download is refused only on the file system's own,
    fresh answer; space others take meanwhile is the write's to find (as after any check)."""

    _left: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, directory: Path, size: int | None) -> None:
        if not size:
            return
        key = str(directory)
        with self._lock:
            left = self._left.get(key)
            if left is not None and left >= size:
                self._left[key] = left - size
                return
        left = _room_left(directory, size)
        with self._lock:
            if left is None:
                self._left.pop(key, None)
            else:
                self._left[key] = left


def naming(exc: E, where: str) -> E:
    """``exc`` with the file's name in front: a store's message ("cannot reach ...") does not
    say which file of a run failed. Same type, same cause and same ``stops_run``; unchanged if
    it names the file."""
    if str(exc).startswith(f"{where}: "):
        return exc
    try:
        renamed = type(exc)(f"{where}: {exc}")
    except TypeError:
        # a plugin's own subclass with another signature
        return exc
    renamed.__cause__ = exc.__cause__
    renamed.__suppress_context__ = True
    return renamed


def os_message(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)


def _opened_by_the_parent() -> Store:
    raise ParentOnly("the store is opened by the parent process")
