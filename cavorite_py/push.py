"""``cavorite push``: send the objects kept in the content cache for a later push.

Every object pending for the repository's store is sent, whichever clone or worktree of it
kept the object (they share the store, and a commit made in one may be pushed from another).
Per object: hash the cache's copy (the cache is never trusted); create the key, never replacing
an object: one already there with the same content is fine, different content is refused;
then forget the pending mark. Idempotent: a second push finds nothing to do. The store is not
opened when nothing is pending.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from .cachepending import Pending
from .errors import ConflictError, IntegrityError, ObjectExists
from .hashing import hash_file
from .parallel import bounded_map
from .remote import RemoteIndex
from .results import FileResult, Outcome, Report
from .run import Run
from .stores.base import ObjectInfo


def push(run: Run) -> Report:
    """Send every pending object of ``run``'s store; one result each, oldest first."""
    waiting = run.content.pending()
    if not waiting:
        return Report()
    index = RemoteIndex(run)
    jobs = run.jobs or run.store.default_jobs

    def one(pending: Pending) -> tuple[Pending, FileResult]:
        artifact = artifact_of(pending)
        result = run.attempt(artifact, lambda: _send(run, index, pending, artifact))
        run.observer.finished(result)
        return pending, result

    by_pending = dict(bounded_map(one, waiting, jobs))
    return Report([by_pending[p] for p in waiting])


def artifact_of(pending: Pending) -> Path:
    """The file the object was kept for (as recorded; it may have changed or gone since)."""
    return Path(pending.repo) / (pending.path or pending.key)


def _send(run: Run, index: RemoteIndex, pending: Pending, artifact: Path) -> FileResult:
    shown = run.workspace.display(artifact)
    entry = run.content.cache.path_of(pending.sha256)
    try:
        sha, size = hash_file(entry)
    except FileNotFoundError:
        sha, size = "", 0
    if sha != pending.sha256:
        raise IntegrityError(
            f"{shown}: the cache's copy of {pending.key!r} is gone or corrupted; upload the "
            f"file again: cavorite upload {shlex.quote(shown)}"
        )
    info = ObjectInfo(size, sha)
    outcome = _create(run, index, pending.key, entry, info, artifact)
    run.content.cache.pending.clear(pending)
    return FileResult(artifact, outcome, pending.key, size, sha)


def _create(
    run: Run, index: RemoteIndex, key: str, entry: Path, info: ObjectInfo, artifact: Path
) -> Outcome:
    """Create ``key`` from the cache's ``entry``; an object already there must hold it."""
    run.observer.started(artifact, info.size)
    try:
        run.store.put(key, entry, info, overwrite=False, progress=run.progress(artifact))
    except ObjectExists:
        remote = run.store.stat(key)
        if remote is None or not index.holds(key, remote, info):
            shown = shlex.quote(run.workspace.display(artifact))
            raise ConflictError(
                f"{run.workspace.display(artifact)}: the store already holds different content "
                f"under {key!r}; nothing was replaced. To replace it: cavorite upload --force "
                f"{shown}"
            ) from None
        return Outcome.ALREADY_STORED
    return Outcome.UPLOADED
