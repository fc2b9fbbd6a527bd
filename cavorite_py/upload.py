"""Upload's rules, per file: check the key and that a cfile can be written beside the file;
hash (one pass); derive the key (a versioned key names the sha256); look at what the store holds
under the key: the same sha256 means nothing to send, different content is refused unless
``force``; content another key of the store holds (a renamed or copied artifact) is copied there
by the store, where it can, else uploaded; check the file did not change meanwhile; only then
write the cfile (atomically). The file then enters the content cache when that costs no copy (or
always, as configured).

Track now, push later: without ``push`` (``upload --no-push``), or once no connection to the
store can be made (:class:`StoreUnreachable`), nothing is sent: the file is kept in the content
cache as pending, for ``cavorite push``, and its cfile is written all the same (outcome
``not-pushed``; the run then ends with a warning and exit 1, as the store lacks the objects).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat as statmod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import forking, metadata
from .errors import (
    CavoriteError,
    ConflictError,
    FileChangedError,
    ObjectExists,
    ObjectNotFound,
    ParentOnly,
    PathError,
    StoreError,
    StoreUnreachable,
)
from .keys import KeyScheme
from .metadata import Metadata
from .remote import Match, RemoteIndex, match
from .results import COPIED, FileResult, Outcome, Report
from .run import Run
from .state import Known, signature
from .stores.base import ObjectInfo

LIST_MIN_FILES = 64
"""from this many files on, upload lists the store once instead of asking about each file"""
_ANY_SHA256 = "0" * 64
"""stands for the content when a key's form and length are checked before the file is read"""


def upload(run: Run, artifacts: Iterable[Path], force: bool = False, push: bool = True) -> Report:
    """Upload every artifact (unless ``push`` is off) and write its cfile; the artifacts the
    report shows done (not failed) are the ones whose cfile is written."""
    return Upload(run, force, push).all(artifacts)


