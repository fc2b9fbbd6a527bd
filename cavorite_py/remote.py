"""What the store holds under a key, and whether it is the content a cfile names.

A store that keeps each object's sha256 answers from ``stat`` or a listing; one that keeps none
is measured (the object streamed through a hash) once per version: the state cache remembers
the sha256 against the version tag the store gave, which changes whenever the object is written
again.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from typing import BinaryIO, cast

from .errors import StoreDown, StoreError
from .hashing import HashingWriter
from .keys import split_versioned
from .run import Run
from .stores.base import ObjectInfo, Store

LIST_MAX_FACTOR = 4
"""a listing that returns more than this many keys per file is abandoned"""


class Match(enum.Enum):
    """Whether a stored object holds the content of a given size and sha256."""

    SAME = "same"
    DIFFERENT = "different"
    UNKNOWN = "unknown"
    """the size matches but the store keeps no sha256: only measuring the object can tell"""


def match(remote: ObjectInfo, size: int | None, sha256: str) -> Match:
    """Whether the stored object ``remote`` (what the store said of it, or :func:`measure`)
    holds the content of this size (None: any) and sha256."""
    if size is not None and remote.size != size:
        return Match.DIFFERENT
    if remote.sha256 is None:
        return Match.UNKNOWN
    return Match.SAME if remote.sha256.lower() == sha256 else Match.DIFFERENT


class _Discard:
    def write(self, data: bytes | bytearray | memoryview) -> int:
        return len(data)


def measure(store: Store, key: str) -> ObjectInfo:
    """A stored object's size and sha256, by streaming it (for stores that keep no sha256),
    with the version the store says it sent, if it says."""
    sink = HashingWriter(_Discard())
    version = store.get(key, cast(BinaryIO, sink))
    return ObjectInfo(sink.size, sink.hexdigest(), version)


class RemoteIndex:
    """What one run knows of the store's objects: one listing of the keys of a large upload,
    and the sha256 the state cache remembers for an object at the version the store shows."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._listed: dict[str, ObjectInfo | None] | None = None
        """the keys one listing showed, with what it told of each; None when the store was
        not listed (then each key is ``stat``-ed)"""
        self._directories: set[str] | None = None
        """the directories of keys listed one by one; None: the listing covers every key"""

    def list(self, keys: Iterable[str], by_directory: int | None = None) -> None:
        """List the store once, for many path keys (``[prefix/]path``) and every versioned key
        of those paths (``[prefix/]path@sha256``), so that a versioned key is known before the
        file is hashed: a key it does not show then costs one request (its put, which refuses
        to overwrite, so a key stored meanwhile is still caught); a key it shows at a
        remembered version costs none. With ``by_directory``, list each directory of at least
        that many of the keys on its own (one batch of a long run: a listing of what they
        share could be the whole store, again for every batch); the others are ``stat``-ed."""
        wanted = set(keys)
        groups = {"": wanted} if by_directory is None else _by_directory(wanted, by_directory)
        listed: dict[str, ObjectInfo | None] = {}
        directories: set[str] = set()
        for directory, group in groups.items():
            # cut back to a "/" below
            prefix = os.path.commonprefix(sorted(group))  # noqa: RUF071
            found = self._listing(prefix[: prefix.rfind("/") + 1], group)
            if found is None and (by_directory is None or self._run.watch.down is not None):
                return
            if found is not None:
                listed.update(found)
                directories.add(directory)
        self._listed = listed
        self._directories = None if by_directory is None else directories

    def _listing(self, prefix: str, wanted: set[str]) -> dict[str, ObjectInfo | None] | None:
        """What the store lists under ``prefix`` of the ``wanted`` keys (and their versioned
        keys); None if it lists far more, or cannot list."""
        listed: dict[str, ObjectInfo | None] = {}
        try:
            for seen, (key, info) in enumerate(self._run.store.list_info(prefix), 1):
                if seen > LIST_MAX_FACTOR * len(wanted):
                    # the store holds far more: stat each key instead
                    return None
                if key in wanted or _versioned_path(key) in wanted:
                    listed[key] = info
        except StoreDown as exc:
            # no connection, or no such bucket: no file can be uploaded
            self._run.watch.saw(exc)
            return None
        except StoreError:
            # each file's own stat will report the problem
            return None
        return listed

    def _covers(self, key: str) -> bool:
        """Whether the listing tells of ``key`` (it shows the key absent if it does not show it)."""
        if self._listed is None:
            return False
        return self._directories is None or _directory(key) in self._directories

    def lookup(self, key: str) -> ObjectInfo | None:
        """What the store holds under ``key``: from the listing when it shows the key absent, or
        at a version whose content is remembered; otherwise from the store's ``stat`` (its
        sha256, or the one remembered at the version it shows)."""
        if self._listed is not None and self._covers(key):
            if key not in self._listed:
                return None
            listed = self._listed[key]
            if listed is not None and (known := self._remembered(key, listed)) is not None:
                return known
        remote = self._run.store.stat(key)
        if remote is None:
            return None
        if remote.sha256 is None:
            return self._remembered(key, remote) or remote
        self.remember(key, remote)
        return remote

    def known(self, key: str) -> ObjectInfo | None:
        """What :meth:`lookup` answers for ``key`` when it needs no request (the listing shows
        the key at a version whose content is remembered); None otherwise."""
        if self._listed is None or not self._covers(key):
            return None
        listed = self._listed.get(key)
        return None if listed is None else self._remembered(key, listed)

    def holds(self, key: str, remote: ObjectInfo, info: ObjectInfo) -> bool:
        """Whether the stored object ``remote`` has exactly the content described by ``info``.
        An object whose store keeps no sha256 is measured once per version."""
        assert info.sha256 is not None
        if match(remote, info.size, info.sha256) is Match.UNKNOWN:
            remote = measure(self._run.store, key)
            self.remember(key, remote)
        return match(remote, info.size, info.sha256) is Match.SAME

    def holder(self, key: str, info: ObjectInfo) -> str | None:
        """Another key of this store that holds exactly ``info``'s content now: one the state
        cache remembers with its sha256, confirmed by the store's ``stat``: its sha256, else
        the one remembered at the version it shows, else (a store that keeps neither) the
        sha256 a versioned key is named for. None if there is none."""
        assert info.sha256 is not None
        for candidate in self._run.cache.objects_holding(self._run.store_name, info.sha256):
            if candidate == key:
                continue
            remote = self._run.store.stat(candidate)
            if remote is not None and remote.sha256 is None:
                named = split_versioned(candidate)
                known = self._remembered(candidate, remote)
                remote = known or ObjectInfo(remote.size, named[1] if named else None)
            if remote is not None and match(remote, info.size, info.sha256) is Match.SAME:
                return candidate
        return None

    def remember(self, key: str, info: ObjectInfo) -> None:
        """The store holds ``info``'s content under ``key`` at ``info``'s version."""
        self._run.cache.remember_object(self._run.store_name, key, info)

    def _remembered(self, key: str, seen: ObjectInfo) -> ObjectInfo | None:
        """``seen`` with the sha256 the state cache remembers at its version and size."""
        sha = self._run.cache.object_sha256(self._run.store_name, key, seen)
        return None if sha is None else ObjectInfo(seen.size, sha, seen.version)


def _versioned_path(key: str) -> str | None:
    """The path part of a versioned key; None for another key."""
    split = split_versioned(key)
    return None if split is None else split[0]


def _directory(key: str) -> str:
    """The directory part of a key, with its "/" ("" at the top); a versioned key's too."""
    return key[: key.rfind("/") + 1]


def _by_directory(keys: set[str], least: int) -> dict[str, set[str]]:
    """The keys by their directory, only directories of at least ``least`` keys."""
    groups: dict[str, set[str]] = {}
    for key in keys:
        groups.setdefault(_directory(key), set()).add(key)
    return {d: group for d, group in groups.items() if len(group) >= least}
