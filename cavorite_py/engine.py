"""The rules of upload and retrieve, the same for every store.

Upload, per file: derive the key and check that a cfile can be written beside the file; hash
(one pass); ``stat`` the key: the same sha256 means nothing to send, different content is refused
unless ``force``; upload; check the file did not change meanwhile; only then write the cfile
(atomically).

Retrieve, per cfile: validate; a local file with the right hash means nothing to do, a different
one is left alone unless ``force``; otherwise download into a temporary file beside the artifact,
hashing as bytes arrive, and rename it into place only on a match. Temporary files that runs
killed long ago left beside the cfiles are removed first (see ``fsutil.remove_stale_temps``).

Many files run in parallel; every file gets a result; one failure does not stop the others.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat as statmod
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from . import metadata
from .errors import (
    CavoriteError,
    ConflictError,
    FileChangedError,
    IntegrityError,
    NotAttempted,
    ObjectExists,
    ObjectNotFound,
    PathError,
    StoreDown,
    StoreError,
)
from .fsutil import remove_stale_temps, temp_path_for
from .hashing import HashingWriter, hash_file
from .metadata import Metadata
from .parallel import bounded_map
from .results import FileResult, NullObserver, Observer, Outcome, Report
from .state import signature
from .stores.base import ObjectInfo, Store
from .workspace import Workspace


class Hasher(Protocol):
    """Gives a file's sha256, and a cfile's content; a cache may answer without reading, and
    may also remember what a stored object held at a version its store gave it."""

    def sha256(self, path: Path, st: os.stat_result) -> str: ...

    def metadata(self, cfile: Path) -> Metadata:
        """The cfile's validated content, as :func:`metadata.read` gives it."""

    def remember(self, path: Path, st: os.stat_result, sha256: str) -> None: ...

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        """The sha256 if known without reading the file, else None."""

    def stored_sha256(self, store: str, key: str, listed: ObjectInfo) -> str | None:
        """The sha256 of ``key`` if it was seen at the version and size ``listed`` shows."""

    def remember_stored(self, store: str, key: str, info: ObjectInfo) -> None: ...


class PlainHasher:
    """Reads and hashes the file every time."""

    def sha256(self, path: Path, st: os.stat_result) -> str:
        return hash_file(path)[0]

    def metadata(self, cfile: Path) -> Metadata:
        return metadata.read(cfile)

    def remember(self, path: Path, st: os.stat_result, sha256: str) -> None:
        pass

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        return None

    def stored_sha256(self, store: str, key: str, listed: ObjectInfo) -> str | None:
        return None

    def remember_stored(self, store: str, key: str, info: ObjectInfo) -> None:
        pass


class _Discard:
    def write(self, data: bytes | bytearray | memoryview) -> int:
        return len(data)


def measure(store: Store, key: str) -> ObjectInfo:
    """A stored object's size and sha256, by streaming it (for stores that keep no sha256),
    with the version the store says it sent, if it says."""
    sink = HashingWriter(_Discard())
    version = store.get(key, cast(BinaryIO, sink))
    return ObjectInfo(sink.size, sink.hexdigest(), version)


def stored_matches(remote: ObjectInfo, size: int | None, sha256: str) -> bool | None:
    """Whether the stored object ``remote`` (what the store said of it, or :func:`measure`)
    holds the content of this size and sha256; None if it has the size but no sha256 is known:
    cannot tell without measuring it."""
    if size is not None and remote.size != size:
        return False
    if remote.sha256 is not None:
        return remote.sha256.lower() == sha256
    return None


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


def same_file_state(a: os.stat_result, b: os.stat_result) -> bool:
    """Whether nothing wrote to the file between two stats (ctime catches a restored mtime)."""
    return signature(a) == signature(b)


