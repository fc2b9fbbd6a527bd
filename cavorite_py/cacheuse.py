"""The content cache as one upload, retrieve or push uses it.

The cache only ever saves work: a failure of its own (an unwritable directory, a full disk)
turns it off for the rest of the run with one warning, and every file goes on as if it were
not there: a miss on retrieve, no copy on upload. Only keeping an object for a later push
(``upload --no-push``, or the store unreachable) needs it, and fails the file without it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

from .cache import Cache, Incoming
from .cachepending import Pending
from .cachesettings import CacheSettings
from .errors import CavoriteError
from .hashing import Sink
from .stores.base import Progress

log = logging.getLogger(__name__)

T = TypeVar("T")


class RunCache:
    """One run's use of the cache (``None``: no cache), for objects of the store ``store_id``
    and the repository at ``repo``. Created lazily; :meth:`finish` ends it."""

    def __init__(self, settings: CacheSettings | None, store_id: str = "", repo: str = "") -> None:
        self.settings = settings
        self.store_id = store_id
        self.repo = repo
        self._cache: Cache | None = None
        self._broken = settings is None
        self._lock = threading.Lock()
        self._owed: bool | None = None
        """whether any object was pending for the store when the run first asked"""

    @property
    def enabled(self) -> bool:
        return not self._broken

    @property
    def upload_always(self) -> bool:
        """Whether upload copies a file into the cache when a reflink cannot (``"always"``)."""
        return self.settings is not None and self.settings.upload == "always"

    @property
    def local_store_always(self) -> bool:
        """Whether a download from a store on this machine is copied into the cache when a
        reflink cannot add it for free (``"local_store": "always"``)."""
        return self.settings is not None and self.settings.local_store == "always"

    @property
    def cache(self) -> Cache:
        """The cache itself (created on first use; creating it writes nothing)."""
        with self._lock:
            if self._cache is None:
                assert self.settings is not None
                self._cache = Cache(self.settings)
            return self._cache

    def pin(self, sha256s: Iterable[str]) -> None:
        """Keep what this run will use from being evicted by others until :meth:`finish`."""
        shas = list(sha256s)
        self._guarded(lambda: self.cache.pin(shas), None)

    def has(self, sha256: str) -> bool:
        return self._guarded(lambda: self.cache.has(sha256), False)

    def place(self, sha256: str, size: int | None, target: Path, progress: Progress | None) -> bool:
        """The cached content at ``target``, verified; False on a miss (``target`` removed)."""
        return self._guarded(
            lambda: self.cache.place(sha256, size, target, progress=progress), False
        )

    def add(self, sha256: str, path: Path, *, always: bool = True, dev: int | None = None) -> bool:
        """Keep ``path``'s content (see :meth:`Cache.add`); False when not kept."""
        return self._guarded(lambda: self.cache.add(sha256, path, always=always, dev=dev), False)

    def receiving(self, sha256: str, file: Sink, path: Path, copy: bool) -> Receiving:
        """Where a download of ``sha256`` into ``file`` (open on the empty ``path``) writes: the
        file and, if ``copy`` and the cache would otherwise have to copy the file once complete
        (no reflink, see :meth:`Cache.incoming`), a new entry written from the same buffers."""
        entry = self._guarded(lambda: self.cache.incoming(sha256, path), None) if copy else None
        return Receiving(self, file, entry)

    def keep_pending(self, sha256: str, path: Path, key: str, rel: str) -> Pending:
        """Keep ``path``'s content for a later ``cavorite push`` to this run's store under
        ``key``; a :class:`CavoriteError` naming ``rel`` when it cannot be kept."""
        problem = "the cache is off for this run" if self._broken else "it changed meanwhile"
        try:
            if not self._broken and self.cache.add(sha256, path):
                return self.cache.pending.mark(
                    sha256, store=self.store_id, key=key, repo=self.repo, path=rel
                )
        except (OSError, ValueError) as exc:
            problem = str(exc)
        raise CavoriteError(
            f"{rel}: cannot be kept in the cache ({self.describe()}) for a later push: "
            f"{problem}; nothing was sent"
        )

    def forget_pending(self, sha256: str, key: str) -> None:
        """``sha256`` reached the store under ``key``: no push is owed for it any more.

        Nothing pending for the store when the run began: nothing to forget, and no file is
        touched (a mark another process makes meanwhile stays; ``push`` then finds the object
        stored with the same content, which is fine)."""
        if self._owed is None:
            self._owed = self._guarded(lambda: self.cache.pending.any_for(self.store_id), False)
        if self._owed:
            pending = self.cache.pending
            self._guarded(lambda: pending.forget(sha256, store=self.store_id, key=key), None)

    def pending(self) -> list[Pending]:
        """The objects waiting for this run's store, oldest first."""
        return self._guarded(lambda: self.cache.pending.entries(self.store_id), [])

    def describe(self) -> str:
        return str(self.settings.dir) if self.settings is not None else "no cache"

    @property
    def added(self) -> int:
        """Entries this run added to the cache (so far)."""
        return self._cache.stats["added"] if self._cache is not None else 0

    def note_added(self, count: int) -> None:
        """Count ``count`` entries another process of this run added (see
        :func:`cavorite_py.parallel.forked_map`): :meth:`finish` then keeps the cache within
        its limits, as after adding them itself."""
        if count:
            self.cache.stats["added"] += count

    def finish(self) -> None:
        """Bring the cache back within its limits if this run added to it; drop the pins."""
        if self._cache is None:
            return
        if self._cache.stats["added"] and not self._broken:
            self._guarded(self._cache.enforce, None)
        self._cache.close()

    def _guarded(self, work: Callable[[], T], otherwise: T) -> T:
        """``work()``, or ``otherwise`` once the cache failed (said once, then left alone)."""
        if self._broken:
            return otherwise
        try:
            return work()
        except OSError as exc:
            self.failed(exc)
            return otherwise

    def failed(self, exc: OSError) -> None:
        """The cache failed with ``exc``: off for the rest of the run, with one warning."""
        with self._lock:
            if not self._broken:
                self._broken = True
                log.warning(
                    "the cache %s cannot be used (%s); carrying on without it",
                    self.describe(),
                    exc.strerror or exc,
                )


