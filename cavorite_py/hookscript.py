"""``cavorite install-hook``: plain git hooks for teams without the pre-commit framework: the
pre-commit guard, post-checkout and post-merge hooks that retrieve what a checkout, merge or
pull changed, and a pre-push hook that runs ``cavorite push`` (the kinds are :data:`KINDS`).
It never clobbers a hook it did not write.

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
# {hook_id}: installed by `cavorite install-hook`; remove this file to uninstall.
{purpose}{legacy}if [ ! -x {program} ]; then
    echo "cavorite: the program this hook runs is gone:" {program} >&2
    echo "    fix: run 'cavorite install-hook' again" >&2
    exit {gone_exit}
fi
{run}
"""


@dataclass(frozen=True)
class HookKind:
    """One git hook cavorite can install."""

    purpose: str
    """comment lines of the hook, each starting with a hash sign"""
    args: str
    """what the hook runs, after the program: shell words"""
    blocks: bool
    """whether its failure stops git (pre-commit); a hook that only follows git (post-checkout,
    post-merge) never fails, whatever goes wrong"""
    framework_id: str
    """the id of the same hook for the pre-commit framework (.pre-commit-hooks.yaml)"""


KINDS = {
    "pre-commit": HookKind(
        "# Refuses large or binary files that cavorite does not track, and cfiles whose object\n"
        "# is not in the store. Set CAVORITE_NO_REMOTE_CHECK=1 to skip the store check offline.\n",
        "check --staged",
        blocks=True,
        framework_id="cavorite-check",
    ),
    "post-checkout": HookKind(
        "# Retrieves the artifacts whose cfiles the checkout changed. Never fails the checkout\n"
        "# (git ignores this hook's exit status anyway): problems are printed, the exit is 0.\n",
        'post-checkout "$@"',
        blocks=False,
        framework_id="cavorite-retrieve-on-checkout",
    ),
    "post-merge": HookKind(
        "# Retrieves the artifacts whose cfiles the merge (or pull) changed. Never fails the\n"
        "# merge: problems are printed, the exit is 0.\n",
        'post-merge "$@"',
        blocks=False,
        framework_id="cavorite-retrieve-on-merge",
    ),
    "pre-push": HookKind(
        "# Sends the objects kept for a later push (upload --no-push, or the store unreachable)\n"
        "# before git pushes; refuses the git push if any does not reach the store.\n",
        "push",
        blocks=True,
        framework_id="cavorite-push",
    ),
}
"""every hook cavorite installs, by git's name for it"""

GROUPS = {
    "commit": ("pre-commit",),
    "checkout": ("post-checkout", "post-merge"),
    "push": ("pre-push",),
}
"""the hooks ``install-hook`` installs for each of its choices"""

PRE_COMMIT_FRAMEWORK_ID = "138fd403232d2ddd5efb44317e38bf03"
"""the marker the pre-commit framework puts in the hooks it installs"""

LEGACY = """if [ -x "$(dirname "$0")/{name}.legacy" ]; then
    "$(dirname "$0")/{name}.legacy" "$@"{on_failure}
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
    repo: Path,
    chain: bool = False,
    argv: Sequence[str] | None = None,
    names: Sequence[str] = ("pre-commit",),
) -> list[tuple[Path, str | None]]:
    """Write the hooks ``names`` (of :data:`KINDS`), each running ``argv`` (default:
    :func:`command`); return each hook's path and, if a foreign hook was moved aside, where
    to. Every hook is checked before any is written: a refusal changes nothing."""
    try:
        directory = hooks_dir(repo)
        for name in names:
            _check(directory, name, chain)
        program = list(argv) if argv is not None else command()
        return [_install(directory, name, program) for name in names]
    except OSError as exc:
        raise CavoriteError(f"cannot install the hook: {exc.strerror or exc}") from exc


def _check(directory: Path, name: str, chain: bool) -> None:
    """Refuse to install hook ``name`` over the framework's hook, or over a foreign one
    without ``chain`` (or with one moved aside already)."""
    hook, legacy = directory / name, directory / f"{name}.legacy"
    existing = hook.read_text(errors="replace") if hook.exists() else ""
    if PRE_COMMIT_FRAMEWORK_ID in existing:
        raise UsageError(
            f"{hook} belongs to the pre-commit framework; add the {KINDS[name].framework_id} "
            "hook to .pre-commit-config.yaml instead (see the README)"
        )
    if hook.exists() and HOOK_ID not in existing:
        if not chain:
            raise UsageError(
                f"{hook} exists and was not written by cavorite; use --chain to move it to "
                f"{legacy.name} and run it before cavorite"
            )
        if legacy.exists():
            raise UsageError(f"{legacy} exists already; merge the hooks by hand")


def _install(directory: Path, name: str, argv: list[str]) -> tuple[Path, str | None]:
    kind = KINDS[name]
    directory.mkdir(parents=True, exist_ok=True)
    hook, legacy = directory / name, directory / f"{name}.legacy"
    moved: str | None = None
    if hook.exists() and HOOK_ID not in hook.read_text(errors="replace"):
        # checked by _check: --chain was given
        os.replace(hook, legacy)
        moved = str(legacy)
    # a hook that only follows git runs the rest whatever the chained one says
    on_failure = " || exit $?" if kind.blocks else ""
    run = f"exec {shlex.join(argv)} {kind.args}"
    if not kind.blocks:
        run = f"{shlex.join(argv)} {kind.args} || true\nexit 0"
    text = TEMPLATE.format(
        hook_id=HOOK_ID,
        purpose=kind.purpose,
        program=shlex.quote(argv[0]),
        gone_exit=1 if kind.blocks else 0,
        run=run,
        legacy=LEGACY.format(name=name, on_failure=on_failure) if legacy.exists() else "",
    )
    atomic_write_bytes(hook, text.encode())
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return hook, moved
