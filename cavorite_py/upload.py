"""Upload's rules, per file: derive the key and check that a cfile can be written beside the
file; hash (one pass); look at what the store holds under the key: the same sha256 means nothing
to send, different content is refused unless ``force``; upload; check the file did not change
meanwhile; only then write the cfile (atomically).
"""

from __future__ import annotations

import contextlib
import os
import stat as statmod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import metadata
from .errors import (
    CavoriteError,
    ConflictError,
    FileChangedError,
    ObjectExists,
    PathError,
    StoreError,
)
from .metadata import Metadata
from .remote import RemoteIndex
from .results import FileResult, Outcome, Report
from .run import Run
from .state import signature
from .stores.base import ObjectInfo

LIST_MIN_FILES = 64
"""from this many files on, upload lists the store once instead of asking about each file"""


def upload(run: Run, artifacts: Sequence[Path], force: bool = False) -> Report:
    """Upload every artifact and write its cfile; the artifacts the report shows done (not
    failed) are the ones whose cfile is written."""
    return Upload(run, force).all(artifacts)


@dataclass
class Upload:
    run: Run
    force: bool
    index: RemoteIndex = field(init=False)
    _ready_dirs: set[Path] = field(default_factory=set, init=False, repr=False)
    """directories this run found it can create cfiles in"""
    _name_max: dict[Path, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = RemoteIndex(self.run)

    def all(self, artifacts: Sequence[Path]) -> Report:
        if len(artifacts) >= LIST_MIN_FILES:
            self.index.list(self._keys(artifacts))
        self.run.plan({artifact: file_size(artifact) for artifact in artifacts})
        return self.run.each(artifacts, self.one, lambda p: p)

    def _keys(self, artifacts: Iterable[Path]) -> set[str]:
        keys = set()
        for artifact in artifacts:
            with contextlib.suppress(CavoriteError, ValueError):
                keys.add(self.run.workspace.key_for(artifact))
        return keys

    def one(self, artifact: Path) -> FileResult:
        ws = self.run.workspace
        # a file replaced by a link since it was chosen is refused
        before = os.lstat(artifact)
        if not statmod.S_ISREG(before.st_mode):
            raise PathError(f"{ws.display(artifact)}: not a regular file")
        key = ws.key_for(artifact)
        cfile = ws.cfile_for(artifact)
        cfile_exists = self._check_cfile_target(artifact, cfile)
        sha = self.run.cache.file_sha256(artifact, before)
        info = ObjectInfo(before.st_size, sha)
        remote = self.index.lookup(key)
        if remote is not None and self.index.holds(key, remote, info):
            outcome = Outcome.ALREADY_STORED
        else:
            if remote is not None and not self.force:
                raise self._conflict(artifact, key)
            self._probe_cfile_directory(cfile)
            outcome = self._put(key, artifact, info, before, remote is not None)
        self._write_cfile(cfile, key, info, before, cfile_exists)
        return FileResult(artifact, outcome, key, info.size, sha)

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
            f"under {key!r}, which older cfiles point at; use --force to overwrite it"
        )

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
        if not same_file_state(before, os.lstat(artifact)):
            self._changed_while_sent(key, artifact, overwrite)
        if stored is not None:
            # the version of what was just sent, whose sha256 we know
            self.index.remember(key, ObjectInfo(info.size, info.sha256, stored.version))
        return Outcome.UPLOADED

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
        if old is not None and (old.name, old.checksum, old.size) == (key, info.sha256, info.size):
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
