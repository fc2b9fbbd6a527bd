"""``cavorite install-hook``: a plain git pre-commit hook for teams without the pre-commit
framework. It never clobbers a hook it did not write."""

from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path

from .errors import CavoriteError, UsageError
from .fsutil import atomic_write_bytes
from .guard import git

HOOK_ID = "cavorite-py-hook 5f1c2a7e"
"""marks hooks we wrote, so we can recognise (and replace) our own"""

TEMPLATE = """#!/bin/sh
# {hook_id}: installed by `cavorite install-hook`; remove this file to uninstall.
# Refuses large or binary files that cavorite does not track, and cfiles whose object
# is not in the store. Set CAVORITE_NO_REMOTE_CHECK=1 to skip the store check offline.
{legacy}if command -v cavorite >/dev/null 2>&1; then
    exec cavorite check --staged
fi
exec {python} -m cavorite_py check --staged
"""

PRE_COMMIT_FRAMEWORK_ID = "138fd403232d2ddd5efb44317e38bf03"
"""the marker the pre-commit framework puts in the hooks it installs"""

LEGACY = """if [ -x "$(dirname "$0")/pre-commit.legacy" ]; then
    "$(dirname "$0")/pre-commit.legacy" "$@" || exit $?
fi
"""


def hooks_dir(repo: Path) -> Path:
    """Where git looks for hooks (honours core.hooksPath)."""
    path = Path(os.fsdecode(git(repo, "rev-parse", "--git-path", "hooks").strip()))
    return path if path.is_absolute() else repo / path


def install(repo: Path, chain: bool = False) -> tuple[Path, str | None]:
    """Write the hook; return its path and, if a foreign hook was moved aside, where to."""
    try:
        return _install(repo, chain)
    except OSError as exc:
        raise CavoriteError(f"cannot install the hook: {exc.strerror or exc}") from exc


def _install(repo: Path, chain: bool) -> tuple[Path, str | None]:
    directory = hooks_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    hook = directory / "pre-commit"
    moved: str | None = None
    legacy = directory / "pre-commit.legacy"
    existing = hook.read_text(errors="replace") if hook.exists() else ""
    if PRE_COMMIT_FRAMEWORK_ID in existing:
        raise UsageError(
            f"{hook} belongs to the pre-commit framework; add the cavorite-check hook to "
            ".pre-commit-config.yaml instead (see the README)"
        )
    if hook.exists() and HOOK_ID not in existing:
        if not chain:
            raise UsageError(
                f"{hook} exists and was not written by cavorite; use --chain to move it to "
                f"{legacy.name} and run it before cavorite's check"
            )
        if legacy.exists():
            raise UsageError(f"{legacy} exists already; merge the hooks by hand")
        os.replace(hook, legacy)
        moved = str(legacy)
    text = TEMPLATE.format(
        hook_id=HOOK_ID,
        python=shlex.quote(sys.executable),
        legacy=LEGACY if legacy.exists() else "",
    )
    atomic_write_bytes(hook, text.encode())
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return hook, moved
