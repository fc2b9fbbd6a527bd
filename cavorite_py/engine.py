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
from .results import NullObserver, Observer, Report
from .run import Run
from .state import NoStateCache, StateCache
from .stores.base import Store
from .workspace import Workspace


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
        return upload.upload(self._run(), artifacts, force)

    def retrieve(self, cfiles: Sequence[Path], force: bool = False) -> Report:
        """Put the artifacts of cfiles in place, verified (see :mod:`cavorite_py.retrieve`)."""
        return retrieve.retrieve(self._run(), cfiles, force)

    def _run(self) -> Run:
        return Run(self.workspace, self.open_store, self.cache, self.observer, self.jobs)
