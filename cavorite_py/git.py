"""Every git call cavorite makes.

``git`` is resolved to an absolute path once per process, on a PATH without the current
directory and without relative entries: a repository must never choose the program cavorite
runs (on Windows a plain lookup searches the current directory first). The work tree's top
level is asked once per process per directory.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
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
    import subprocess

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


def visible_files(root: Path, but_suffix: str = "") -> Iterator[str]:
    """Every file git would consider committing under ``root``, tracked, or untracked and not
    ignored: its path relative to ``root``, with "/" between names. With ``but_suffix``, none
    whose name ends with it after at least one character (git leaves them out: a million
    cfiles are never printed and read)."""
    args = ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."]
    if but_suffix:
        args.append(f":(exclude,glob)**/?*{_glob_literal(but_suffix)}")
    for rel in streamed(root, *args):
        yield rel.decode("utf-8", "surrogateescape")


def _glob_literal(text: str) -> str:
    """``text`` as a glob pathspec matches it, its wildcards escaped."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


STREAM_CHUNK = 1 << 20


def streamed(root: Path, *args: str) -> Iterator[bytes]:
    """The NUL-separated items git prints for ``args``, read as git writes them (a million
    paths are never held at once). A failure is one clear error, as in :func:`run`."""
    import subprocess
    import threading

    try:
        proc = subprocess.Popen(
            [executable(), *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise CavoriteError(f"cannot run git: {exc}") from exc
    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None
    # git's messages, read meanwhile: a full stderr pipe would stop git
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True)
    reader.start()
    try:
        rest = b""
        while chunk := stdout.read(STREAM_CHUNK):
            *items, rest = (rest + chunk).split(b"\0")
            yield from filter(None, items)
        if rest:
            yield rest
        code = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stdout.close()
        reader.join()
        stderr.close()
    if code != 0:
        message = b"".join(errors).decode(errors="replace").strip().splitlines()
        raise CavoriteError(f"git {args[0]} failed: {message[-1] if message else code}")


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
    import subprocess

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


def commit_id(root: Path, rev: str) -> str | None:
    """The commit ``rev`` names (``ORIG_HEAD``, a sha), or None when it names none."""
    try:
        out = run(root, "rev-parse", "-q", "--verify", "--end-of-options", f"{rev}^{{commit}}")
    except CavoriteError:
        return None
    return out.decode().strip() or None


def changed_files(root: Path, before: str, after: str, pattern: str) -> list[Path]:
    """Files under ``root`` matching ``pattern`` (e.g. ``*.cfile``, at any depth) that differ
    between the commits ``before`` and ``after``, deleted ones included."""
    out = run(root, "diff", "--name-only", "-z", "--relative", before, after, "--", pattern)
    return [root / os.fsdecode(p) for p in out.split(b"\0") if p]


def ever_committed(root: Path, paths: list[str]) -> set[str]:
    """Which of ``paths`` (relative to ``root``) some commit of any ref holds or held."""
    if not paths:
        return set()
    literal = [f":(literal){p}" for p in paths]
    out = run(root, "log", "--all", "--format=", "--name-only", "-z", "--relative", "--", *literal)
    names = (p.strip(b"\n") for p in out.split(b"\0"))
    return {p.decode("utf-8", "surrogateescape") for p in names if p}


# ------------------------------------------------------------------ history (prune's walk)

_REF_NAMESPACES = ("refs/heads", "refs/remotes", "refs/tags")
_FILE_MODES = (b"100644", b"100755")


def is_shallow(top: Path) -> bool:
    """Whether the repository's history is cut short (a shallow clone)."""
    return run(top, "rev-parse", "--is-shallow-repository").strip() == b"true"


def check_refs(top: Path) -> None:
    """Raise if any ref cannot be read (a broken ref, a missing object): a walk over the refs
    that skipped one would miss what it names."""
    run(top, "rev-list", "--all", "--no-walk")


def ref_commits(top: Path) -> list[str]:
    """The commit every local branch, remote-tracking branch and tag names (annotated tags
    peeled); a tag of a tree or a blob names no commit."""
    fmt = "%(objectname) %(objecttype) %(*objectname) %(*objecttype)"
    out = run(top, "for-each-ref", f"--format={fmt}", *_REF_NAMESPACES).decode()
    commits = []
    for line in out.splitlines():
        name, kind, peeled, peeled_kind = ([*line.split(), "", ""])[:4]
        if kind == "commit":
            commits.append(name)
        elif peeled_kind == "commit":
            commits.append(peeled)
    return commits


def first_parent_trees(top: Path, tip: str, count: int) -> list[str]:
    """The root trees of the last ``count`` commits of ``tip``, following first parents."""
    out = run(top, "log", "--first-parent", f"--max-count={count}", "--format=%T", tip, "--")
    return out.decode().split()


def commit_trees(top: Path, commits: list[str]) -> list[str]:
    """The root tree of each commit."""
    if not commits:
        return []
    out = run(top, "log", "--no-walk=unsorted", "--stdin", "--format=%T", stdin=_lines(commits))
    return out.decode().split()


def tree_files(top: Path, tree: str) -> Iterator[tuple[str, str]]:
    """``(path, blob)`` of every regular file in ``tree``, recursively."""
    for entry in run(top, "ls-tree", "-r", "-z", "--full-tree", tree).split(b"\0"):
        if entry:
            meta, name = entry.split(b"\t", 1)
            mode, kind, blob_id = meta.split()
            if kind == b"blob" and mode in _FILE_MODES:
                yield name.decode("utf-8", "surrogateescape"), blob_id.decode()


def history_files(top: Path, tips: list[str]) -> Iterator[tuple[str, str]]:
    """``(path, blob)`` of every regular file that any commit reachable from ``tips`` holds.

    One git process over the whole history: a file of a commit is either the same in its first
    parent (and named there, by the same argument) or new or changed against it, and a root
    commit names all its files, so the raw diffs of every commit against its first parent
    name every file of every commit. Set explicitly: a user's ``log.diffMerges`` may differ."""
    if not tips:
        return
    out = run(
        top,
        "log",
        "--stdin",
        "--format=",
        "--diff-merges=first-parent",
        "-r",
        "--raw",
        "-z",
        "--no-renames",
        "--no-abbrev",
        "--root",
        "--no-color",
        "--no-show-signature",
        stdin=_lines(tips),
    )
    tokens = iter(out.split(b"\0"))
    for meta in tokens:
        path = next(tokens, b"")
        fields = meta.lstrip(b"\n").split()
        if len(fields) == 5 and fields[1] in _FILE_MODES:
            yield path.decode("utf-8", "surrogateescape"), fields[3].decode()


def read_blobs(top: Path, blobs: list[str], limit: int) -> tuple[dict[str, bytes], int]:
    """The content of every blob of at most ``limit`` bytes, in one git process, and how many
    were left out for being larger."""
    sizes = blob_sizes(top, blobs)
    small = [b for b in blobs if sizes.get(b, limit + 1) <= limit]
    contents: dict[str, bytes] = {}
    if small:
        out = run(top, "cat-file", "--batch", stdin=_lines(small))
        at = 0
        while at < len(out):
            header_end = out.index(b"\n", at)
            name, _kind, size = out[at:header_end].split()
            start = header_end + 1
            contents[name.decode()] = out[start : start + int(size)]
            at = start + int(size) + 1
    return contents, len(blobs) - len(small)


@dataclass(frozen=True)
class Worktree:
    """One work tree of the repository, as ``git worktree list`` tells it."""

    path: Path
    head: str | None
    bare: bool
    prunable: bool


def worktrees(top: Path) -> list[Worktree]:
    """Every work tree of the repository, the main one first."""
    found: list[Worktree] = []
    for block in run(top, "worktree", "list", "--porcelain", "-z").split(b"\0\0"):
        fields = dict(([*part.split(b" ", 1), b""])[:2] for part in block.split(b"\0") if part)
        if b"worktree" in fields:
            head = fields.get(b"HEAD", b"").decode()
            found.append(
                Worktree(
                    Path(os.fsdecode(fields[b"worktree"])),
                    head if head.strip("0") else None,
                    b"bare" in fields,
                    b"prunable" in fields,
                )
            )
    return found


def stash_commits(top: Path) -> list[str]:
    """Every stash entry's commit and its parents (the commit it was made on, its index and,
    if it has one, its untracked files)."""
    if not has_ref(top, "refs/stash"):
        return []
    out = run(top, "log", "--walk-reflogs", "--format=%H %P", "refs/stash", "--")
    return out.decode().split()


def has_ref(top: Path, name: str) -> bool:
    try:
        run(top, "rev-parse", "--verify", "--quiet", name)
    except CavoriteError:
        return False
    return True


def _lines(items: list[str]) -> bytes:
    return "".join(f"{item}\n" for item in items).encode()


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
