"""The Store contract: what every backend, built-in or plugin, provides.

A store moves bytes. It never hashes, verifies or writes metadata files: the engine does that
once, for every store, so that no backend can skip verification.

Keys are non-empty POSIX-style strings such as ``team-a/assets/logo.png`` (no leading ``/``, no
``.`` or ``..`` segments); the engine guarantees this before calling a store, and a store that
turns keys into paths checks again with :func:`check_key`, the same rule. A store maps a key to a
location of its own (a bucket plus the address prefix, a directory...).

Stores must be safe to call from several threads at once: the engine transfers in parallel.
Errors are translated at the store boundary into :mod:`cavorite_py.errors` types, keeping the
original exception as ``__cause__``.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, ClassVar

from ..errors import ObjectChanged, ObjectNotFound
from ._addresses import check_key, redact

__all__ = [
    "ObjectInfo",
    "Progress",
    "Store",
    "StoreSettings",
    "check_key",
    "check_version",
    "delete_version",
    "expect_size",
    "redact",
]

Progress = Callable[[int], None]
"""Called with a number of bytes just transferred (an increment, not a total)."""


def delete_version(store: Store, key: str, version: str | None) -> None:
    """``store.delete(key, version)``; a store written before ``version`` existed is asked
    with a look first (:func:`check_version`), then a plain delete."""
    if version is None:
        store.delete(key)
    elif "version" in inspect.signature(store.delete).parameters:
        store.delete(key, version)
    else:
        check_version(store, key, version)
        store.delete(key)


def check_version(store: Store, key: str, version: str) -> None:
    """Raise ``ObjectNotFound`` if ``key`` is gone, ``ObjectChanged`` if it is no longer
    ``version``: the look a store without conditional deletes takes just before deleting."""
    current = store.stat(key)
    if current is None:
        raise ObjectNotFound(f"object {key!r} is not in {store.describe()}")
    if current.version != version:
        raise ObjectChanged(f"object {key!r} in {store.describe()} was written again")


def expect_size(fileobj: object, size: int) -> None:
    """Tell the file that :meth:`Store.get` writes into the size of the object it is about to
    receive, before the first byte. Raises ``IntegrityError`` if it is larger than the size
    the cfile records; does nothing for a file that has no size to compare (no ``expect``)."""
    expect = getattr(fileobj, "expect", None)
    if callable(expect):
        expect(size)


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about an object: its size, and its sha256 where it keeps one."""

    size: int
    sha256: str | None = None
    version: str | None = field(default=None, compare=False)
    """a tag the backend changes whenever the object is written (S3's ETag), where it has one:
    the same version means the same content as when it was last looked at (not part of
    equality, which is about content)"""
    modified: datetime | None = field(default=None, compare=False)
    """when the object was last written (timezone-aware), where the backend tells it"""


@dataclass(frozen=True)
class StoreSettings:
    """Everything a store is configured with.

    ``address`` is the configured ``backend_address`` (may be empty); ``options`` is the whole
    ``options`` object of ``.cavorite/config`` (unknown keys included); ``root`` is the repository
    root, against which a store may resolve relative local paths.
    """

    address: str
    options: Mapping[str, Any] = field(default_factory=dict)
    root: Path = Path(".")


class Store(abc.ABC):
    """One object store. Subclasses implement the six methods below (``copy`` and
    ``list_info`` are optional).

    ``default_jobs`` is the number of files the engine transfers at once by default: a local disk
    wants few, a network store more. ``objects_on_this_machine``: the objects are files this
    machine reads as fast as the content cache (the local store), so a download enters the
    cache only where that costs no copy (see docs/cache.md).
    """

    default_jobs: ClassVar[int] = 8
    objects_on_this_machine: ClassVar[bool] = False

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings

    @abc.abstractmethod
    def put(
        self,
        key: str,
        path: Path,
        info: ObjectInfo,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> ObjectInfo | None:
        """Upload the file at ``path`` as ``key``.

        ``info`` holds the file's size and sha256, measured by the engine; record them as object
        metadata where the backend has it, so that :meth:`stat` can return them. Call ``progress``
        with byte counts as they are sent, if given. May return what the backend said of the
        object just written (its ``version``); None is fine.

        Raises ``ObjectExists`` if ``key`` is present and ``overwrite`` is false. A failed put must
        not leave a partial object under ``key``.
        """

    @abc.abstractmethod
    def get(self, key: str, fileobj: BinaryIO) -> str | None:
        """Stream the object ``key`` into the open binary file ``fileobj``, in order.

        ``fileobj`` may not be seekable. Raises ``ObjectNotFound`` if ``key`` is absent. May
        return the ``version`` (as :class:`ObjectInfo` has it) of the object whose bytes were
        sent: the backend's answer to the same request, or a version every request of the
        download was pinned to. The engine then remembers the sha256 it measured against it.
        None is fine.

        ``fileobj`` accepts no more bytes than the cfile records: a write past that size raises
        ``IntegrityError`` (let it propagate; the engine deletes the partial file). A store that
        learns the object's size before its first byte (a HEAD, a Content-Length, blob
        properties, a stat) passes it to :func:`expect_size` first, which raises the same error
        for a size above the cfile's, before any range is requested or any byte written. A
        store that does not is still stopped one byte past the cfile's size.
        """

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """The object's size and recorded sha256 (None if not recorded), or None if absent."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Yield every key that starts with ``prefix``, in no particular order."""

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo | None]]:
        """:meth:`list`, with each object's size and ``version`` where the backend's listing
        tells them (for free, in the same requests); this default knows only the keys."""
        for key in self.list(prefix):
            yield key, None

    def copy(self, source: str, key: str, info: ObjectInfo) -> ObjectInfo | None:
        """Make ``key`` a copy of the object ``source``, inside the store (no byte through the
        engine), keeping the recorded sha256. Optional: this default raises
        ``NotImplementedError``, and the engine then uploads the file with :meth:`put`.

        ``info`` is the content the engine checked ``source`` holds (size and sha256). Create
        only, like ``put`` without ``overwrite``: raises ``ObjectExists`` if ``key`` is present,
        and never replaces it. Raises ``ObjectNotFound`` if ``source`` is absent. A store may
        raise ``NotImplementedError`` for a copy it cannot do (too large, another device), so
        that the engine uploads instead. May return what the backend said of the new object
        (its ``version``), as :meth:`put` does.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def delete(self, key: str, version: str | None = None) -> None:
        """Remove ``key``. Raises ``ObjectNotFound`` if absent.

        With ``version`` (as :meth:`list_info` or :meth:`stat` gave it), remove the object only
        while it is still that version, and raise ``ObjectChanged`` if it is not: atomically
        where the backend can (a conditional request), else by looking just before deleting.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release clients, connections or processes. Calling it twice is harmless."""

    def describe(self) -> str:
        """A short human description of where objects go, without credentials.

        It appears in error messages: an override must pass any address it shows through
        :func:`redact`, as this default does.
        """
        return redact(self.settings.address)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
