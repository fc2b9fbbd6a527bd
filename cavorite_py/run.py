"""One run over many files: a bounded number in flight, every file a result, one failure never
stopping the others, and a stop for all of them on Ctrl-C or once the store is down."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .cacheuse import NO_CACHE, RunCache
from .errors import CavoriteError, NotAttempted, StoreDown, StoreError
from .parallel import bounded_map
from .results import FileResult, Observer, Outcome, Report
from .state import StateCache
from .stores.base import Store
from .workspace import Workspace

LOCAL_JOBS = 4
"""files in flight at once when they come from the local cache (the store is not opened)"""


@dataclass
class StoreWatch:
    """Whether the store went down (:class:`StoreDown`) during a run over many files: those not
    yet started are then not attempted, since each would wait for the same timeouts and fail
    the same way."""

    down: StoreDown | None = None

    def check(self, where: str) -> None:
        """Raise :class:`NotAttempted` for the file shown as ``where`` if the store is down."""
        if self.down is not None:
            raise NotAttempted(where, str(self.down))

    def saw(self, error: BaseException | None) -> None:
        """Note a file's error: a :class:`StoreDown` means the store is down."""
        if isinstance(error, StoreDown) and self.down is None:
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
    watch: StoreWatch = field(default_factory=StoreWatch)
    content: RunCache = NO_CACHE
    """the machine-wide content cache (see :mod:`cavorite_py.cacheuse`)"""
    _opened: Store | None = field(default=None, init=False, repr=False)
    _store_name: str | None = field(default=None, init=False, repr=False)
    _opening: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    @property
    def store(self) -> Store:
        """The store, opened now if it was not yet (once, whichever thread asks first)."""
        if self._opened is None:
            with self._opening:
                if self._opened is None:
                    self._opened = self.open_store()
        return self._opened

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
    ) -> Report:
        """``one`` over every path, ``jobs`` at a time; a failure becomes the file's result,
        named by its artifact, and Ctrl-C stops the transfers in flight. Unless
        ``opens_store``, the store is left unopened (a file may still open it)."""
        if not paths:
            return Report()

        def guarded(path: Path) -> tuple[Path, FileResult]:
            result = self.attempt(artifact_of(path), lambda: one(path))
            self.observer.finished(result)
            return path, result

        # opens the store before the workers start
        jobs = self.jobs or (self.store.default_jobs if opens_store else LOCAL_JOBS)
        by_path = dict(bounded_map(guarded, paths, jobs, on_stop=self._stop.set))
        return Report([by_path[p] for p in paths])

    def attempt(self, artifact: Path, work: Callable[[], FileResult]) -> FileResult:
        """``work()``, or the failed result of ``artifact`` it raised."""
        shown = self.workspace.display(artifact)
        try:
            self._check_stopped(artifact)
            self.watch.check(shown)
            return work()
        except StoreError as exc:
            self.watch.saw(exc)
            return FileResult(artifact, Outcome.FAILED, error=naming(exc, shown))
        except CavoriteError as exc:
            return FileResult(artifact, Outcome.FAILED, error=exc)
        except OSError as exc:
            error = CavoriteError(f"{shown}: {os_message(exc)}")
            return FileResult(artifact, Outcome.FAILED, error=error)

    def _check_stopped(self, artifact: Path) -> None:
        if self._stop.is_set():
            raise CavoriteError(f"{self.workspace.display(artifact)}: interrupted")

    def progress(self, artifact: Path) -> Callable[[int], None]:
        """The progress callback of one transfer; it also ends the transfer early, at its next
        chunk, once the run is interrupted (Ctrl-C), so that workers stop instead of finishing."""

        def advanced(nbytes: int) -> None:
            self._check_stopped(artifact)
            self.observer.advanced(artifact, nbytes)

        return advanced


def naming(exc: StoreError, where: str) -> StoreError:
    """``exc`` with the file's name in front: a store's message ("cannot reach ...") does not
    say which file of a run failed. Same type, same cause; unchanged if it names the file."""
    if str(exc).startswith(f"{where}: "):
        return exc
    try:
        named = type(exc)(f"{where}: {exc}")
    except TypeError:
        # a plugin's own subclass with another signature
        return exc
    named.__cause__ = exc.__cause__
    named.__suppress_context__ = True
    return named


def os_message(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)
