"""Workloads: generated once per benchmark run, hard-linked into a fresh directory per timed run.

A master copy of each workload is written once (random bytes, so nothing can be deduplicated or
compressed). Every timed run gets its own new repository directory whose files are hard links to
the master: creating it writes no data, all runs read the same (cached) pages, and no run ever
deletes another's output (deleting thousands of files slows file creation on these machines for
minutes). Everything is removed once, at the end.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
DATA = "data"
"""the directory, inside each repository, that holds a workload's files"""


@dataclass
class Workload:
    """A set of files under ``master/data``."""

    name: str
    master: Path
    files: list[str] = field(default_factory=list)
    """paths relative to ``master``, POSIX style (``data/d000/f000000.bin``)"""
    total_bytes: int = 0
    description: str = ""

    @property
    def count(self) -> int:
        return len(self.files)

    @property
    def mib(self) -> float:
        return self.total_bytes / MIB


def _layout(count: int, per_dir: int, top: str = DATA) -> list[str]:
    width = max(6, len(str(count)))
    return [f"{top}/d{i // per_dir:04d}/f{i:0{width}d}.bin" for i in range(count)]


def generate_many(
    root: Path,
    name: str,
    count: int,
    size: int,
    per_dir: int = 200,
    description: str = "",
    top: str = DATA,
) -> Workload:
    """``count`` files of ``size`` random bytes, ``per_dir`` to a directory, under ``top``."""
    master = root / name
    files = _layout(count, per_dir, top)
    made: set[Path] = set()
    for rel in files:
        path = master / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        with open(path, "wb", buffering=0) as f:
            f.write(os.urandom(size))
    return Workload(name, master, files, count * size, description)


def generate_large(root: Path, name: str, count: int, size: int, description: str = "") -> Workload:
    """``count`` files of ``size`` random bytes each, written in 8 MiB pieces."""
    master = root / name
    (master / DATA).mkdir(parents=True, exist_ok=True)
    files = [f"{DATA}/large{i:02d}.bin" for i in range(count)]
    piece = 8 * MIB
    for rel in files:
        with open(master / rel, "wb", buffering=0) as f:
            left = size
            while left > 0:
                n = min(piece, left)
                f.write(os.urandom(n))
                left -= n
    return Workload(name, master, files, count * size, description)


_counter = itertools.count()


class RunDirs:
    """Fresh, uniquely named directories under ``root``. Runs over many files never delete any
    early (deleting thousands of files slows the creation of new ones for minutes); see
    ``Suite.rounds`` for the few large files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.made: list[Path] = []

    def fresh(self, label: str) -> Path:
        path = self.root / f"{next(_counter):04d}-{label}"
        path.mkdir(parents=True)
        self.made.append(path)
        return path


def link_tree(workload: Workload, dest: Path) -> None:
    """Hard-link every file of ``workload`` into ``dest`` (same relative paths)."""
    made: set[Path] = set()
    for rel in workload.files:
        target = dest / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        os.link(workload.master / rel, target)


def copy_cfiles(source_repo: Path, workload: Workload, dest: Path, ext: str = "cfile") -> int:
    """Copy the metadata files (and ``.gitignore``) of ``source_repo`` into ``dest``: what a fresh
    clone of the repository holds. Returns the total size of the metadata files."""
    made: set[Path] = set()
    total = 0
    for rel in workload.files:
        data = (source_repo / f"{rel}.{ext}").read_bytes()
        target = dest / f"{rel}.{ext}"
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_bytes(data)
        total += len(data)
    ignore = source_repo / ".gitignore"
    if ignore.exists():
        (dest / ".gitignore").write_bytes(ignore.read_bytes())
    return total


def git_init(repo: Path, commit: bool = False) -> None:
    """Make ``repo`` a git work tree of its own (cavorite updates ``.gitignore`` in one, and
    ``status`` asks git for untracked files); with ``commit``, commit what is not ignored."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
    subprocess.run(["git", "init", "-q", "."], cwd=repo, check=True, env=env)
    if commit:
        subprocess.run(["git", "add", "-A", "."], cwd=repo, check=True, env=env)
        subprocess.run(
            ["git", "commit", "-q", "--no-verify", "-m", "workload"], cwd=repo, check=True, env=env
        )


def write_config(repo: Path, store_type: str, address: str, **options: object) -> None:
    """Write ``.cavorite/config`` directly (what ``cavorite init`` writes, without its startup)."""
    config = {
        "store_type": store_type,
        "options": {
            "backend_address": address,
            "metadata_file_extension": "cfile",
            "region": "us-east-1",
            "object_key_prefix": "",
            "plugin_address": "",
            **options,
        },
    }
    (repo / ".cavorite").mkdir(parents=True, exist_ok=True)
    (repo / ".cavorite" / "config").write_text(json.dumps(config, indent=2) + "\n")
