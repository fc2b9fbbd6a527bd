"""Following git: which cfiles a checkout or a merge changed, so that the post-checkout and
post-merge hooks retrieve only those (see :mod:`cavorite_py.hookscript`).

When that cannot be told (a file checkout, a clone, a squash merge, a commit git does not know),
the answer is every cfile: a retrieve of files already in place costs a look at the state
cache each.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from . import git
from .workspace import Workspace

NULL_COMMIT = "0" * 40
"""what git passes as the previous HEAD of a clone's first checkout"""


def changed_cfiles(ws: Workspace, before: str | None, after: str | None) -> list[Path]:
    """The cfiles present now that differ between commits ``before`` and ``after``; every cfile
    when either is unknown."""
    root = ws.root
    known = [git.commit_id(root, c) if c and c.strip("0") else None for c in (before, after)]
    if None in known:
        return list(ws.walk_cfiles(root))
    changed = git.changed_files(root, str(known[0]), str(known[1]), f"*{ws.suffix}")
    return [c for c in changed if ws.is_cfile(c) and c.is_file()]


def checkout_range(args: list[str], env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The commits a post-checkout hook's arguments (``prev new flag``, or the pre-commit
    framework's variables) name; None for both when every cfile must be looked at: a file
    checkout (flag 0), whose files may be any commit's."""
    if len(args) >= 3:
        before, after, flag = args[:3]
    else:
        before = env.get("PRE_COMMIT_FROM_REF", "")
        after = env.get("PRE_COMMIT_TO_REF", "")
        flag = env.get("PRE_COMMIT_CHECKOUT_TYPE", "")
    if flag != "1":
        return None, None
    return before or None, after or None


def merge_range(args: list[str], env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The commits before and after a merge (``ORIG_HEAD`` and ``HEAD``); None for both after a
    squash merge (its changes are in the work tree, not in HEAD)."""
    squash = args[0] if args else env.get("PRE_COMMIT_IS_SQUASH_MERGE", "")
    if squash == "1":
        return None, None
    return "ORIG_HEAD", "HEAD"
