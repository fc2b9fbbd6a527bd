"""The ``plugin`` store: an executable in any language, spoken to over its stdin and stdout.

``.cavorite/config`` names it with ``store_type: plugin`` and the option ``plugin_address``: a
path (relative paths are taken from the repository root) or a bare program name looked up on
``PATH``. Options ``plugin_timeout`` (seconds a request may go without any message from the
plugin, default 60) and ``plugin_handshake_timeout`` (default 10) bound every wait.
``plugin_tmpdir`` is where the plugin writes the objects it gets (see :meth:`PluginStore.get`).

One child process per store, started when first needed, after the consent check
(:mod:`cavorite_py.consent`). Requests are serialised by a lock: a plugin handles one request at a
time, which a plugin in any language can do correctly. The engine's threads still overlap the
rest of their work, since ``get`` streams the plugin's temporary file into the caller's file
outside the lock. The child is stopped by :meth:`PluginStore.close`, on any protocol failure,
on Ctrl-C during a request, and at interpreter exit.
"""

from __future__ import annotations

import os
import shutil
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, ClassVar

from .. import consent
from ..errors import CavoriteError, ConfigError, PluginError
from ..fsutil import which
from ..plugin_protocol import Session
from ._addresses import redact, seconds_option
from .base import ObjectInfo, Progress, Store, StoreSettings, check_version, expect_size

DEFAULT_TIMEOUT = 60.0
DEFAULT_HANDSHAKE_TIMEOUT = 10.0

_CLOSE_WAIT = 2.0
_CHUNK = 1 << 20


class PluginStore(Store):
    """A store whose every operation is a request to a plugin process."""

    default_jobs: ClassVar[int] = 4

    def __init__(self, settings: StoreSettings) -> None:
        super().__init__(settings)
        self.executable = locate(settings)
        self.timeout = seconds_option(settings.options, "plugin_timeout", DEFAULT_TIMEOUT)
        self.handshake_timeout = seconds_option(
            settings.options, "plugin_handshake_timeout", DEFAULT_HANDSHAKE_TIMEOUT
        )
        self.tmpdir = tmpdir(settings)
        consent.require(self.executable)
        self._lock = threading.Lock()
        self._live = _Live()
        self._closed = False
        self._start_error: CavoriteError | None = None
        weakref.finalize(self, self._live.stop)

    def describe(self) -> str:
        return f"{redact(self.settings.address)} (through plugin {self.executable})"

    @property
    def pid(self) -> int | None:
        """The plugin process id while it runs (for diagnostics and tests)."""
        session = self._live.session
        return None if session is None else session.pid

    def put(
        self,
        key: str,
        path: Path,
        info: ObjectInfo,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> None:
        reported = 0

        def count(size: int) -> None:
            nonlocal reported
            reported += size
            if progress is not None:
                progress(size)

        with self._session() as session:
            session.put(key, path, info, overwrite, count)
        if progress is not None and reported < info.size:
            progress(info.size - reported)

    def get(self, key: str, fileobj: BinaryIO) -> None:
        """The plugin writes the object to a new file, which is then streamed into ``fileobj``.

        That file is made in ``plugin_tmpdir`` if set; otherwise next to ``fileobj`` when it has
        a ``name`` that is a path (a real file: the object then stays on that file system);
        otherwise in the session's private directory under the system's temporary directory.
        """
        with self._session() as session:
            temporary = session.get(key, self.tmpdir or _beside(fileobj))
            source = open(temporary, "rb")  # noqa: SIM115 - closed below, outside the lock
        try:
            with source:
                expect_size(fileobj, os.fstat(source.fileno()).st_size)
                shutil.copyfileobj(source, fileobj, _CHUNK)
        finally:
            temporary.unlink(missing_ok=True)

    def stat(self, key: str) -> ObjectInfo | None:
        with self._session() as session:
            return session.stat(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        for key, _ in self.list_info(prefix):
            yield key

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo | None]]:
        with self._session() as session:
            listed = session.list_objects(prefix)
        yield from listed

    def delete(self, key: str, version: str | None = None) -> None:
        # the protocol has no conditional delete: look just before
        if version is not None:
            check_version(self, key, version)
        with self._session() as session:
            session.delete(key)

    def close(self) -> None:
        """Ask the plugin to exit and reap it. If a request holds the plugin for more than a
        moment (an interrupted run), stop the process under it instead of waiting."""
        if not self._lock.acquire(timeout=_CLOSE_WAIT):
            self._closed = True
            self._live.stop()
            return
        try:
            self._closed = True
            self._live.close(self.handshake_timeout)
        finally:
            self._lock.release()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._lock:
            yield self._started()

    def _started(self) -> Session:
        if self._closed:
            raise PluginError(f"plugin {self.executable}: the store was closed")
        if self._start_error is not None:
            raise type(self._start_error)(str(self._start_error))
        if self._live.session is None:
            try:
                consent.require(self.executable)  # its content may have changed meanwhile
                self._live.session = Session(
                    self.executable, self.settings, self.timeout, self.handshake_timeout
                )
            except CavoriteError as exc:
                self._start_error = exc
                raise
        return self._live.session


class _Live:
    """The running session, kept apart from the store so that a finalizer can stop it."""

    def __init__(self) -> None:
        self.session: Session | None = None

    def close(self, timeout: float) -> None:
        session, self.session = self.session, None
        if session is not None:
            session.close(timeout)

    def stop(self) -> None:
        session = self.session
        if session is not None:
            session.stop(grace=0.2)


def locate(settings: StoreSettings) -> Path:
    """The real path of the executable that ``plugin_address`` names, or a ``ConfigError``."""
    address = settings.options.get("plugin_address")
    if not isinstance(address, str) or not address.strip():
        raise ConfigError(
            "store type 'plugin' needs the option plugin_address, the path of the plugin's "
            "executable; set it in .cavorite/config"
        )
    expanded = os.path.expanduser(address)
    if "/" not in expanded and os.sep not in expanded:
        found = which(expanded)
        if found is None:
            raise ConfigError(
                f"plugin_address {address!r}: no such program on PATH; give its path instead "
                f"(./{address} for a file at the repository root)"
            )
        expanded = found
    path = settings.root / expanded
    real = consent.resolve(path)
    if not real.exists():
        raise ConfigError(
            f"plugin_address {address!r}: {path} does not exist; set plugin_address in "
            ".cavorite/config to the plugin's executable"
        )
    if not real.is_file():
        raise ConfigError(f"plugin_address {address!r}: {real} is not a file")
    if not os.access(real, os.X_OK):
        raise ConfigError(
            f"plugin_address {address!r}: {real} is not executable; make it executable with: "
            f"chmod +x {real}"
        )
    return real


def tmpdir(settings: StoreSettings) -> Path | None:
    """The directory named by ``plugin_tmpdir`` (relative paths are taken from the repository
    root), or None when the option is not set."""
    value = settings.options.get("plugin_tmpdir")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"option plugin_tmpdir must be a directory path, not {value!r}")
    path = (settings.root / os.path.expanduser(value)).absolute()
    if not path.is_dir():
        raise ConfigError(
            f"option plugin_tmpdir: {path} is not a directory; create it, or change plugin_tmpdir "
            "in .cavorite/config"
        )
    return path


def _beside(fileobj: BinaryIO) -> Path | None:
    """The directory of the file ``fileobj`` writes to, if it says (a ``name`` that is the path
    of an existing regular file, as for a file from ``open``), else None."""
    name = getattr(fileobj, "name", None)
    if not isinstance(name, str) or not os.path.isfile(name):
        return None
    return Path(os.path.abspath(name)).parent
