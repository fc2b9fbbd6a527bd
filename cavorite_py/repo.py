"""The Python API: a cavorite repository, and the one place the CLI calls into.

>>> from cavorite_py import Repo
>>> with Repo.find() as repo:                      # doctest: +SKIP
...     report = repo.upload(["assets/big.bin"])
...     assert report.ok
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from . import config as configmod
from . import git, selection, tempfiles
from .config import Config
from .errors import CavoriteError, UsageError
from .results import NullObserver, Observer, Report, Results
from .state import StateDB
from .workspace import Workspace

if TYPE_CHECKING:
    from . import prune as prunemod
    from .engine import Engine
    from .guard import Refusal
    from .sources import Source
    from .stores.base import Store

log = logging.getLogger(__name__)

IGNORE_BATCH = 10_000
"""uploaded artifacts whose .gitignore lines are added together"""


class Repo:
    """A directory holding ``.cavorite/config``, and the store it names (opened when first used)."""

    def __init__(self, root: Path, config: Config) -> None:
        self.root = root.absolute()
        self.config = config
        self.workspace = Workspace(
            self.root, config.extension, config.key_prefix, config.key_scheme
        )
        self._store: Store | None = None
        self.state = StateDB(self.root)
        # temporary files below the root go where git does not look, until close
        self._temps = tempfiles.enter(self.root)

    @classmethod
    def find(cls, start: str | Path | None = None) -> Repo:
        """The repository containing ``start`` (default: the current directory)."""
        root = configmod.find_root(Path(start) if start is not None else Path.cwd())
        return cls(root, configmod.load(root))

    # ----------------------------------------------------------------- store

    @property
    def store(self) -> Store:
        if self._store is None:
            from . import diagnostics
            from .stores import registry
            from .stores.base import StoreSettings

            address = self.config.store_address
            if address.warning:
                log.warning("%s", address.warning)
            settings = StoreSettings(address.address, self.config.options, self.root)
            self._store = diagnostics.logged(registry.open_store(self.config.store_type, settings))
        return self._store

    def close(self) -> None:
        self.state.close()
        self._temps.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Repo:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- commands

    def _jobs(self, jobs: int | None) -> int | None:
        """Files in flight at once: ``jobs``, else the config's; None: the store's default."""
        if jobs is not None and jobs < 1:
            raise UsageError("--jobs must be at least 1")
        return jobs or self.config.int_option("jobs", minimum=1)

    def engine(self, jobs: int | None = None, observer: Observer | None = None) -> Engine:
        from . import cachesettings
        from .cacheuse import RunCache
        from .engine import Engine

        observer = observer or NullObserver()
        engine = Engine(self.workspace, lambda: self.store, self._jobs(jobs), observer, self.state)
        settings = cachesettings.load_settings()
        engine.content = lambda: RunCache(settings, self.store_id, str(self.root))
        return engine

    @property
    def store_id(self) -> str:
        """The store as the content cache's pending objects name it: from the config alone,
        so that it is known without opening (or reaching) the store."""
        place = urlsplit(self.config.backend_address or self.config.option("plugin_address"))
        # it is written into the cache: never a user name, password or token of the address
        netloc = place.netloc.rpartition("@")[2]
        return f"{self.config.store_type} {urlunsplit(place._replace(netloc=netloc, query=''))}"

    def upload(
        self,
        paths: Sequence[str | Path],
        *,
        force: bool = False,
        jobs: int | None = None,
        observer: Observer | None = None,
        update_gitignore: bool | None = None,
        cwd: Path | None = None,
        push: bool = True,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> Report:
        """Upload files (and the files under directories that git would commit and that
        ``include`` (default: the config's ``track``) and ``exclude`` patterns cover); write
        their cfiles; in a git work tree, make git ignore the artifacts uploaded. Without
        ``push``, send nothing: keep the files in the content cache for a later :meth:`push`."""
        from . import gitignore

        include = tuple(include) or selection.track_patterns(self.config.options)
        patterns = selection.Patterns(tuple(include), tuple(exclude))
        chosen = selection.upload_selection(self.workspace, paths, cwd, patterns)
        targets = chosen.files
        engine = self.engine(jobs, observer)
        if update_gitignore is None:
            update_gitignore = self.config.bool_option("gitignore", True)
        in_git = update_gitignore and gitignore.in_git_work_tree(self.root)
        try:
            report = engine.upload(targets, force, push)
        except KeyboardInterrupt:
            if in_git:
                self._ignore_stopped(chosen.directories)
            raise
        report.notes.extend(chosen.notes)
        if in_git:
            try:
                self._ignore(report.results)
            except CavoriteError as exc:
                # the uploads stand; say what is left to do
                report.warnings.append(str(exc))
        return report

    def _ignore(self, results: Results) -> None:
        """Make git ignore the artifacts uploaded (each directory's .gitignore), those of
        :data:`IGNORE_BATCH` results at a time; a .gitignore that cannot be updated does not
        stop the others, the first failure is raised at the end."""
        self._ignore_relative(results.done_relative(self.root))

    def _ignore_stopped(self, directories: Iterable[str]) -> None:
        """After Ctrl-C: make git ignore the artifacts of ``directories`` (those the stopped
        upload was given files of) that have a cfile, as the finished run would have: a cfile
        this run wrote (a child process's too, whose results never reached this one) is not
        left beside an artifact ``git add`` would take. Best effort: the run is stopping."""
        ws = self.workspace
        tracked: list[str] = []
        for directory in sorted(set(directories)):
            names: set[str] = set()
            with contextlib.suppress(OSError), os.scandir(directory) as entries:
                names = {entry.name for entry in entries}
            for name in sorted(filter(ws.is_cfile_name, names)):
                artifact = ws.artifact_for(Path(directory, name))
                if artifact.name in names:
                    tracked.append(ws.relative(artifact))
        with contextlib.suppress(CavoriteError):
            self._ignore_relative(iter(tracked))

    def _ignore_relative(self, paths: Iterator[str]) -> None:
        """:meth:`_ignore` of these artifacts (repository-relative POSIX paths)."""
        from . import gitignore

        failure: OSError | None = None
        while batch := list(itertools.islice(paths, IGNORE_BATCH)):
            try:
                gitignore.ignore(self.root, batch)
            except OSError as exc:
                failure = failure or exc
        if failure is not None:
            failed = failure.filename or self.root / ".gitignore"
            raise CavoriteError(
                f"uploaded, but could not update {failed}: "
                f"{failure.strerror or failure}; add the artifacts to it by hand"
            ) from failure

    def retrieve(
        self,
        targets: Sequence[str | Path] = (),
        *,
        force: bool = False,
        jobs: int | None = None,
        observer: Observer | None = None,
        cwd: Path | None = None,
    ) -> Report:
        """Download and verify artifacts named by cfiles, artifact paths or directories
        (every cfile in the repository when ``targets`` is empty)."""
        cfiles = iter(selection.iter_retrieve_targets(self.workspace, targets, cwd))
        first = next(cfiles, None)
        if first is None:
            return Report()
        return self.engine(jobs, observer).retrieve(itertools.chain((first,), cfiles), force)

    def retrieve_changed(
        self,
        before: str | None,
        after: str | None,
        *,
        jobs: int | None = None,
        observer: Observer | None = None,
    ) -> Report:
        """Retrieve the artifacts whose cfiles differ between two commits (every cfile when
        either is None or unknown to git): what the post-checkout and post-merge hooks do."""
        from . import follow

        cfiles = follow.changed_cfiles(self.workspace, before, after)
        if not cfiles:
            return Report()
        return self.engine(jobs, observer).retrieve(cfiles)

    def untrack(
        self, targets: Sequence[str | Path], *, delete: bool = False, cwd: Path | None = None
    ) -> Report:
        """Stop tracking artifacts (named by cfiles, artifact paths or directories): remove
        their cfiles and .gitignore lines, keep the files unless ``delete``."""
        from . import gitignore, untrack

        cfiles = selection.retrieve_targets(self.workspace, targets, cwd) if targets else []
        in_git = gitignore.in_git_work_tree(self.root)

        return untrack.untrack(self.workspace, self.state, cfiles, delete, in_git)

    def push(self, *, jobs: int | None = None, observer: Observer | None = None) -> Report:
        """Send the objects kept in the content cache for this repository's store."""
        return self.engine(jobs, observer).push()

    def pending(self) -> set[tuple[str, str]]:
        """The (sha256, key) of the objects waiting in the content cache for this store."""
        from . import cachesettings
        from .cacheuse import pending_of

        return pending_of(cachesettings.load_settings(), self.store_id)

    def status(self, targets: Sequence[str | Path] = (), cwd: Path | None = None) -> Report:
        """Every tracked artifact's state, plus untracked large or binary files (whole
        repository only). Reads no artifact whose state cache entry is still valid."""
        from concurrent.futures import ThreadPoolExecutor

        from .guard import GuardSettings
        from .inspection import Inspector, not_pushed

        inspector = Inspector(self.workspace, self.state)
        # asked once there is an up-to-date file
        pending = functools.cache(self.pending)

        def pushed(checksum: str, key: str) -> bool:
            return (checksum, key) not in pending()

        if targets:
            cfiles = selection.iter_retrieve_targets(self.workspace, targets, cwd)
            return Report(not_pushed(inspector.local(c), pushed) for c in cfiles)
        settings = GuardSettings.from_config(self.config)
        results = Results()
        with ThreadPoolExecutor(1) as pool:  # git lists files while the cfiles are checked
            untracked = pool.submit(inspector.without_cfile, settings)
            inspector.local_tree(results, pushed)
            results.extend(untracked.result())
        return Report(results)

    def verify(
        self,
        targets: Sequence[str | Path] = (),
        *,
        remote: bool = False,
        local: bool = True,
        jobs: int | None = None,
        cwd: Path | None = None,
    ) -> Report:
        """Check artifacts against their cfiles; with ``remote``, check the store's objects too
        (size and sha256, downloading only from stores that keep no sha256)."""
        if not (remote or local):
            raise UsageError("nothing to verify: choose local files, the store, or both")
        cfiles = selection.iter_retrieve_targets(self.workspace, targets, cwd)
        store = self.store if remote else None
        jobs = self._jobs(jobs) or (store.default_jobs if store else 1)
        from .inspection import Inspector

        return Inspector(self.workspace, self.state).verify(cfiles, store, jobs, local)

    def check(
        self, paths: Sequence[Path], remote: bool = True, source: Source | None = None
    ) -> tuple[Report, list[Refusal]]:
        """The pre-commit guard over ``paths`` (see :mod:`cavorite_py.guard`), reading
        files from ``source`` (default: the working tree). The store is opened only if a
        staged cfile needs it; ``CAVORITE_NO_REMOTE_CHECK=1`` turns the store check off."""
        from .guard import Guard, GuardSettings
        from .sources import WorkingTree

        settings = GuardSettings.from_config(self.config)
        offline = os.environ.get("CAVORITE_NO_REMOTE_CHECK", "") not in ("", "0")
        use_store = remote and settings.remote_check and not offline
        guard = Guard(
            self.workspace,
            settings,
            (lambda: self.store) if use_store else None,
            source or WorkingTree(),
            self.pending(),
        )
        return guard.check(paths)

    def prune(self, scope: prunemod.Scope) -> prunemod.PruneReport:
        """Delete the stored objects under this repository's prefix that no reference of its
        git repository names (see :mod:`cavorite_py.prune`); only list them if ``dry_run``."""
        from . import prune as prunemod

        settings = prunemod.PruneSettings(self.config.extension, self.config.key_prefix)
        remembered = self.state.object_keys(self.store.describe())
        return prunemod.prune(git.toplevel(self.root), self.store, settings, remembered, scope)


def check_commit(
    paths: Sequence[Path], *, staged: bool = False, remote: bool = True, cwd: Path | None = None
) -> tuple[Report, list[Refusal]]:
    """The pre-commit guard over ``paths`` and, with ``staged``, over git's index as staged,
    in whichever cavorite repositories hold them (git runs hooks at its top level)."""
    from .guard import group_by_root
    from .sources import Index, WorkingTree

    cwd = cwd if cwd is not None else Path.cwd()
    paths = [p if p.is_absolute() else cwd / p for p in paths]
    source: Source = WorkingTree()
    if staged:
        top = git.toplevel(cwd)
        paths.extend(git.staged_files(top))
        source = Index(top)
    if not paths:
        configmod.find_root(cwd)  # outside any cavorite repository: say so
    report, refusals = Report(), []
    for root, group in group_by_root(paths).items():
        with Repo.find(root) as repo:
            part, refused = repo.check(group, remote=remote, source=source)
        report.results.extend(part.results)
        refusals.extend(refused)
    return report, refusals
