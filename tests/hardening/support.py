"""Helpers for the hardening tests: snapshots of whole directories, and the shape of a clean
failure (one clear line, the documented exit code, no traceback).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.repos import CliResult

Snapshot = dict[bytes, tuple[str, bytes]]

EXIT_FAILED, EXIT_USAGE = 1, 2


CACHE = (b".cavorite/state.db", b".cavorite/state.db-journal")
"""The state cache (of any repository under a snapshot's top): cavorite's own record of hashes
and cfiles it read, ignored by git, which any command may refresh (e.g. after hashing an
artifact it found unchanged)."""


def snapshot(*tops: Path) -> dict[Path, Snapshot]:
    """Everything under each of ``tops`` except ``.git`` and the state cache: every entry by
    relative path (as bytes, so names that are not UTF-8 are kept), with its kind and its
    content (files), target (symbolic links) or nothing (directories)."""
    return {top: _snapshot(top) for top in tops}


def _snapshot(top: Path) -> Snapshot:
    found: Snapshot = {}
    if not top.exists():
        return found
    if not top.is_dir():
        return {b".": ("file", hashlib.sha256(top.read_bytes()).digest())}
    # fd-relative, so that paths beyond PATH_MAX are seen too
    for dirpath, dirnames, filenames, dirfd in os.fwalk(os.fsencode(top)):
        dirnames[:] = [d for d in dirnames if d != b".git"]
        rel_dir = os.path.relpath(dirpath, os.fsencode(top))
        for name in dirnames + filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if any(rel == c or rel.endswith(b"/" + c) for c in CACHE):
                continue
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(name, dir_fd=dirfd))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", b"")
            elif stat.S_ISREG(st.st_mode):
                with open(os.open(name, os.O_RDONLY, dir_fd=dirfd), "rb") as f:
                    found[rel] = ("file", hashlib.sha256(f.read()).digest())
            else:
                found[rel] = ("other", b"")
    return found


def assert_unchanged(before: dict[Path, Snapshot]) -> None:
    """Every directory of ``before`` holds exactly what it held."""
    for top, old in before.items():
        new = _snapshot(top)
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
        diff = f"{added=} {removed=} {changed=}"
        assert (added, removed, changed) == ([], [], []), f"{top} changed: {diff}"


def error_lines(result: CliResult) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("cavorite: error:")]


def assert_clean_failure(result: CliResult, code: int, pattern: str) -> str:
    """The command failed with ``code``, printing exactly one error line that matches the
    regular expression ``pattern``, and nothing that looks like a crash. Returns the line."""
    output = result.stdout + result.stderr
    assert result.code == code, output
    assert "Traceback" not in output, output
    assert "internal error" not in output and "this is a bug" not in output, output
    lines = error_lines(result)
    assert len(lines) == 1, output
    assert re.search(pattern, lines[0]), lines[0]
    assert len(lines[0]) < 800, lines[0]
    return lines[0]


def assert_no_crash(result: CliResult) -> None:
    output = result.stdout + result.stderr
    assert result.code in (0, 1, 2), output
    assert "Traceback" not in output and "internal error" not in output, output


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temp_files(top: Path) -> list[Path]:
    """Every temporary file of ours under ``top``."""
    return sorted(p for p in top.rglob("*") if ".cavorite-tmp-" in p.name)


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Make ``directory`` refuse new entries, also for root (which ignores permission bits):
    the immutable attribute as root, mode 0555 otherwise."""
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None:
            pytest.skip("running as root without chattr: cannot make a directory read-only")
        done = subprocess.run([chattr, "+i", str(directory)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not supported here: {done.stderr.decode().strip()}")
        try:
            yield
        finally:
            subprocess.run([chattr, "-i", str(directory)], check=True)
    else:
        mode = directory.stat().st_mode
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(mode)
