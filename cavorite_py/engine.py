"""Upload and retrieve, the same for every store: one :class:`Engine` per workspace and store,
each call a new :class:`~cavorite_py.run.Run` of one pipeline (:mod:`cavorite_py.upload`,
:mod:`cavorite_py.retrieve`). Many files run in parallel; every file gets a result; one failure
does not stop the others.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import retrieve
from .cacheuse import NO_CACHE, RunCache
from .results import NullObserver, Observer, Outcome, Report
from .run import Run
from .state import NoStateCache, StateCache
from .stores.base import Store
from .workspace import Workspace

_PLACED = frozenset(
    {Outcome.UPLOADED, Outcome.ALREADY_STORED, Outcome.RETRIEVED, Outcome.NOT_PUSHED}
)
"""outcomes after which the file holds content cavorite stored or placed there"""


@dataclass
class Engine:
    """Uploads and retrieves files of one workspace through one store."""

    workspace: Workspace
    open_store: Callable[[], Store]
    """opens the store when a file first needs it (once per call)"""
    jobs: int | None = None
    """files in flight at once; None: the store's ``default_jobs``"""
    observer: Observer = field(default_factory=NullObserver)
    cache: StateCache = field(default_factory=NoStateCache)
    content: Callable[[], RunCache] = lambda: NO_CACHE
    """a new use of the machine-wide content cache for each run (default: none)"""

    def upload(self, artifacts: Iterable[Path], force: bool = False, push: bool = True) -> Report:
        """Upload files and write their cfiles (see :mod:`cavorite_py.upload`); unless
        ``push``, keep them in the content cache for a later :meth:`push` instead."""
        from . import upload

        report = self._in_run(lambda run: upload.upload(run, artifacts, force, push))
        return self._placed(report)

    def retrieve(self, cfiles: Iterable[Path], force: bool = False) -> Report:
        """Put the artifacts of cfiles in place, verified (see :mod:`cavorite_py.retrieve`)."""
        return self._placed(self._in_run(lambda run: retrieve.retrieve(run, cfiles, force)))

    def push(self) -> Report:
        """Send the objects kept for a later push (see :mod:`cavorite_py.push`)."""
        from .push import push

        return self._in_run(push)

    def _in_run(self, work: Callable[[Run], Report]) -> Report:
        content = self.content()
        run = Run(self.workspace, self.open_store, self.cache, self.observer, self.jobs)
        run.content = content
        try:
            return work(run)
        finally:
            content.finish()

    def _placed(self, report: Report) -> Report:
        """Remember the contents this run uploaded or retrieved at their paths: a file that
        still holds one of them when its cfile changes is outdated, not edited."""
        rows = report.results.sums()
        # a directory's files follow each other: remembered together
        for directory, files in itertools.groupby(rows, key=operator.itemgetter(1)):
            placed = [(name, sha) for o, _, name, sha in files if o in _PLACED and sha is not None]
            if placed:
                self.cache.remember_placed_in(directory, placed)
        return report