@dataclass
class Upload:
    run: Run
    force: bool
    push: bool = True
    index: RemoteIndex = field(init=False)
    _down: StoreUnreachable | None = field(default=None, init=False, repr=False)
    """the store was found unreachable: the files from then on are kept for a later push"""
    _ready_dirs: set[Path] = field(default_factory=set, init=False, repr=False)
    """directories this run found it can create cfiles in"""
    _name_max: dict[Path, int] = field(default_factory=dict, init=False, repr=False)
    _path_keys: dict[Path, str] = field(default_factory=dict, init=False, repr=False)
    """the path key of each file of the batch whose keys the store was listed for"""
    _known: dict[Path, tuple[os.stat_result, str, str, ObjectInfo, Known]] = field(
        default_factory=dict, init=False, repr=False
    )
    """a file :meth:`known_stored` found stored: its stat, sha256, key, what the store holds
    under the key and what the state cache knows of its directory, for :meth:`_one`"""
    _here: tuple[str, Known] | None = field(default=None, init=False, repr=False)
    """the directory of the file :meth:`known_stored` last looked at, and what the state cache
    knows of its files (asked once while the files of one directory follow each other)"""

    def __post_init__(self) -> None:
        self.index = RemoteIndex(self.run)

    def all(self, artifacts: Iterable[Path]) -> Report:
        batches = self.run.batches(artifacts)
        first = next(batches, [])
        # more than one batch: each lists the store by directory
        by_directory = self.run.more
        report = Report()
        for batch in itertools.chain([first], batches):
            report.results.extend(self._batch(batch, by_directory).results)
        kept = report.counts()[Outcome.NOT_PUSHED]
        if self.push and kept:
            files = f"{kept} file{'s' if kept != 1 else ''}"
            # not a failure of any file, but the store does not have them: exit 1
            note = f"store unreachable: kept {files} for `cavorite push` ({self._down})"
            report.warnings.append(note)
        return report

    def _batch(self, artifacts: list[Path], by_directory: bool) -> Report:
        procs = forking.processes(self.run, len(artifacts)) if self._sending else 1
        if procs < 2:
            self._list(artifacts, by_directory)
        if self.run.plans:
            self.run.plan({artifact: file_size(artifact) for artifact in artifacts})
        if procs < 2:
            return self.run.each(artifacts, self._one, lambda p: p, self.push, self.known_stored)
        done = self._forked(artifacts, procs, by_directory)
        left = [artifact for artifact, r in zip(artifacts, done, strict=True) if r is None]
        rest = self.run.each_by_path(left, self._one, lambda p: p, self.push, self.known_stored)
        return Report(
            [r if r is not None else rest[a] for a, r in zip(artifacts, done, strict=True)]
        )

    @property
    def _sending(self) -> bool:
        """Whether files are sent to the store (not kept for a later push)."""
        return self.push and self._down is None

    def _list(self, artifacts: list[Path], by_directory: bool) -> None:
        """List the store for the keys of ``artifacts`` (when they are many); ``by_directory``:
        each directory on its own (see :meth:`RemoteIndex.list`). A store found unreachable:
        every file from then on is kept for a later push instead, where a content cache can."""
        if not self._sending or len(artifacts) < LIST_MIN_FILES:
            return
        self.index.list(self._keys(artifacts), LIST_MIN_FILES if by_directory else None)
        down = self.run.watch.down
        if isinstance(down, StoreUnreachable) and self.run.content.enabled:
            self._down, self.run.watch.down = down, None

    def _forked(
        self, artifacts: list[Path], procs: int, by_directory: bool
    ) -> list[FileResult | None]:
        """Upload the files in ``procs`` child processes (see :mod:`cavorite_py.forking`),
        each of which lists the store for its share, then looks at each of its files as this
        process would (what the state cache and the listing tell first, then the file): the
        result of each file, None for one no child did. Those are this process's, which has
        not listed the store for them (each is looked up on its own)."""
        # (no listing of an earlier batch answers for these files in this process)
        self.index = RemoteIndex(self.run)
        return forking.share(
            self.run,
            artifacts,
            self._in_child,
            lambda p: p,
            procs,
            holding=True,
            start=lambda share: self._list(list(share), by_directory),
        )

    def _in_child(self, artifact: Path) -> FileResult:
        """A file's upload in a child process of :meth:`_forked`."""
        if self._down is not None:
            # the listing found the store unreachable: this process keeps the files
            raise ParentOnly("a file to keep for a later push is the parent's")
        self.known_stored(artifact)
        return self._one(artifact)

    def known_stored(self, artifact: Path) -> bool:
        """Whether the file is known to be stored already, with no file read and no request:
        a regular file whose content is remembered for its stat, its key shown by the listing
        at a remembered version (its upload is then a few lookups, and a cfile written if
        missing)."""
        if not self._sending:
            return False
        try:
            st = os.lstat(artifact)
            if not statmod.S_ISREG(st.st_mode):
                return False
            here = self._known_here(artifact)
            sha = here.sha256(artifact.name, st)
            if sha is None:
                return False
            key = self._key(artifact, sha)
            remote = self.index.known(key)
            if remote is None:
                return False
        except (CavoriteError, OSError, ValueError):
            return False
        self._known[artifact] = (st, sha, key, remote, here)
        return True

    def _known_here(self, artifact: Path) -> Known:
        """What the state cache knows of the files of ``artifact``'s directory."""
        directory = str(artifact).rpartition(os.sep)[0]
        if self._here is None or self._here[0] != directory:
            self._here = (directory, self.run.cache.directory(artifact.parent))
        return self._here[1]

    def _one(self, artifact: Path) -> FileResult:
        """The file's upload: :meth:`unchanged` for a file :meth:`known_stored` just found
        stored, when that tells; otherwise :meth:`one`."""
        known = self._known.pop(artifact, None)
        done = self.unchanged(artifact, *known) if known is not None else None
        return done if done is not None else self.one(artifact)

    def unchanged(
        self,
        artifact: Path,
        st: os.stat_result,
        sha: str,
        key: str,
        remote: ObjectInfo,
        here: Known,
    ) -> FileResult | None:
        """The result of :meth:`one` for a file with this stat and content, when it is known
        without a read or a request: ``remote``, what the listing and the state cache tell of
        ``key``, holds this content, and the cfile, a regular file unchanged since it was last
        read (as ``here``, the state cache's knowledge of the directory, tells), says so
        already (nothing to send, nothing to write). None when any of that is not so:
        :meth:`one` then looks at everything."""
        if match(remote, st.st_size, sha) is not Match.SAME:
            return None
        suffix = self.run.workspace.suffix
        try:
            cfile_st = os.lstat(f"{artifact}{suffix}")
        except OSError:
            return None
        remembered = here.cfile(artifact.name + suffix, cfile_st)
        if not metadata.describes(remembered, key, sha, st.st_size):
            return None
        self.run.content.forget_pending(sha, key)
        return FileResult(artifact, Outcome.ALREADY_STORED, key, st.st_size, sha)

    def _keys(self, artifacts: Iterable[Path]) -> set[str]:
        """The path keys of ``artifacts`` (remembered for :meth:`_key`)."""
        self._path_keys.clear()
        path_key = self.run.workspace.path_key
        for artifact in artifacts:
            try:
                self._path_keys[artifact] = path_key(artifact)
            except (CavoriteError, ValueError):
                # the file's own upload says what is wrong
                continue
        return set(self._path_keys.values())

    def _key(self, artifact: Path, sha: str) -> str:
        """The object key of ``artifact`` holding content ``sha`` (as ``key_for`` gives it)."""
        ws = self.run.workspace
        if ws.key_scheme is KeyScheme.PATH and (key := self._path_keys.get(artifact)) is not None:
            return key
        return ws.key_for(artifact, sha)

    def one(self, artifact: Path) -> FileResult:
        ws = self.run.workspace
        # a file replaced by a link since it was chosen is refused
        before = os.lstat(artifact)
        if not statmod.S_ISREG(before.st_mode):
            raise PathError(f"{ws.display(artifact)}: not a regular file")
        # a key too long or of a reserved form is refused before the file is read
        ws.key_for(artifact, _ANY_SHA256)
        cfile = ws.cfile_for(artifact)
        cfile_exists = self._check_cfile_target(artifact, cfile)
        sha = self.run.cache.file_sha256(artifact, before)
        key = ws.key_for(artifact, sha)
        info = ObjectInfo(before.st_size, sha)
        outcome: Outcome | None = None
        detail = None
        if self.push and self._down is None:
            sent = self._send_or_none(key, artifact, info, before, cfile)
            if sent is not None:
                outcome, detail = sent
        if outcome is None:
            self._probe_cfile_directory(cfile)
            self.run.content.keep_pending(sha, artifact, key, ws.relative(artifact))
            outcome = Outcome.NOT_PUSHED
        self._write_cfile(cfile, key, info, before, cfile_exists)
        return FileResult(artifact, outcome, key, info.size, sha, detail=detail)

    def _send_or_none(
        self, key: str, artifact: Path, info: ObjectInfo, before: os.stat_result, cfile: Path
    ) -> tuple[Outcome, str | None] | None:
        """Store the file (outcome, detail); None if the store is unreachable and the cache can
        keep it instead."""
        try:
            outcome, detail = self._store(key, artifact, info, before, cfile)
        except StoreUnreachable as exc:
            if not self.run.content.enabled:
                raise
            self._down = self._down or exc
            return None
        assert info.sha256 is not None
        content = self.run.content
        if outcome is Outcome.UPLOADED:
            # (not when already stored: a no-op upload opens no file)
            content.add(info.sha256, artifact, always=content.upload_always, dev=before.st_dev)
        content.forget_pending(info.sha256, key)
        return outcome, detail

    def _store(
        self, key: str, artifact: Path, info: ObjectInfo, before: os.stat_result, cfile: Path
    ) -> tuple[Outcome, str | None]:
        remote = self.index.lookup(key)
        if remote is not None and self.index.holds(key, remote, info):
            return Outcome.ALREADY_STORED, None
        if remote is not None and not self.force:
            raise self._conflict(artifact, key)
        self._probe_cfile_directory(cfile)
        return self._send(key, artifact, info, before, remote is not None)

    def _check_cfile_target(self, artifact: Path, cfile: Path) -> bool:
        """Refuse, before anything is read or sent, a file whose cfile could not be written: an
        object stored for it would be pointed at by no cfile. Return whether the cfile exists."""
        ws = self.run.workspace
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
                f"{self.run.workspace.display(cfile)}: cannot be written (permission denied or a "
                "read-only file system); nothing was uploaded"
            )
        self._ready_dirs.add(cfile.parent)

    def _conflict(self, artifact: Path, key: str) -> ConflictError:
        return ConflictError(
            f"{self.run.workspace.display(artifact)}: the store already holds different content "
            f"under {key!r}, which older cfiles point at: --force would overwrite it and break "
            'them; to keep every version, set "key_scheme": "versioned" in .cavorite/config'
        )

    def _send(
        self, key: str, artifact: Path, info: ObjectInfo, before: os.stat_result, overwrite: bool
    ) -> tuple[Outcome, str | None]:
        """Store the content under ``key``: a copy inside the store when another key holds it
        and the store can copy, else an upload of the file."""
        source = None if overwrite else self.index.holder(key, info)
        if source is not None and self._copy(source, key, artifact, info, before):
            return Outcome.UPLOADED, COPIED
        return self._put(key, artifact, info, before, overwrite), None

    def _copy(
        self, source: str, key: str, artifact: Path, info: ObjectInfo, before: os.stat_result
    ) -> bool:
        """Have the store copy ``source`` to the new ``key``; False if it cannot (no copy, the
        source gone, the key taken meanwhile): the file is then uploaded instead."""
        try:
            stored = self.run.store.copy(source, key, info)
        except (NotImplementedError, ObjectNotFound, ObjectExists):
            return False
        self._finish(key, artifact, info, before, stored, overwrite=False)
        return True

    def _put(
        self, key: str, artifact: Path, info: ObjectInfo, before: os.stat_result, overwrite: bool
    ) -> Outcome:
        store = self.run.store
        self.run.observer.started(artifact, info.size)
        progress = self.run.progress(artifact)
        try:
            stored = store.put(key, artifact, info, overwrite=overwrite, progress=progress)
        except ObjectExists:
            # stored by someone else between our look and our put: fine if it is our content
            remote = store.stat(key)
            if remote is not None and self.index.holds(key, remote, info):
                return Outcome.ALREADY_STORED
            if not self.force:
                raise self._conflict(artifact, key) from None
            overwrite = True
            stored = store.put(key, artifact, info, overwrite=True, progress=progress)
        self._finish(key, artifact, info, before, stored, overwrite)
        return Outcome.UPLOADED

    def _finish(
        self,
        key: str,
        artifact: Path,
        info: ObjectInfo,
        before: os.stat_result,
        stored: ObjectInfo | None,
        overwrite: bool,
    ) -> None:
        """After ``key`` was written: refuse a file changed meanwhile; remember what ``key``
        holds (at the version the store gave, if any), for later runs and later copies."""
        if not same_file_state(before, os.lstat(artifact)):
            self._changed_while_sent(key, artifact, overwrite)
        version = stored.version if stored is not None else None
        self.index.remember(key, ObjectInfo(info.size, info.sha256, version))

    def _changed_while_sent(self, key: str, artifact: Path, overwrite: bool) -> None:
        """Refuse a file written to while it was sent. An object this run created is removed;
        an overwritten one was the user's forced choice (its hash no longer matches, so
        retrieve refuses it)."""
        if not overwrite:
            with contextlib.suppress(StoreError):
                self.run.store.delete(key)
        raise FileChangedError(
            f"{self.run.workspace.display(artifact)}: changed while it was being uploaded; "
            "no cfile written. Upload it again once the file is complete"
        )

    def _write_cfile(
        self, cfile: Path, key: str, info: ObjectInfo, st: os.stat_result, exists: bool
    ) -> None:
        assert info.sha256 is not None
        old: Metadata | None = None
        if exists:
            with contextlib.suppress(CavoriteError):
                old = self.run.cache.cfile(cfile)
        if metadata.describes(old, key, info.sha256, info.size):
            # unchanged: leave the file (and its date) alone
            return
        extra = old.extra if old is not None else {}
        stamp = metadata.format_timestamp(st.st_mtime_ns)
        metadata.write(cfile, Metadata(key, info.sha256, stamp, info.size, extra))


def same_file_state(a: os.stat_result, b: os.stat_result) -> bool:
    """Whether nothing wrote to the file between two stats (ctime catches a restored mtime)."""
    return signature(a) == signature(b)


def file_size(path: Path) -> int | None:
    """The size of the file at ``path``, None if it cannot be looked at (reported later)."""
    try:
        return os.lstat(path).st_size
    except OSError:
        return None


def name_max(directory: Path) -> int:
    """The longest file name, in bytes, that ``directory``'s file system accepts."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255
