"""Upload and retrieve, the same for every store: one :class:`Engine` per workspace and store,
each call a new :class:`~cavorite_py.run.Run` of one pipeline (:mod:`cavorite_py.upload`,
:mod:`cavorite_py.retrieve`). Many files run in parallel; every file gets a result; one failure
does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import retrieve, upload
from .results import NullObserver, Observer, Outcome, Report
from .run import Run
from .state import NoStateCache, StateCache
from .stores.base import Store
from .workspace import Workspace

_PLACED = frozenset({Outcome.UPLOADED, Outcome.ALREADY_STORED, Outcome.RETRIEVED})
"""outcomes after which the file holds content the store holds too"""


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

    def upload(self, artifacts: Sequence[Path], force: bool = False) -> Report:
        """Upload files and write their cfiles (see :mod:`cavorite_py.upload`)."""
        return self._placed(upload.upload(self._run(), artifacts, force))

    def retrieve(self, cfiles: Sequence[Path], force: bool = False) -> Report:
        """Put the artifacts of cfiles in place, verified (see :mod:`cavorite_py.retrieve`)."""
        return self._placed(retrieve.retrieve(self._run(), cfiles, force))

    def _placed(self, report: Report) -> Report:
        """Remember the contents this run uploaded or retrieved at their paths: a file that
        still holds one of them when its cfile changes is outdated, not edited."""
        for result in report.results:
            if result.outcome in _PLACED and result.checksum is not None:
                self.cache.remember_placed(result.path, result.checksum)
        return report

    def _run(self) -> Run:
        return Run(self.workspace, self.open_store, self.cache, self.observer, self.jobs)
