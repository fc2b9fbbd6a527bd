"""The prune plan's rules, and the reference walk over real git histories."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cavorite_py import references
from cavorite_py.errors import UsageError
from cavorite_py.prune import Action, Reason, judge, parse_age
from cavorite_py.references import References
from cavorite_py.stores.base import ObjectInfo
from tests.fixtures.repos import git

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("0", timedelta(0)),
        ("3", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_ages(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["", "d", "-1d", "1.5d", "7y", "7 days"])
def test_bad_ages(text: str) -> None:
    with pytest.raises(UsageError, match="not an age"):
        parse_age(text)


def test_the_reasons_in_order() -> None:
    refs = References(referenced={"ref"}, ours={"ref", "old", "fresh", "unknown"})
    old = ObjectInfo(1, None, "v1", NOW - timedelta(days=30))
    fresh = ObjectInfo(1, None, "v1", NOW - timedelta(hours=1))
    cutoff = NOW - timedelta(days=7)
    assert judge("ref", old, refs, cutoff).reason is Reason.REFERENCED
    assert judge("other", old, refs, cutoff).reason is Reason.NOT_OURS
    assert judge("unknown", ObjectInfo(1), refs, cutoff).reason is Reason.AGE_UNKNOWN
    assert judge("unknown", None, refs, cutoff).reason is Reason.AGE_UNKNOWN
    assert judge("fresh", fresh, refs, cutoff).reason is Reason.TOO_YOUNG
    doomed = judge("old", old, refs, cutoff)
    assert doomed.action is Action.DELETE and doomed.version == "v1"


def cfile(path: Path, key: str) -> None:
    path.write_text(json.dumps({"name": key, "checksum": "a" * 64, "date_modified": ""}))


def test_the_walk_sees_merged_branches_and_counts_broken_cfiles(
    make_git_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_git_repo("repo")
    cfile(repo / "a.cfile", "a@1")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    git(repo, "checkout", "-qb", "side")
    cfile(repo / "a.cfile", "a@2")
    (repo / "bad.cfile").write_text("{not json")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "side")
    git(repo, "checkout", "-q", "main")
    cfile(repo / "b.cfile", "b@1")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two")
    git(repo, "merge", "-q", "--no-edit", "-s", "ours", "side")
    git(repo, "branch", "-qD", "side")
    (repo / "bad.cfile").unlink(missing_ok=True)
    refs = references.walk(repo, "cfile")
    assert refs.referenced == refs.ours == {"a@1", "a@2", "b@1"}
    assert refs.malformed == 1
    last = references.walk(repo, "cfile", keep_last=1)
    assert last.referenced == {"a@1", "b@1"}
    assert last.ours == {"a@1", "a@2", "b@1"}
