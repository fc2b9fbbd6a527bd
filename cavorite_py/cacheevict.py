"""What the cache holds and how it shrinks: the scan, the limits, least recently used first.

The caller holds the cache's lock file exclusively (see ``Cache._evict``), so no pin is being
written meanwhile: every sha256 a live process pinned is in a pin file read here.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .cachepending import PendingEntries
from .cachesettings import CacheSettings
from .fsutil import is_temp_name, remove_stale_temps


@dataclass(frozen=True)
class Usage:
    """The cache's size and count, how much of it is pending, and its limits (0: none)."""

    dir: str
    objects: int
    size: int
    pending_objects: int
    pending_size: int
    max_size: int
    max_objects: int
    pending_gone: int = 0
    """pending objects whose repository no longer exists (``cavorite cache pending``)"""

    @property
    def over_limit(self) -> bool:
        return not _within(self.objects, self.size, self.max_objects, self.max_size)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "over_limit": self.over_limit}


@dataclass(frozen=True)
class CleanReport:
    """What an eviction removed (or would, on a dry run) and what it left. ``busy``: another
    process was evicting, nothing was done."""

    dry_run: bool
    busy: bool = False
    removed: int = 0
    freed: int = 0
    objects: int = 0
    size: int = 0
    kept_pending: int = 0
    kept_in_use: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Entry:
    sha256: str
    path: str
    size: int
    used: float


def scan(root: Path) -> list[Entry]:
    """Every entry under ``root/objects``, least recently used first."""
    found = []
    for folder in _scandir(root / "objects"):
        for item in _scandir(folder.path):
            if is_temp_name(item.name):
                continue
            with suppress(FileNotFoundError):
                st = item.stat(follow_symlinks=False)
                found.append(Entry(folder.name + item.name, item.path, st.st_size, st.st_mtime))
    return sorted(found, key=lambda e: e.used)


def usage(root: Path, settings: CacheSettings, pending: PendingEntries) -> Usage:
    entries = scan(root)
    waiting = pending.shas()
    held = [e for e in entries if e.sha256 in waiting]
    return Usage(
        dir=str(root),
        objects=len(entries),
        size=sum(e.size for e in entries),
        pending_objects=len(held),
        pending_size=sum(e.size for e in held),
        max_size=settings.max_size,
        max_objects=settings.max_objects,
        pending_gone=len({p.sha256 for p in pending.gone()} & {e.sha256 for e in held}),
    )


def evict(
    root: Path,
    settings: CacheSettings,
    pending: PendingEntries,
    *,
    own_pins: Path | None,
    everything: bool,
    dry_run: bool,
) -> CleanReport:
    """Remove the oldest entries until the limits hold (every entry when ``everything``),
    never a pending one nor one a live process pinned."""
    entries = scan(root)
    waiting = pending.shas()
    in_use = live_pins(root / "pins", own_pins, dry_run) - waiting
    count, size = len(entries), sum(e.size for e in entries)
    victims = []
    for entry in entries:
        if not everything and _within(count, size, settings.max_objects, settings.max_size):
            break
        if entry.sha256 not in waiting and entry.sha256 not in in_use:
            victims.append(entry)
            count, size = count - 1, size - entry.size
    if not dry_run:
        for entry in victims:
            with suppress(FileNotFoundError):
                os.unlink(entry.path)
        remove_stale_temps(root / "tmp")
    present = {e.sha256 for e in entries}
    return CleanReport(
        dry_run=dry_run,
        removed=len(victims),
        freed=sum(e.size for e in victims),
        objects=count,
        size=size,
        kept_pending=len(waiting & present),
        kept_in_use=len(in_use & present),
    )


def live_pins(folder: Path, own: Path | None, dry_run: bool) -> set[str]:
    """The sha256s pinned by live processes: a pin file whose owner holds it under a shared
    flock. One nobody holds belongs to a process that ended: removed (unless ``dry_run``)."""
    pinned: set[str] = set()
    for item in _scandir(folder):
        path = Path(item.path)
        if path == own:
            continue
        with suppress(FileNotFoundError), open(path, "rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pinned.update(f.read().decode("ascii", "replace").split())
                continue
            if not dry_run:
                path.unlink(missing_ok=True)
    return pinned


def _within(count: int, size: int, max_objects: int, max_size: int) -> bool:
    return (max_objects == 0 or count <= max_objects) and (max_size == 0 or size <= max_size)


def _scandir(folder: Path | str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
