"""Retrieve's rules, per cfile: validate it; a local file with the right hash means nothing to
do; one holding content cavorite placed or uploaded there (the state cache remembers it) is
outdated and replaced; any other content is a local edit, left alone unless ``force``;
otherwise download into a temporary file (in the repository's temporary area, see
``tempfiles``), hashing as bytes arrive, and rename it into place only on a match. The bytes
come from the machine-wide content cache when it holds them (hashed on the way out just the
same), else from the store; a download then enters the cache. Temporary files of runs that ended
are removed first (see ``tempfiles.remove_ended``, and ``fsutil.remove_stale_temps`` for those
beside the cfiles).

Each cfile is looked at first, in the calling thread, by everything that needs neither the store
nor reading the artifact: a file the state cache knows to be in place is done there, without the
cost of a hand-off to a worker; the others go to the workers with what the look found.

Many files absent locally and coming from the local store, or all from the content cache, are
shared between processes, one per core (see :mod:`cavorite_py.forking`).
"""

from __future__ import annotations

import functools
import os
import stat as statmod
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from . import forking, tempfiles
from .errors import CavoriteError, ConflictError, IntegrityError, ObjectNotFound, PathError
from .fsutil import remove_stale_temps, temp_path_for
from .hashing import HashingWriter
from .metadata import Metadata
from .remote import RemoteIndex
from .results import FileResult, Outcome, Report
from .run import RoomCheck, Run
from .state import signature
from .stores.base import ObjectInfo

BACKDATE_NS = 2_000_000_000


def retrieve(run: Run, cfiles: Iterable[Path], force: bool = False) -> Report:
    """Put every cfile's artifact in place, verified; one result per cfile, in their order."""
    return Retrieve(run, force).all(cfiles)


@dataclass(frozen=True, slots=True)
class _Looked:
    """What the look at a cfile found for its worker: where its artifact goes, and either the
    cfile's content and the artifact's stat (None: no file there) or the error to report."""

    artifact: Path
    meta: Metadata | None = None
    local: os.stat_result | None = None
    error: CavoriteError | OSError | None = None


