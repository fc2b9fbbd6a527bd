"""Many small files from or to the local store, shared between processes, one per core: their
work is mostly Python holding the interpreter lock, which threads cannot share.

A batch of at least :data:`FORK_FILES` files is split into contiguous shares (files of the same
directories), one forked child process each (:func:`cavorite_py.parallel.forked_map`). A child
does its files with the run's own code, but with a stand-in for the state cache
(:class:`Recorder`: the parent's SQLite connection is never used in a child) and no observer;
it sends each result back with what the state cache learnt, and the content-cache entries it
added. The parent remembers those, reports each file to its observer, and does itself every file
a child failed or did not get to: their result and message are what they would have been.

Only the ``cavorite`` command's process forks (:func:`cavorite_py.parallel.forking_allowed`),
and only with one thread (the progress display on a terminal runs one), a store on this machine
(or every file from the content cache), more than one job and a run not stopped by a store found
down.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from . import metadata, tempfiles
from .errors import ParentOnly
from .hashing import hash_file
from .metadata import Metadata
from .parallel import cores, forked_map, forking_allowed
from .results import FileResult, NullObserver, Outcome
from .run import Run
from .state import Known, StateCache
from .stores.base import ObjectInfo

T = TypeVar("T")

FORK_FILES = 500
"""files of a batch from which their work is shared between processes"""

log = logging.getLogger(__name__)

Learnt = list[tuple[str, tuple[Any, ...]]]
"""what a child's state cache stand-in recorded: (method of the state cache, its arguments)"""

Sent = tuple[Path | None, int, str | None, int | None, str | None, str | None, Learnt, int]
"""a child's result of one file, as it is sent: the artifact's path (None: the item's, which
the parent has), the outcome (its place in :class:`Outcome`), key, size, sha256 and detail;
what the state cache learnt; how many entries the content cache gained"""

_OUTCOMES = tuple(Outcome)
_CODES = {outcome: i for i, outcome in enumerate(_OUTCOMES)}


def processes(run: Run, files: int, cached: bool = False) -> int:
    """How many processes share the work of ``files`` files: one per core (no more than the
    run's jobs), or 1 (this one) for fewer than :data:`FORK_FILES`, a store elsewhere (unless
    ``cached``: every file comes from the content cache, and the store is not opened), one
    job, a store found down, a process with threads or other than the ``cavorite`` command's."""
    if (
        files < FORK_FILES
        or not forking_allowed()
        or run.jobs == 1
        or run.watch.down is not None
        or threading.active_count() != 1
        or not (cached or run.store.objects_on_this_machine)
    ):
        return 1
    usable = cores()
    return min(run.jobs or usable, usable)


def share(
    run: Run,
    items: Sequence[T],
    one: Callable[[T], FileResult],
    artifact_of: Callable[[T], Path],
    procs: int,
    *,
    holding: bool = False,
    start: Callable[[Sequence[T]], None] | None = None,
) -> list[FileResult | None]:
    """``one`` over ``items`` in ``procs`` child processes; the result of each item, None for
    those no child did (the caller does them, as usual). ``holding``: ``one`` asks which
    stored objects hold a content (an upload looking for a copy to make). ``start``: called
    in each child with its share of the items, before ``one`` is called for any."""
    results: list[FileResult | None] = [None] * len(items)
    if procs < 2 or not items:
        return results
    # the run's temporary area, opened (and locked) once, for the children to share
    tempfiles.place_for(artifact_of(items[0]))
    if holding:
        run.cache.prepare_holding()
    recorder = Recorder(run.cache)

    def sent(i: int, got: Sent) -> None:
        path, outcome, key, size, checksum, detail, learnt, added = got
        for method, args in learnt:
            getattr(run.cache, method)(*args)
        if added:
            run.content.note_added(added)
        artifact = artifact_of(items[i]) if path is None else path
        result = FileResult(artifact, _OUTCOMES[outcome], key, size, checksum, detail=detail)
        if log.isEnabledFor(logging.DEBUG):
            shown = run.workspace.display(result.path)
            log.debug("%s: %s in a child process", shown, result.outcome.value)
        run.observer.started(result.path, result.size)
        run.observer.advanced(result.path, result.size or 0)
        run.observer.finished(result)
        results[i] = result

    def as_child(share: Sequence[T]) -> None:
        tempfiles.forked()
        run.forked()
        run.cache.forked()
        run.cache = cast(StateCache, recorder)
        run.observer = NullObserver()
        if start is not None:
            start(share)

    def in_child(item: T) -> Sent | None:
        before = run.content.added
        artifact = artifact_of(item)
        result = run.attempt(artifact, lambda: one(item))
        learnt = recorder.take()
        if result.failed:
            return None
        # (the parent has the item's artifact: a path sent back would be made again there)
        path = None if result.path is artifact else result.path
        r = result
        outcome = _CODES[r.outcome]
        return (
            path,
            outcome,
            r.key,
            r.size,
            r.checksum,
            r.detail,
            learnt,
            run.content.added - before,
        )

    forked_map(in_child, items, procs, sent, as_child, run.stop)
    return results


class Recorder:
    """The state cache as a child process sees it. What a file's work learns is recorded, for
    the parent to remember (with the time it was learnt: a hash is trusted only for a file
    modified clearly before it was read). What the parent's state cache knows is asked of it,
    and it reads the cache's file by a connection of the child's own (see
    :meth:`StateCache.forked`): a file's sha256 for its stat (else the file is read and
    hashed), what it knows of a directory's files, an object's sha256 at a listed version,
    the objects holding a content. A cfile is read, as without a state cache. Anything else
    fails the file, which the parent then does itself."""

    def __init__(self, parents: StateCache) -> None:
        self._parents = parents
        self._learnt: Learnt = []

    def file_sha256(self, path: Path, st: os.stat_result) -> str:
        known = self._parents.lookup(path, st)
        if known is not None:
            return known
        started = time.time_ns()
        sha = hash_file(path)[0]
        self._learnt.append(("remember", (path, st, sha, started)))
        return sha

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        return self._parents.lookup(path, st)

    def directory(self, path: Path) -> Known:
        return self._parents.directory(path)

    def object_sha256(self, store: str, key: str, listed: ObjectInfo) -> str | None:
        return self._parents.object_sha256(store, key, listed)

    def remember(self, path: Path, st: os.stat_result, sha256: str) -> None:
        self._learnt.append(("remember", (path, st, sha256, time.time_ns())))

    def remember_object(self, store: str, key: str, info: ObjectInfo) -> None:
        self._learnt.append(("remember_object", (store, key, info)))

    def cfile(self, cfile: Path) -> Metadata:
        return metadata.read(cfile)

    def objects_holding(self, store: str, sha256: str) -> list[str]:
        return self._parents.objects_holding(store, sha256)

    def take(self) -> Learnt:
        learnt, self._learnt = self._learnt, []
        return learnt

    def __getattr__(self, name: str) -> Any:
        raise ParentOnly(f"{name} is for the parent process")
