"""Every git call cavorite makes.

``git`` is resolved to an absolute path once per process, on a PATH without the current
directory and without relative entries: a repository must never choose the program cavorite
runs (on Windows a plain lookup searches the current directory first). The work tree's top
level is asked once per process per directory.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .errors import CavoriteError, UsageError
from .fsutil import which

TIMEOUT = 120.0
"""seconds a git command may take"""


class GitNotFound(CavoriteError):
    """No ``git`` program on PATH (absolute entries only)."""


@functools.cache
def executable() -> str:
    """The absolute path of ``git``; raises :class:`GitNotFound` when there is none."""
    found = which("git")
    if found is None:
        raise GitNotFound(
            "git not found on PATH (relative PATH entries are not searched); "
            "install git or put its directory on PATH"
        )
    return found


def run(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """Run git with ``args`` in ``root``; its output. A failure is one clear error."""
    try:
        done = subprocess.run(
            [executable(), *args],
            cwd=root,
            input=stdin,
            capture_output=True,
            check=False,
            timeout=TIMEOUT,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise CavoriteError(f"cannot run git: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise CavoriteError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def _path(out: bytes) -> Path:
    return Path(os.fsdecode(out.rstrip(b"\n")))


def toplevel(start: Path) -> Path:
    """The top level of the git work tree holding ``start``; an error outside one."""
    top = find_toplevel(start)
    if top is None:
        # when git is missing, say that rather than "not inside a work tree"
        executable()
        raise UsageError(f"{start}: not inside a git work tree; run this in a git repository")
    return top


def find_toplevel(start: Path) -> Path | None:
    """The top level of the git work tree holding ``start``, or None: outside one, or when git
    is not installed (cavorite works in any version control system)."""
    return _toplevel(start.absolute())


@functools.cache
def _toplevel(start: Path) -> Path | None:
    try:
        return _path(run(start, "rev-parse", "--show-toplevel"))
    except CavoriteError:
        return None


def git_path(root: Path, name: str) -> Path:
    """Where git keeps ``name`` (e.g. ``hooks``, honouring core.hooksPath), absolute."""
    path = _path(run(root, "rev-parse", "--git-path", name))
    return path if path.is_absolute() else root / path


def visible_files(root: Path) -> Iterator[str]:
    """Every file git would consider committing under ``root``, tracked, or untracked and not
    ignored: its path relative to ``root``, with "/" between names."""
    out = run(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".")
    for rel in out.split(b"\0"):
        if rel:
            yield rel.decode("utf-8", "surrogateescape")


def staged_files(top: Path) -> list[Path]:
    """Files added, copied, modified or renamed in git's index (``top``: the work tree's top)."""
    out = run(top, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR")
    return [top / os.fsdecode(p) for p in out.split(b"\0") if p]


def index_blobs(top: Path) -> list[tuple[Path, str]]:
    """Every regular file in git's index and its blob id."""
    blobs: list[tuple[Path, str]] = []
    for line in run(top, "ls-files", "-s", "-z").split(b"\0"):
        if not line:
            continue
        meta, name = line.split(b"\t", 1)
        mode, blob, _stage = meta.split()
        if mode in (b"100644", b"100755"):
            blobs.append((top / os.fsdecode(name), blob.decode()))
    return blobs


def blob_sizes(top: Path, blobs: list[str]) -> dict[str, int]:
    """The size of every blob, in one git call."""
    if not blobs:
        return {}
    query = "\n".join(blobs).encode() + b"\n"
    out = run(top, "cat-file", "--batch-check=%(objectname) %(objectsize)", stdin=query)
    sizes = {}
    for line in out.decode().splitlines():
        name, size = line.split()
        sizes[name] = int(size)
    return sizes


def blob_head(top: Path, blob: str, limit: int) -> bytes:
    """Up to ``limit`` bytes from the start of a blob, without reading the rest."""
    try:
        with subprocess.Popen(
            [executable(), "cat-file", "blob", blob],
            cwd=top,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as proc:
            assert proc.stdout is not None
            data = proc.stdout.read(limit)
            proc.kill()
    except OSError as exc:
        raise CavoriteError(f"cannot run git: {exc}") from exc
    return data


def blob(top: Path, blob_id: str) -> bytes:
    """A whole blob."""
    return run(top, "cat-file", "blob", blob_id)


def untracked_files(root: Path) -> set[Path]:
    """Files under ``root`` that git neither tracks nor ignores (its ignore rules: .gitignore
    files, .git/info/exclude, core.excludesFile), as absolute paths."""
    return _listed(root, "--others", "--exclude-standard")


def tracked_files(root: Path) -> set[Path]:
    """Files under ``root`` in git's index, as absolute paths."""
    return _listed(root, "--cached")


def _listed(root: Path, *which: str) -> set[Path]:
    out = run(root, "ls-files", "-z", *which, "--", ".")
    return {root / os.fsdecode(rel) for rel in out.split(b"\0") if rel}