@dataclass
class Retrieve:
    run: Run
    force: bool
    index: RemoteIndex = field(init=False)
    _ready_dirs: set[Path] = field(default_factory=set, init=False, repr=False)
    """directories this run created or found in place for downloads"""
    _room: RoomCheck = field(default_factory=RoomCheck, init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = RemoteIndex(self.run)

    def all(self, cfiles: Iterable[Path]) -> Report:
        # partial downloads of runs that ended: at once in the repository's temporary area,
        # once old beside the cfiles (where earlier versions wrote them)
        tempfiles.remove_ended(self.run.workspace.root)
        report = Report()
        for batch in self.run.batches(cfiles):
            report.results.extend(self._batch(batch).results)
        return report

    def _batch(self, cfiles: Sequence[Path]) -> Report:
        for directory in dict.fromkeys(map(os.path.dirname, cfiles)):
            # partial downloads of runs killed long ago
            remove_stale_temps(Path(directory))
        known: list[FileResult | None] = []
        todo: dict[Path, _Looked] = {}
        for cfile in cfiles:
            looked = self._look(cfile)
            if isinstance(looked, FileResult):
                known.append(looked)
            else:
                known.append(None)
                todo[cfile] = looked
        wanted = [t.meta.checksum for t in todo.values() if t.meta is not None]
        self.run.content.pin(wanted)
        # every object in the cache: the store is not opened (it may be unreachable)
        cached = all(self.run.content.has(sha) for sha in wanted)
        sizes = {t.artifact: t.meta.size if t.meta else None for t in todo.values()}
        self.run.plan(sizes, [r for r in known if r is not None])
        done = self._forked(todo, cached)
        left = [c for c in todo if c not in done]
        done.update(
            self.run.each_by_path(
                left, lambda c: self._one(todo[c]), lambda c: todo[c].artifact, not cached
            )
        )
        return Report([r if r is not None else done[c] for r, c in zip(known, cfiles, strict=True)])

    def _forked(self, todo: dict[Path, _Looked], cached: bool) -> dict[Path, FileResult]:
        """Download the files absent when looked at, shared between processes when there are
        many and they come from the local store, or all from the content cache (``cached``;
        see :mod:`cavorite_py.forking`); the results of those the children did. From the
        cache, 2,000 x 32 KiB on ext4 took 0.41 s with two processes against 0.55 s with one
        (medians of 9), once each process wrote its temporary files in a directory of its own."""
        fresh = [c for c, t in todo.items() if t.error is None and t.local is None]
        procs = forking.processes(self.run, len(fresh), cached)
        done = forking.share(
            self.run, fresh, lambda c: self._one(todo[c]), lambda c: todo[c].artifact, procs
        )
        return {c: r for c, r in zip(fresh, done, strict=True) if r is not None}

    def _look(self, cfile: Path) -> FileResult | _Looked:
        """Up to date by the state cache: the file's result; otherwise what the rules found
        without the store or reading the artifact, a problem included (reported by the worker,
        in its turn, like any other)."""
        artifact = self.run.workspace.artifact_for(cfile)
        try:
            meta = self._validate(cfile, artifact)
            local = self._local_state(artifact)
        except (CavoriteError, OSError) as exc:
            return _Looked(artifact, error=exc)
        if local is not None and self.run.cache.lookup(artifact, local) == meta.checksum:
            return _result(artifact, meta, Outcome.UP_TO_DATE)
        return _Looked(artifact, meta, local)

    def _validate(self, cfile: Path, artifact: Path) -> Metadata:
        ws = self.run.workspace
        if ws.is_cfile(artifact):
            raise PathError(
                f"{ws.display(cfile)}: the metadata file of a metadata file; cavorite never "
                "tracks cfiles, remove it"
            )
        return self.run.cache.cfile(cfile)

    def _one(self, looked: _Looked) -> FileResult:
        if looked.error is not None:
            raise looked.error
        artifact, meta = looked.artifact, looked.meta
        assert meta is not None
        # absent when looked at: download (a file that appears meanwhile is never replaced);
        # present: looked at again, as it may have changed since
        local = None if looked.local is None else self._local_state(artifact)
        held = None if local is None else self.run.cache.file_sha256(artifact, local)
        if held == meta.checksum:
            return _result(artifact, meta, Outcome.UP_TO_DATE)
        # content cavorite placed or uploaded there: an older version, replaced without --force
        outdated = held is not None and held in self.run.cache.placed(artifact)
        if held is not None and not (outdated or self.force):
            raise ConflictError(modified_message(self.run.workspace.display(artifact)))
        # an outdated file is replaced only as it was when hashed: an edit made during the
        # download is kept (with --force, the edit is discarded, as asked)
        unchanged = local if outdated and not self.force else None
        self._download(meta, artifact, replace=local is not None, unchanged=unchanged)
        return _result(artifact, meta, Outcome.RETRIEVED, "was outdated" if outdated else None)

    def _local_state(self, artifact: Path) -> os.stat_result | None:
        try:
            st = os.lstat(artifact)
        except FileNotFoundError:
            return None
        if statmod.S_ISREG(st.st_mode):
            return st
        what = "a symbolic link" if statmod.S_ISLNK(st.st_mode) else "not a regular file"
        raise PathError(
            f"{self.run.workspace.display(artifact)}: is {what}; move it aside and retrieve again"
        )

    def _download(
        self,
        meta: Metadata,
        artifact: Path,
        replace: bool,
        unchanged: os.stat_result | None = None,
    ) -> None:
        if artifact.parent not in self._ready_dirs:
            artifact.parent.mkdir(parents=True, exist_ok=True)
            self._ready_dirs.add(artifact.parent)
        tmp = temp_path_for(artifact)
        self._room.check(artifact.parent, meta.size)
        self.run.observer.started(artifact, meta.size)
        try:
            progress = self.run.progress(artifact)
            cached = self.run.content.place(meta.checksum, meta.size, tmp, progress)
            got, kept = (meta.checksum, True) if cached else self._from_store(meta, tmp, artifact)
            _backdate(tmp)
            if replace:
                self._check_unchanged(artifact, unchanged)
                # an outdated file, or --force over a local edit: asked for
                os.replace(tmp, artifact)
            else:
                self._place_new(tmp, artifact, got)
        finally:
            tmp.unlink(missing_ok=True)
        # remembered after the temporary name is gone: unlinking it changed the file's ctime
        st = os.stat(artifact)
        self.run.cache.remember(artifact, st, got)
        if not kept:
            # verified and in place: the next clone or checkout need not download it (a
            # reflink, where the file system can clone, or an entry present: no copy)
            self.run.content.add(got, artifact, always=self._cache_copies(), dev=st.st_dev)

    def _cache_copies(self) -> bool:
        """Whether a download is copied into the content cache where a reflink cannot add it:
        from a store on this machine, by default not (no second copy of what is at hand)."""
        content = self.run.content
        return not (self.run.store.objects_on_this_machine and not content.local_store_always)

    def _check_unchanged(self, artifact: Path, seen: os.stat_result | None) -> None:
        """Refuse to replace ``artifact`` if it changed since it was seen as ``seen``."""
        if seen is None:
            return
        now = self._local_state(artifact)
        if now is None or signature(now) != signature(seen):
            raise ConflictError(
                f"{self.run.workspace.display(artifact)}: changed during the download and was "
                "left alone; retrieve again (with --force to discard the change)"
            )

    def _from_store(self, meta: Metadata, tmp: Path, artifact: Path) -> tuple[str, bool]:
        """Download the object into ``tmp``; return its sha256 once verified, and whether it
        entered the content cache: written there too as it arrived (where a copy would be
        made once the file is complete), kept only once verified."""
        content = self.run.content
        with (
            _NewFile(tmp) as f,
            content.receiving(meta.checksum, f, tmp, self._cache_copies()) as target,
        ):
            # no more than the cfile's size: a store cannot fill the disk
            # the file's name as shown, worked out only for an error
            shown = functools.partial(self.run.workspace.display, artifact)
            sink = HashingWriter(target, self.run.progress(artifact), limit=meta.size, label=shown)
            version = self._get(meta.name, sink, artifact)
            f.close()
            got = self._verified(meta, sink, artifact)
            kept = target.keep(sink.size)
        if version is not None:
            # what the store holds at this version: a later upload need not download it
            self.index.remember(meta.name, ObjectInfo(sink.size, got, version))
        return got, kept

    def _get(self, key: str, sink: HashingWriter, artifact: Path) -> str | None:
        store = self.run.store
        try:
            return store.get(key, cast(BinaryIO, sink))
        except ObjectNotFound:
            raise ObjectNotFound(
                f"{self.run.workspace.display(artifact)}: object {key!r} is not in the store "
                f"({store.describe()}); was it uploaded?"
            ) from None

    def _verified(self, meta: Metadata, sink: HashingWriter, artifact: Path) -> str:
        """The download's sha256, if it is the cfile's (and so is its size)."""
        got = sink.hexdigest()
        if got != meta.checksum or (meta.size is not None and sink.size != meta.size):
            raise IntegrityError(
                f"{self.run.workspace.display(artifact)}: downloaded content does not match its "
                f"cfile (expected sha256 {meta.checksum}, got {got}); the download was deleted"
            )
        return got

    def _place_new(self, tmp: Path, artifact: Path, sha256: str) -> None:
        """Move a verified download to where no file was, never over one that appeared since
        (unless it is the same content, as another run retrieving the same file writes)."""
        try:
            os.link(tmp, artifact)
            return
        except FileExistsError:
            pass
        except OSError:
            # a file system without hard links: the narrow window stays
            if not os.path.lexists(artifact):
                os.replace(tmp, artifact)
                return
        st = self._local_state(artifact)
        if st is None or self.run.cache.file_sha256(artifact, st) != sha256:
            raise ConflictError(
                f"{self.run.workspace.display(artifact)}: a different file appeared there during "
                "the download and was left alone; retrieve again (with --force to replace it)"
            )


class _NewFile:
    """A file created for writing (never over an existing one), written with ``os.write``: a
    buffered file object's set-up costs more system calls (``fstat``, ``ioctl``, ``lseek``)
    than a small download's one write."""

    __slots__ = ("_fd", "name")

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o666)

    def __enter__(self) -> _NewFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        """Write all of ``data`` (as a buffered file does)."""
        view = memoryview(data).cast("B")
        size = len(view)
        while view:
            view = view[os.write(self._fd, view) :]
        return size

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def _result(
    artifact: Path, meta: Metadata, outcome: Outcome, detail: str | None = None
) -> FileResult:
    return FileResult(artifact, outcome, meta.name, meta.size, meta.checksum, detail=detail)


def modified_message(shown: str) -> str:
    """What to do with a file holding content cavorite did not put there. Never "upload" as
    such: the file may be older than a teammate's version the cfile now names."""
    return (
        f"{shown}: modified locally: holds content cavorite did not put there (differs from its "
        "cfile); to keep it, upload it (a new version in a versioned repository); to discard "
        "it, retrieve --force"
    )


def _backdate(path: Path) -> None:
    """Date a verified download two seconds back, before it gets its real name. Its hash can
    then be remembered at once: any later write moves the mtime (and ctime) to the present, so
    the state cache sees it, whereas a file dated "now" stays unreliable for a clock tick and
    would be hashed again by the next run."""
    now = time.time_ns()
    os.utime(path, ns=(now, now - BACKDATE_NS))