def name_max(directory: Path) -> int:
    """The longest file name, in bytes, that ``directory``'s file system accepts."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


@dataclass(frozen=True, slots=True)
class _Looked:
    """What retrieve's first look at a cfile learnt: where its artifact goes, the cfile's
    content if it could be read, and whether no file was there."""

    artifact: Path
    meta: Metadata | None = None
    absent: bool = False


LIST_MIN_FILES = 64
"""from this many files on, upload lists the store once instead of asking about each file"""
LIST_MAX_FACTOR = 4
"""a listing that returns more than this many keys per file is abandoned"""


@dataclass
class Engine:
    """Uploads and retrieves files of one workspace through one store."""

    workspace: Workspace
    store: Store | Callable[[], Store]
    """the store, or a function that opens it when a file first needs it: a retrieve that finds
    every file in place then never opens the store (nor imports a cloud SDK)"""
    jobs: int | None = None
    """files in flight at once; None: the store's ``default_jobs``"""
    observer: Observer = field(default_factory=NullObserver)
    hasher: Hasher = field(default_factory=PlainHasher)
    on_uploaded: Callable[[Sequence[Path]], None] | None = None
    """called once with every artifact whose cfile was written (e.g. to update .gitignore)"""
    _listed: dict[str, ObjectInfo | None] | None = field(default=None, init=False, repr=False)
    """the keys of this upload that one listing of the store showed, with what it told of
    each; None when the store was not listed (then each file's key is ``stat``-ed)"""
    _ready_dirs: set[Path] = field(default_factory=set, init=False, repr=False)
    """directories this run found it can write cfiles (upload) or downloads (retrieve) into"""
    _name_max: dict[Path, int] = field(default_factory=dict, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _watch: StoreWatch = field(default_factory=StoreWatch, init=False, repr=False)

    @property
    def _store(self) -> Store:
        """The store, opened now if it was not yet (in the main thread: see ``_run``)."""
        if not isinstance(self.store, Store):
            self.store = self.store()
        return self.store

    @functools.cached_property
    def _store_name(self) -> str:
        """The store as the state cache knows it (its description), worked out once per run."""
        return self._store.describe()

    # ----------------------------------------------------------------- many files

    def upload(self, artifacts: Sequence[Path], force: bool = False) -> Report:
        self._listed = self._list_batch(artifacts)
        report = self._run(artifacts, lambda p: self._upload_one(p, force), lambda p: p)
        done = [r.path for r in report.results if not r.failed]
        if self.on_uploaded is not None and done:
            try:
                self.on_uploaded(done)
            except CavoriteError as exc:  # the uploads stand; say what is left to do
                report.warnings.append(str(exc))
        return report

    def retrieve(self, cfiles: Sequence[Path], force: bool = False) -> Report:
        for directory in dict.fromkeys(map(os.path.dirname, cfiles)):
            remove_stale_temps(Path(directory))  # partial downloads of runs killed long ago
        # files already in place are recognised here, from the state cache, without the cost
        # of a thread hand-off each; only the others go to the workers, with what was learnt
        known: list[FileResult | None] = []
        todo: dict[Path, _Looked] = {}
        for cfile in cfiles:
            looked = self._look(cfile)
            if isinstance(looked, FileResult):
                known.append(looked)
                self.observer.finished(looked)
            else:
                known.append(None)
                todo[cfile] = looked
        worked = self._run(
            list(todo),
            lambda c: self._retrieve_one(c, force, todo[c]),
            lambda c: todo[c].artifact,
        )
        rest = dict(zip(todo, worked.results, strict=True))
        return Report([r if r is not None else rest[c] for r, c in zip(known, cfiles, strict=True)])

    def _look(self, cfile: Path) -> FileResult | _Looked:
        """An up-to-date result if the artifact is in place by the state cache; otherwise what
        was learnt on the way (then the full rules run, and report any problem)."""
        artifact = self.workspace.artifact_for(cfile)
        if self.workspace.is_cfile(artifact):
            return _Looked(artifact)  # refused by the full rules
        try:
            meta = self.hasher.metadata(cfile)
        except CavoriteError:
            return _Looked(artifact)
        try:
            st = os.lstat(artifact)
        except FileNotFoundError:
            return _Looked(artifact, meta, absent=True)
        except OSError:
            return _Looked(artifact, meta)
        if not statmod.S_ISREG(st.st_mode) or self.hasher.lookup(artifact, st) != meta.checksum:
            return _Looked(artifact, meta)
        return FileResult(artifact, Outcome.UP_TO_DATE, meta.name, meta.size, meta.checksum)

    def _list_batch(self, artifacts: Sequence[Path]) -> dict[str, ObjectInfo | None] | None:
        """One listing of the store for batches where it is cheaper than a ``stat`` per file.
        A key it does not show costs one request (its put, which refuses to overwrite, so a key
        stored meanwhile is still caught); a key it shows at a version whose content the state
        cache remembers costs none."""
        if len(artifacts) < LIST_MIN_FILES:
            return None
        keys = set()
        for artifact in artifacts:
            with contextlib.suppress(CavoriteError, ValueError):
                keys.add(self.workspace.key_for(artifact))
        prefix = os.path.commonprefix(sorted(keys))  # noqa: RUF071 - cut back to a "/" below
        prefix = prefix[: prefix.rfind("/") + 1]
        listed: dict[str, ObjectInfo | None] = {}
        seen = 0
        try:
            for key, info in self._store.list_info(prefix):
                seen += 1
                if seen > LIST_MAX_FACTOR * len(keys):
                    return None  # the store holds far more: stat each file instead
                if key in keys:
                    listed[key] = info
        except StoreDown as exc:
            self._watch.saw(exc)  # no connection, or no such bucket: no file can be uploaded
            return None
        except StoreError:
            return None  # each file's own stat will report the problem
        return listed

    def _remote(self, key: str) -> ObjectInfo | None:
        """What the store holds under ``key``: from the listing when it shows the key absent, or
        at a version whose content is remembered; otherwise from the store's ``stat`` (its
        sha256, or the one remembered at the version it shows)."""
        if self._listed is not None:
            if key not in self._listed:
                return None
            listed = self._listed[key]
            if listed is not None and (known := self._remembered(key, listed)) is not None:
                return known
        remote = self._store.stat(key)
        if remote is None:
            return None
        if remote.sha256 is None:
            return self._remembered(key, remote) or remote
        self.hasher.remember_stored(self._store_name, key, remote)
        return remote

    def _remembered(self, key: str, seen: ObjectInfo) -> ObjectInfo | None:
        """``seen`` with the sha256 the state cache remembers at its version and size."""
        sha = self.hasher.stored_sha256(self._store_name, key, seen)
        return None if sha is None else ObjectInfo(seen.size, sha, seen.version)

    def _run(
        self,
        paths: Sequence[Path],
        one: Callable[[Path], FileResult],
        artifact_of: Callable[[Path], Path],
    ) -> Report:
        def guarded(path: Path) -> tuple[Path, FileResult]:
            artifact = artifact_of(path)
            try:
                if self._stop.is_set():
                    raise CavoriteError(f"{self.workspace.display(artifact)}: interrupted")
                self._watch.check(self.workspace.display(artifact))
                result = one(path)
            except StoreError as exc:
                self._watch.saw(exc)
                named = _naming(exc, self.workspace.display(artifact))
                result = FileResult(artifact, Outcome.FAILED, error=named)
            except CavoriteError as exc:
                result = FileResult(artifact, Outcome.FAILED, error=exc)
            except OSError as exc:
                error = CavoriteError(f"{self.workspace.display(artifact)}: {_os_message(exc)}")
                result = FileResult(artifact, Outcome.FAILED, error=error)
            self.observer.finished(result)
            return path, result

        if not paths:
            return Report()
        jobs = self.jobs or self._store.default_jobs  # opens the store before the workers start
        by_path = dict(bounded_map(guarded, paths, jobs, on_stop=self._stop.set))
        return Report([by_path[p] for p in paths])

    def _progress(self, artifact: Path) -> Callable[[int], None]:
        """The progress callback of one transfer; it also ends the transfer early, at its next
        chunk, once the run is interrupted (Ctrl-C), so that workers stop instead of finishing."""

        def advanced(nbytes: int) -> None:
            if self._stop.is_set():
                raise CavoriteError(f"{self.workspace.display(artifact)}: interrupted")
            self.observer.advanced(artifact, nbytes)

        return advanced

    # ----------------------------------------------------------------- upload

    def _upload_one(self, artifact: Path, force: bool) -> FileResult:
        ws = self.workspace
        before = os.lstat(artifact)  # a file replaced by a link since it was chosen is refused
        if not statmod.S_ISREG(before.st_mode):
            raise PathError(f"{ws.display(artifact)}: not a regular file")
        key = ws.key_for(artifact)
        cfile = ws.cfile_for(artifact)
        cfile_exists = self._check_cfile_target(artifact, cfile)
        sha = self.hasher.sha256(artifact, before)
        info = ObjectInfo(before.st_size, sha)
        remote = self._remote(key)
        if remote is not None and self._holds(key, remote, info):
            outcome = Outcome.ALREADY_STORED
        else:
            if remote is not None and not force:
                raise self._conflict(artifact, key)
            self._probe_cfile_directory(cfile)
            outcome = self._put(key, artifact, info, before, remote is not None, force)
        self._write_cfile(cfile, key, info, before, cfile_exists)
        return FileResult(artifact, outcome, key, info.size, sha)

    def _check_cfile_target(self, artifact: Path, cfile: Path) -> bool:
        """Refuse, before anything is read or sent, a file whose cfile could not be written: an
        object stored for it would be pointed at by no cfile. Return whether the cfile exists."""
        ws = self.workspace
        limit = self._name_max.get(cfile.parent)
        if limit is None:
            limit = self._name_max[cfile.parent] = name_max(cfile.parent)
        if len(os.fsencode(cfile.name)) > limit:
            raise PathError(
                f"{ws.display(artifact)}: name too long for a cfile beside it "
                f"({len(os.fsencode(cfile.name))} bytes with the extension); rename the file"
            )
        try:
            st: os.stat_result | None = os.lstat(cfile)
        except FileNotFoundError:
            st = None
        if st is not None and not statmod.S_ISREG(st.st_mode):
            what = "a symbolic link" if statmod.S_ISLNK(st.st_mode) else "not a regular file"
            raise PathError(f"{ws.display(cfile)}: is {what}; move it aside and upload again")
        return st is not None

    def _probe_cfile_directory(self, cfile: Path) -> None:
        """Before an object is sent: make sure ``cfile`` can be created (access(2) also answers
        for root on a read-only file system or immutable directory)."""
        if cfile.parent in self._ready_dirs:
            return
        if not os.access(cfile.parent, os.W_OK | os.X_OK):
            raise CavoriteError(
                f"{self.workspace.display(cfile)}: cannot be written (permission denied or a "
                "read-only file system); nothing was uploaded"
            )
        self._ready_dirs.add(cfile.parent)

    def _holds(self, key: str, remote: ObjectInfo, info: ObjectInfo) -> bool:
        """Whether the stored object ``remote`` has exactly the content described by ``info``.
        An object whose store keeps no sha256 is measured once per version: what was measured
        is remembered against the version the store says it sent."""
        assert info.sha256 is not None
        if remote.sha256 is None and remote.size == info.size:
            remote = measure(self._store, key)
            self.hasher.remember_stored(self._store_name, key, remote)
        return bool(stored_matches(remote, info.size, info.sha256))

    def _conflict(self, artifact: Path, key: str) -> ConflictError:
        return ConflictError(
            f"{self.workspace.display(artifact)}: the store already holds different content "
            f"under {key!r}, which older cfiles point at; use --force to overwrite it"
        )

    def _put(
        self,
        key: str,
        artifact: Path,
        info: ObjectInfo,
        before: os.stat_result,
        overwrite: bool,
        force: bool,
    ) -> Outcome:
        self.observer.started(artifact, info.size)
        progress = self._progress(artifact)
        try:
            stored = self._store.put(key, artifact, info, overwrite=overwrite, progress=progress)
        except ObjectExists:
            # stored by someone else between our look and our put: fine if it is our content
            remote = self._store.stat(key)
            if remote is not None and self._holds(key, remote, info):
                return Outcome.ALREADY_STORED
            if not force:
                raise self._conflict(artifact, key) from None
            overwrite = True
            stored = self._store.put(key, artifact, info, overwrite=True, progress=progress)
        after = os.lstat(artifact)
        if not same_file_state(before, after):
            if not overwrite:  # created by this run: remove it (an overwritten one is the
                with contextlib.suppress(StoreError):  # user's forced choice; its hash no
                    self._store.delete(key)  # longer matches, so retrieve refuses it)
            raise FileChangedError(
                f"{self.workspace.display(artifact)}: changed while it was being uploaded; "
                "no cfile written. Upload it again once the file is complete"
            )
        if stored is not None:  # the version of what was just sent, whose sha256 we know
            self.hasher.remember_stored(
                self._store_name, key, ObjectInfo(info.size, info.sha256, stored.version)
            )
        return Outcome.UPLOADED

    def _write_cfile(
        self, cfile: Path, key: str, info: ObjectInfo, st: os.stat_result, exists: bool
    ) -> None:
        assert info.sha256 is not None
        old: Metadata | None = None
        if exists:
            with contextlib.suppress(CavoriteError):
                old = self.hasher.metadata(cfile)
        if metadata.describes(old, key, info.sha256, info.size):
            return  # unchanged: leave the file (and its date) alone
        extra = old.extra if old is not None else {}
        stamp = metadata.format_timestamp(st.st_mtime_ns)
        metadata.write(cfile, Metadata(key, info.sha256, stamp, info.size, extra))

    # ----------------------------------------------------------------- retrieve

    def _retrieve_one(self, cfile: Path, force: bool, looked: _Looked) -> FileResult:
        ws = self.workspace
        artifact = looked.artifact
        if ws.is_cfile(artifact):
            raise PathError(
                f"{ws.display(cfile)}: the metadata file of a metadata file; cavorite never "
                "tracks cfiles, remove it"
            )
        meta = looked.meta if looked.meta is not None else self.hasher.metadata(cfile)
        # absent when looked at: download (a file that appears meanwhile is never replaced)
        local = None if looked.absent else self._local_state(artifact)
        if local is not None and self.hasher.sha256(artifact, local) == meta.checksum:
            outcome = Outcome.UP_TO_DATE
        elif local is not None and not force:
            raise ConflictError(
                f"{ws.display(artifact)}: modified locally (differs from its cfile); "
                "upload it to keep the change, or retrieve --force to discard it"
            )
        else:
            self._download(meta, artifact, replace=local is not None)
            outcome = Outcome.RETRIEVED
        return FileResult(artifact, outcome, meta.name, meta.size, meta.checksum)

    def _local_state(self, artifact: Path) -> os.stat_result | None:
        try:
            st = os.lstat(artifact)
        except FileNotFoundError:
            return None
        if statmod.S_ISREG(st.st_mode):
            return st
        what = "a symbolic link" if statmod.S_ISLNK(st.st_mode) else "not a regular file"
        raise PathError(
            f"{self.workspace.display(artifact)}: is {what}; move it aside and retrieve again"
        )

    def _download(self, meta: Metadata, artifact: Path, replace: bool) -> None:
        ws = self.workspace
        if artifact.parent not in self._ready_dirs:
            artifact.parent.mkdir(parents=True, exist_ok=True)
            self._ready_dirs.add(artifact.parent)
        tmp = temp_path_for(artifact)
        self.observer.started(artifact, meta.size)
        try:
            with open(tmp, "xb") as f:
                sink = HashingWriter(f, self._progress(artifact))
                version = self._get(meta.name, sink, artifact)
            got = sink.hexdigest()
            if got != meta.checksum or (meta.size is not None and sink.size != meta.size):
                raise IntegrityError(
                    f"{ws.display(artifact)}: downloaded content does not match its cfile "
                    f"(expected sha256 {meta.checksum}, got {got}); the download was deleted"
                )
            if version is not None:  # what the store holds at this version: a later upload
                stored = ObjectInfo(sink.size, got, version)  # need not download it
                self.hasher.remember_stored(self._store_name, meta.name, stored)
            _backdate(tmp)
            if replace:
                os.replace(tmp, artifact)  # --force over a local edit: asked for
            else:
                self._place_new(tmp, artifact, got)
        finally:
            tmp.unlink(missing_ok=True)
        # remembered after the temporary name is gone: unlinking it changed the file's ctime
        self.hasher.remember(artifact, os.stat(artifact), got)

    def _place_new(self, tmp: Path, artifact: Path, sha256: str) -> None:
        """Move a verified download to where no file was, never over one that appeared since
        (unless it is the same content, as another run retrieving the same file writes)."""
        try:
            os.link(tmp, artifact)
            return
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: the narrow window stays
            if not os.path.lexists(artifact):
                os.replace(tmp, artifact)
                return
        st = self._local_state(artifact)
        if st is None or self.hasher.sha256(artifact, st) != sha256:
            raise ConflictError(
                f"{self.workspace.display(artifact)}: a different file appeared there during the "
                "download and was left alone; retrieve again (with --force to replace it)"
            )

    def _get(self, key: str, sink: HashingWriter, artifact: Path) -> str | None:
        try:
            return self._store.get(key, cast(BinaryIO, sink))
        except ObjectNotFound:
            raise ObjectNotFound(
                f"{self.workspace.display(artifact)}: object {key!r} is not in the store "
                f"({self._store.describe()}); was it uploaded?"
            ) from None


def _naming(exc: StoreError, where: str) -> StoreError:
    """``exc`` with the file's name in front: a store's message ("cannot reach ...") does not
    say which file of a run failed. Same type, same cause; unchanged if it names the file."""
    if str(exc).startswith(f"{where}: "):
        return exc
    try:
        named = type(exc)(f"{where}: {exc}")
    except TypeError:  # a plugin's own subclass with another signature
        return exc
    named.__cause__ = exc.__cause__
    named.__suppress_context__ = True
    return named


BACKDATE_NS = 2_000_000_000


def _backdate(path: Path) -> None:
    """Date a verified download two seconds back, before it gets its real name. Its hash can
    then be remembered at once: any later write moves the mtime (and ctime) to the present, so
    the state cache sees it, whereas a file dated "now" stays unreliable for a clock tick and
    would be hashed again by the next run."""
    now = time.time_ns()
    os.utime(path, ns=(now, now - BACKDATE_NS))


def _os_message(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)
