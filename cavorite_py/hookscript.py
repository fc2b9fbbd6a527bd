"""``cavorite install-hook``: a plain git pre-commit hook for teams without the pre-commit
framework (and, with ``--pre-push``, a pre-push hook that runs ``cavorite push``). It never
clobbers a hook it did not write.

git runs hooks from the work tree's top level, so the hook names its program by absolute path,
recorded at install time: the installed ``cavorite`` console script of this interpreter (whose
imports start from its own directory), else this interpreter in isolated mode
(``python -I -m cavorite_py``). It never looks ``cavorite`` up on PATH, which may hold ``.``,
nor runs ``python -m`` without ``-I``, which would import a ``cavorite_py`` committed to the
repository.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import git
from .errors import CavoriteError, UsageError
from .fsutil import atomic_write_bytes

HOOK_ID = "cavorite-py-hook 5f1c2a7e"
"""marks hooks we wrote, so we can recognise (and replace) our own"""

TEMPLATE = """#!/bin/sh
# {hook_id}: installed by `cavorite install-hook{option}`; remove this file to uninstall.
{about}
{legacy}if [ ! -x {program} ]; then
    echo "cavorite: the program this hook runs is gone:" {program} >&2
    echo "    fix: run 'cavorite install-hook{option}' again" >&2
    exit 1
fi
exec {command} {args}
"""


@dataclass(frozen=True)
class HookKind:
    """One git hook cavorite installs: the ``install-hook`` option that asks for it, what it
    runs, and the comment that says why."""

    option: str
    args: str
    about: str
    framework_id: str
    """the id of the same hook for the pre-commit framework (.pre-commit-hooks.yaml)"""


HOOK_KINDS = {
    "pre-commit": HookKind(
        "",
        "check --staged",
        "# Refuses large or binary files that cavorite does not track, and cfiles whose object\n"
        "# is not in the store. Set CAVORITE_NO_REMOTE_CHECK=1 to skip the store check offline.",
        "cavorite-check",
    ),
    "pre-push": HookKind(
        " --pre-push",
        "push",
        "# Sends the objects kept for a later push (upload --no-push, or the store unreachable)\n"
        "# before git pushes; refuses the git push if any does not reach the store.",
        "cavorite-push",
    ),
}

PRE_COMMIT_FRAMEWORK_ID = "138fd403232d2ddd5efb44317e38bf03"
"""the marker the pre-commit framework puts in the hooks it installs"""

LEGACY = """if [ -x "$(dirname "$0")/{kind}.legacy" ]; then
    "$(dirname "$0")/{kind}.legacy" "$@" || exit $?
fi
"""


SCRIPT_NAME = "cavorite.exe" if os.name == "nt" else "cavorite"


def hooks_dir(repo: Path) -> Path:
    """Where git looks for hooks (honours core.hooksPath)."""
    return git.git_path(repo, "hooks")


def interpreter() -> str:
    """The running interpreter's absolute path."""
    if not sys.executable:
        raise CavoriteError("cannot tell which Python runs cavorite; run it as `cavorite`")
    return os.path.abspath(sys.executable)


def installed_script() -> Path | None:
    """This interpreter's ``cavorite`` console script, from its own scripts directories (the
    environment's, the user's), never from PATH; None when there is none."""
    for scheme in (sysconfig.get_default_scheme(), f"{os.name}_user"):
        script = Path(sysconfig.get_path("scripts", scheme)) / SCRIPT_NAME
        if script.is_absolute() and _runs_with(script, interpreter()):
            return script
    return None


def _runs_with(script: Path, python: str) -> bool:
    """Whether ``script`` is an executable file whose first line starts ``python``."""
    try:
        with open(script, "rb") as f:
            first = f.readline(4096)
    except OSError:
        return False
    return os.access(script, os.X_OK) and first.rstrip() == b"#!" + os.fsencode(python)


def command() -> list[str]:
    """What the hook runs, by absolute path: see the module's docstring."""
    script = installed_script()
    if script is not None:
        return [str(script)]
    return [interpreter(), "-I", "-m", "cavorite_py"]


def install(
    repo: Path, chain: bool = False, argv: Sequence[str] | None = None, kind: str = "pre-commit"
) -> tuple[Path, str | None]:
    """Write the ``kind`` hook (see :data:`HOOK_KINDS`), which runs ``argv`` (default:
    :func:`command`) with its arguments; return its path and, if a foreign hook was moved
    aside, where to."""
    try:
        return _install(repo, chain, list(argv) if argv is not None else command(), kind)
    except OSError as exc:
        raise CavoriteError(f"cannot install the hook: {exc.strerror or exc}") from exc


def _install(repo: Path, chain: bool, argv: list[str], kind: str) -> tuple[Path, str | None]:
    directory = hooks_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    hook = directory / kind
    moved: str | None = None
    legacy = directory / f"{kind}.legacy"
    existing = hook.read_text(errors="replace") if hook.exists() else ""
    if PRE_COMMIT_FRAMEWORK_ID in existing:
        raise UsageError(
            f"{hook} belongs to the pre-commit framework; add the "
            f"{HOOK_KINDS[kind].framework_id} hook to "
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
    spec = HOOK_KINDS[kind]
    text = TEMPLATE.format(
        hook_id=HOOK_ID,
        option=spec.option,
        about=spec.about,
        program=shlex.quote(argv[0]),
        command=shlex.join(argv),
        args=spec.args,
        legacy=LEGACY.format(kind=kind) if legacy.exists() else "",
    )
    atomic_write_bytes(hook, text.encode())
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return hook, moved

