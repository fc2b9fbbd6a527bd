"""Prune: delete the stored objects that nothing references, and never one that something does.

The plan, for every object listed under the repository's key prefix, in this order:

* named by a reference (:mod:`cavorite_py.references`): kept, ``referenced``;
* named by nothing this repository knows (not in its full history, not remembered by this
  clone's state cache as an object it uploaded or retrieved): kept, ``not ours``; in a store
  shared without prefixes it may be another repository's;
* its store tells no last-modified time: kept, ``age unknown``;
* written less than the grace age ago: kept, ``too young`` (a commit not yet pushed from another
  clone may name it);
* otherwise deleted (with ``dry_run``, only listed), and only while it is still the version that
  was listed: one written again meanwhile is kept, ``changed since listed``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from . import references
from .errors import ObjectChanged, ObjectNotFound, StoreError, UsageError
from .references import PruneRefused, References
from .stores.base import ObjectInfo, Store, delete_version

DEFAULT_GRACE = timedelta(days=7)
_AGE = re.compile(r"^(?P<number>\d+)(?P<unit>[smhdw]?)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Action(StrEnum):
    DELETE = "would delete"
    DELETED = "deleted"
    KEPT = "kept"
    FAILED = "failed"


class Reason(StrEnum):
    REFERENCED = "referenced"
    NOT_OURS = "not ours"
    AGE_UNKNOWN = "age unknown"
    TOO_YOUNG = "too young"
    CHANGED = "changed since listed"


@dataclass(frozen=True)
class Entry:
    """One listed object and what prune does with it."""

    key: str
    size: int | None
    modified: datetime | None
    version: str | None
    action: Action
    reason: Reason | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "size": self.size,
            "modified": self.modified.isoformat() if self.modified else None,
            "action": self.action.value,
            "reason": self.reason.value if self.reason else None,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class PruneReport:
    entries: list[Entry] = field(default_factory=list)
    dry_run: bool = True
    malformed: int = 0

    @property
    def ok(self) -> bool:
        return not any(e.action is Action.FAILED for e in self.entries)

    def gone(self) -> list[Entry]:
        """The objects deleted, or that would be."""
        return [e for e in self.entries if e.action in (Action.DELETE, Action.DELETED)]

    def kept(self) -> Counter[Reason]:
        return Counter(e.reason for e in self.entries if e.action is Action.KEPT and e.reason)

    def warnings(self) -> list[str]:
        if not self.malformed:
            return []
        return [
            f"{self.malformed} cfile(s) in the history or work trees could not be read and "
            "were skipped; the objects they name are not counted as referenced"
        ]

    def to_dict(self) -> dict[str, Any]:
        gone = self.gone()
        return {
            "command": "prune",
            "ok": self.ok,
            "dry_run": self.dry_run,
            "summary": {
                "deleted" if not self.dry_run else "would_delete": len(gone),
                "size": sum(e.size or 0 for e in gone),
                "kept": {r.value: n for r, n in self.kept().items()},
                "failed": sum(e.action is Action.FAILED for e in self.entries),
            },
            "warnings": self.warnings(),
            "objects": [e.to_dict() for e in self.entries],
        }


def parse_age(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` or ``0``; a bare number is days."""
    match = _AGE.match(text.strip().lower())
    if match is None:
        raise UsageError(
            f"--older-than {text!r} is not an age; use a number and a unit, e.g. 7d, 12h, 30m, 0"
        )
    unit = _UNITS[match["unit"] or "d"]
    return timedelta(**{unit: int(match["number"])})


def judge(key: str, info: ObjectInfo | None, refs: References, cutoff: datetime) -> Entry:
    """What to do with the listed object ``key``: delete it, or keep it and why."""
    size = info.size if info else None
    modified = _aware(info.modified) if info else None
    version = info.version if info else None

    def kept(reason: Reason) -> Entry:
        return Entry(key, size, modified, version, Action.KEPT, reason)

    if key in refs.referenced:
        return kept(Reason.REFERENCED)
    if key not in refs.ours:
        return kept(Reason.NOT_OURS)
    if modified is None:
        return kept(Reason.AGE_UNKNOWN)
    if modified > cutoff:
        return kept(Reason.TOO_YOUNG)
    return Entry(key, size, modified, version, Action.DELETE)


@dataclass(frozen=True)
class Scope:
    """What a prune looks at: the references kept (``keep_last`` commits of each ref, or all),
    the grace age, whether it only lists (``dry_run``)."""

    keep_last: int | None = None
    grace: timedelta = DEFAULT_GRACE
    dry_run: bool = True
    shared_store_ok: bool = False


def prune(
    top: Path, store: Store, settings: PruneSettings, remembered: set[str], scope: Scope
) -> PruneReport:
    """Prune the objects of ``store`` that the git repository at ``top`` no longer references;
    ``remembered``: the keys this clone's state cache knows it uploaded or retrieved."""
    check_scope(scope, settings.prefix)
    refs = references.walk(top, settings.extension, scope.keep_last)
    refs.ours |= remembered
    entries = plan(store, settings.prefix, refs, scope.grace)
    if not scope.dry_run:
        entries = execute(store, entries, store.default_jobs)
    return PruneReport(entries, scope.dry_run, refs.malformed)


@dataclass(frozen=True)
class PruneSettings:
    """What prune needs of the repository's configuration."""

    extension: str
    prefix: str


def check_scope(scope: Scope, prefix: str) -> None:
    """Refuse a scope that could delete what another repository uses."""
    if scope.keep_last is not None and scope.keep_last < 1:
        raise UsageError("--keep-last must be at least 1")
    if scope.keep_last is not None and not prefix and not scope.shared_store_ok:
        raise UsageError(
            "--keep-last deletes objects that old commits name, and without an "
            "object_key_prefix another repository sharing the store may name the same keys; "
            "set a prefix of its own for this repository, or pass --shared-store-ok if the "
            "store holds this repository's objects only"
        )


def plan(
    store: Store, prefix: str, refs: References, grace: timedelta, now: datetime | None = None
) -> list[Entry]:
    """Every object under ``prefix`` (a key prefix, "" for all), judged. Raises
    :class:`PruneRefused` when the store cannot list."""
    cutoff = (now or datetime.now(UTC)) - grace
    try:
        listed = list(store.list_info(f"{prefix}/" if prefix else ""))
    except StoreError as exc:
        raise PruneRefused(f"cannot list the store, so nothing is deleted: {exc}") from exc
    return sorted((judge(key, info, refs, cutoff) for key, info in listed), key=lambda e: e.key)


def execute(store: Store, entries: Iterable[Entry], jobs: int) -> list[Entry]:
    """Delete every object the plan says to, each only while it is the version listed."""
    entries = list(entries)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(lambda e: _delete(store, e), entries))


def _delete(store: Store, entry: Entry) -> Entry:
    if entry.action is not Action.DELETE:
        return entry
    try:
        delete_version(store, entry.key, entry.version)
    except (ObjectChanged, ObjectNotFound):
        return replace(entry, action=Action.KEPT, reason=Reason.CHANGED)
    except StoreError as exc:
        return replace(entry, action=Action.FAILED, error=str(exc))
    return replace(entry, action=Action.DELETED)


def _aware(moment: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC (what stores mean by one)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
