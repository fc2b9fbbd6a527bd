"""Pending objects: cache entries kept for a store they have not reached yet (track now, push
later). Eviction never removes them; ``push`` sends them, then clears their markers.

A marker is ``pending/<store>/<sha256>.<key>``: ``<store>`` and ``<key>`` are the first 16 hex
digits of the sha256 of the store's identity and of the object key (so any text is safe as a
name, and one content pending under two keys of one store has two markers). It holds JSON::

    {"store": "s3 s3://bucket/prefix", "sha256": "...", "key": "team/a.bin",
     "repo": "/home/me/project", "size": 123, "since": 1718000000.0, "path": "team/a.bin"}

A marker stays until its object is pushed, from any clone of the same store. One whose
repository no longer exists (deleted, or moved, with nothing pushed) would protect its object
forever: ``cavorite cache pending`` lists such markers, and forgets them only when told to.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .config import config_path
from .fsutil import atomic_write_bytes, is_temp_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    """One object waiting to be sent: its content, the store and key it goes to, the
    repository (absolute path of its root) that asked, and the artifact's path in it ("" when
    not recorded)."""

    store: str
    sha256: str
    key: str
    repo: str
    size: int
    since: float
    path: str = ""

    @property
    def repo_gone(self) -> bool:
        """Whether the repository that asked no longer exists where it was: no cavorite
        configuration there (deleted or moved, or on a disk that is not mounted). A marker that
        names no repository is never counted gone."""
        return bool(self.repo) and not config_path(Path(self.repo)).is_file()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PendingEntries:
    """The pending markers under one directory; ``path_of`` maps a sha256 to its cache entry."""

    def __init__(self, root: Path, path_of: Callable[[str], Path]) -> None:
        self.root = root
        self._path_of = path_of

    def mark(self, sha256: str, *, store: str, key: str, repo: str, path: str = "") -> Pending:
        """Record that the cached ``sha256`` must still be sent to ``store`` under ``key``.
        The entry must be in the cache (add it first); a ``ValueError`` otherwise."""
        entry = self._path_of(sha256)
        try:
            size = entry.stat().st_size
        except FileNotFoundError:
            raise ValueError(f"{sha256} is not in the cache: add it before marking it") from None
        pending = Pending(store, sha256, key, repo, size, time.time(), path)
        marker = self._marker(pending)
        marker.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_bytes(marker, json.dumps(pending.to_dict()).encode())
        return pending

    def entries(self, store: str | None = None) -> list[Pending]:
        """Every pending object, or those of ``store``, oldest first."""
        folders = [self.root / _short(store)] if store is not None else self._folders()
        found = [p for folder in folders for p in self._read_folder(folder)]
        return sorted(found, key=lambda p: p.since)

    def gone(self) -> list[Pending]:
        """The pending objects whose repository no longer exists (see :attr:`Pending.repo_gone`),
        oldest first."""
        return [p for p in self.entries() if p.repo_gone]

    def any_for(self, store: str) -> bool:
        """Whether any object is pending for ``store`` (a marker being written counts)."""
        return bool(_names(self.root / _short(store)))

    def clear(self, pending: Pending) -> None:
        """Forget ``pending`` (it reached its store); the entry becomes evictable."""
        self._marker(pending).unlink(missing_ok=True)

    def forget(self, sha256: str, *, store: str, key: str) -> None:
        """Forget that ``sha256`` is pending for ``store`` under ``key``, if it was (it was
        sent another way, by an upload)."""
        self._marker_of(sha256, store, key).unlink(missing_ok=True)

    def shas(self) -> set[str]:
        """The sha256 of every pending object, from the marker names alone (robust to a
        marker that cannot be read: such an object stays protected)."""
        return {
            name.split(".", 1)[0]
            for folder in self._folders()
            for name in _names(folder)
            if not is_temp_name(name)
        }

    def _marker(self, pending: Pending) -> Path:
        return self._marker_of(pending.sha256, pending.store, pending.key)

    def _marker_of(self, sha256: str, store: str, key: str) -> Path:
        return self.root / _short(store) / f"{sha256}.{_short(key)}"

    def _folders(self) -> list[Path]:
        return [self.root / name for name in _names(self.root)]

    def _read_folder(self, folder: Path) -> list[Pending]:
        found = []
        for name in _names(folder):
            if is_temp_name(name):
                continue
            try:
                found.append(Pending(**json.loads((folder / name).read_bytes())))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("unreadable pending marker %s: %s", folder / name, exc)
        return found


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _names(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
