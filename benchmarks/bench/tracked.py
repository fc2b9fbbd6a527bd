"""A repository as ``cavorite upload`` to a local store leaves it, written directly.

The scale section needs a million tracked files; uploading them with cavorite first would take
longer than everything it then measures. So each file is written here together with what an
upload makes of it: its cfile, its line in its directory's ``.gitignore`` and its object in the
local store, labelled with its sha256 as the store labels it. The object is a hard link to the
file: creating a file is what costs most on these file systems, and the measured commands only
list the store's objects or stat them. The format is not assumed: a real ``cavorite upload`` of
a few files (``learn``) is compared byte for byte with what this module writes for the same
files, and the section stops, saying so, if they differ. The state cache
(``.cavorite/state.db``) is not written: the first command run in the repository fills it, as in
a fresh clone, and the report times that run on its own line.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .workloads import DATA, Workload, _layout


class FormatChanged(RuntimeError):
    """What cavorite wrote differs from what this module would write."""


@dataclass(frozen=True)
class Format:
    ext: str
    xattr: str | None
    """the extended attribute holding an object's sha256 in the local store, if it sets one"""


def rfc3339(mtime_ns: int) -> str:
    """A file time as cavorite's cfiles give it: local time, nanoseconds without trailing zeros."""
    seconds, nanos = divmod(mtime_ns, 1_000_000_000)
    local = time.localtime(seconds)
    base = "%04d-%02d-%02dT%02d:%02d:%02d" % local[:6]  # noqa: UP031 - fixed widths
    frac = f".{nanos:09d}".rstrip("0").rstrip(".")
    offset = local.tm_gmtoff or 0
    if offset == 0:
        return f"{base}{frac}Z"
    minutes = abs(offset) // 60
    return f"{base}{frac}{'-' if offset < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def cfile_bytes(name: str, checksum: str, mtime_ns: int, size: int) -> bytes:
    record = {"name": name, "checksum": checksum, "date_modified": rfc3339(mtime_ns), "size": size}
    return (json.dumps(record, indent=2) + "\n").encode()


def gitignore_bytes(names: list[str]) -> bytes:
    return "".join(f"/{name}\n" for name in sorted(names)).encode()


def learn(repo: Path, store: Path, rels: list[str], ext: str = "cfile") -> Format:
    """Check this module's rendering against what ``cavorite upload`` wrote in ``repo`` for
    ``rels`` (all in one directory); the store's sha256 label, if any."""
    xattrs: set[str | None] = set()
    for rel in rels:
        artifact = repo / rel
        data = artifact.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        wrote = (repo / f"{rel}.{ext}").read_bytes()
        mine = cfile_bytes(rel, digest, artifact.stat().st_mtime_ns, len(data))
        if wrote != mine:
            raise FormatChanged(
                f"cavorite's cfile for {rel} is {wrote!r}; the scale generator would write "
                f"{mine!r}: update benchmarks/bench/tracked.py"
            )
        labels = [
            a for a in os.listxattr(store / rel) if os.getxattr(store / rel, a) == digest.encode()
        ]
        xattrs.add(labels[0] if labels else None)
    directory = repo / Path(rels[0]).parent
    wrote = (directory / ".gitignore").read_bytes()
    mine = gitignore_bytes([Path(rel).name for rel in rels])
    if wrote != mine:
        raise FormatChanged(
            f"cavorite's .gitignore in {directory} is {wrote!r}; the scale generator would write "
            f"{mine!r}: update benchmarks/bench/tracked.py"
        )
    if len(xattrs) != 1:
        raise FormatChanged(f"the local store labels its objects inconsistently: {xattrs}")
    return Format(ext, xattrs.pop())


def _write_dir(job: tuple[str, str, str, list[str], int, Format]) -> None:
    """One directory's files, cfiles, ``.gitignore`` and store objects."""
    repo, store, rel_dir, names, size, fmt = job
    here = os.path.join(repo, rel_dir)
    there = os.path.join(store, rel_dir)
    os.makedirs(here, exist_ok=True)
    os.makedirs(there, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for name in names:
        data = os.urandom(size)
        digest = hashlib.sha256(data).hexdigest()
        fd = os.open(os.path.join(here, name), flags, 0o644)
        os.write(fd, data)
        mtime_ns = os.fstat(fd).st_mtime_ns
        os.close(fd)
        fd = os.open(os.path.join(here, f"{name}.{fmt.ext}"), flags, 0o644)
        os.write(fd, cfile_bytes(f"{rel_dir}/{name}", digest, mtime_ns, size))
        os.close(fd)
        # the store's object: a hard link (a directory entry, no new file to create, which is
        # what costs most here), labelled as the store labels its objects
        obj = os.path.join(there, name)
        os.link(os.path.join(here, name), obj)
        if fmt.xattr is not None:
            os.setxattr(obj, fmt.xattr, digest.encode("ascii"))
    with open(os.path.join(here, ".gitignore"), "wb") as f:
        f.write(gitignore_bytes(names))


def generate_tracked(
    repo: Path, store: Path, name: str, count: int, size: int, per_dir: int, fmt: Format
) -> Workload:
    """``count`` files of ``size`` random bytes under ``repo/data``, ``per_dir`` to a directory,
    each as an upload to ``store`` leaves it; written by two processes (the machine's cores)."""
    files = _layout(count, per_dir)
    by_dir: dict[str, list[str]] = {}
    for rel in files:
        parent, _, base = rel.rpartition("/")
        by_dir.setdefault(parent, []).append(base)
    jobs = [(str(repo), str(store), d, names, size, fmt) for d, names in by_dir.items()]
    with ProcessPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        for _ in pool.map(_write_dir, jobs, chunksize=4):
            pass
    (repo / DATA).mkdir(exist_ok=True)
    return Workload(name, repo, files, count * size)