class Receiving:
    """A download's file, every write also copied into a new cache entry when there is one
    (:meth:`RunCache.receiving`): the bytes are hashed once, by the download's own sink, instead
    of read, hashed and written again once the file is complete. A write the cache refuses (a
    full disk) drops the entry and turns the cache off for the run; the download goes on. The
    entry enters the cache only through :meth:`keep`, once the download is verified; leaving
    the ``with`` block drops it otherwise."""

    def __init__(self, run: RunCache, file: Sink, entry: Incoming | None) -> None:
        self._run, self._file, self._entry = run, file, entry

    def __enter__(self) -> Receiving:
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop()

    @property
    def name(self) -> object:
        """The file's ``name`` (see :attr:`HashingWriter.name`)."""
        return getattr(self._file, "name", None)

    def write(self, data: bytes | bytearray | memoryview, /) -> int | None:
        n = self._file.write(data)
        if self._entry is not None:
            view = memoryview(data).cast("B")
            try:
                self._entry.write(view if n is None else view[:n])
            except OSError as exc:
                self._drop()
                self._run.failed(exc)
        return n

    def keep(self, size: int) -> bool:
        """Put the entry in the cache, the download having been verified as ``size`` bytes of
        its sha256; whether the cache now holds it (False without an entry)."""
        entry, self._entry = self._entry, None
        return entry is not None and self._run._guarded(lambda: entry.keep(size), False)

    def _drop(self) -> None:
        entry, self._entry = self._entry, None
        if entry is not None:
            with suppress(OSError):
                entry.drop()


NO_CACHE = RunCache(None)
"""A run without the cache (the engine's default)."""


def pending_of(settings: CacheSettings, store_id: str) -> set[tuple[str, str]]:
    """The (sha256, key) of every object pending for ``store_id``; empty when the cache cannot
    be read (then nothing is taken as pending)."""
    run = RunCache(settings, store_id)
    return {(p.sha256, p.key) for p in run.pending()}
