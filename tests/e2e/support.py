"""Helpers shared by the end-to-end tests; the fixtures are in ``tests/fixtures/repos.py``."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from tests.fixtures.repos import CliResult

OUTCOMES = [
    "uploaded",
    "already-stored",
    "retrieved",
    "up-to-date",
    "stored",
    "missing",
    "modified",
    "outdated",
    "orphaned",
    "untracked",
    "not-in-store",
    "store-differs",
    "not-pushed",
    "failed",
    "stopped-tracking",
    "deleted",
]
"""Every outcome, as the JSON ``summary`` lists them: part of the documented, stable shape."""

FILE_KEYS = {"path", "outcome", "key", "size", "sha256"}
"""Keys every entry of the JSON ``files`` list has (``detail`` and ``error`` only when set)."""

LABELS = (
    "uploaded",
    "already stored",
    "retrieved",
    "up to date",
    "in store",
    "missing",
    "modified",
    "outdated",
    "orphaned",
    "untracked",
    "not in store",
    "store differs",
    "not pushed",
    "failed",
    "stopped tracking",
    "deleted",
)
_ROW = re.compile(
    r"^(?P<label>" + "|".join(re.escape(label) for label in LABELS) + r")\s+"
    r"(?P<path>.+?)(?:  \((?P<detail>[^()]*)\))?$"
)


def binary(tag: str, size: int = 300) -> bytes:
    """Distinct content with a NUL byte near the start: binary by git's rule."""
    seed = f"{tag}\0".encode()
    return (seed * (size // len(seed) + 1))[:size]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(repo: Path, rel: str, data: bytes) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def set_options(repo: Path, **options: Any) -> None:
    """Add options to ``.cavorite/config`` (e.g. ``large_file_threshold``)."""
    path = repo / ".cavorite" / "config"
    config = json.loads(path.read_text())
    config["options"].update(options)
    path.write_text(json.dumps(config, indent=2) + "\n")


class Row(NamedTuple):
    label: str
    path: str
    detail: str | None


def rows(text: str) -> list[Row]:
    """The per-file lines of a text report, parsed (other lines are left out)."""
    found = []
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            found.append(Row(m["label"], m["path"], m["detail"]))
    return found


def labels(text: str) -> dict[str, str]:
    """path -> label of every per-file line (for reports with one line per path)."""
    return {row.path: row.label for row in rows(text)}


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def json_report(result: CliResult, command: str) -> dict[str, Any]:
    """Parse a ``--json`` report and check the shape every command shares."""
    assert result.stdout.lstrip().startswith("{"), (result.stdout, result.stderr)
    doc: dict[str, Any] = json.loads(result.stdout)
    assert set(doc) == {"command", "ok", "summary", "warnings", "files"}
    assert all(isinstance(w, str) for w in doc["warnings"])
    assert doc["command"] == command
    assert isinstance(doc["ok"], bool)
    assert list(doc["summary"]) == OUTCOMES
    assert all(isinstance(n, int) for n in doc["summary"].values())
    assert sum(doc["summary"].values()) == len(doc["files"])
    for entry in doc["files"]:
        assert FILE_KEYS <= set(entry) <= FILE_KEYS | {"detail", "error"}, entry
        assert entry["outcome"] in OUTCOMES
        if "error" in entry:
            assert set(entry["error"]) == {"type", "message"}
    assert doc["ok"] == (result.code == 0)
    return doc


def outcomes(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(entry["path"], entry["outcome"]) for entry in doc["files"]]


def run_git(
    repo: Path, *args: str, env: Mapping[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run git with exactly ``env`` (so the hooks it starts see it), stderr merged into stdout."""
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=timeout,
    )


def committed(repo: Path, env: Mapping[str, str]) -> list[str]:
    """The paths in HEAD's tree (empty before the first commit)."""
    done = run_git(repo, "ls-tree", "-r", "--name-only", "-z", "HEAD", env=env)
    if done.returncode != 0:
        return []
    return sorted(p for p in done.stdout.split("\0") if p)


def commit_count(repo: Path, env: Mapping[str, str]) -> int:
    done = run_git(repo, "rev-list", "--count", "HEAD", env=env)
    return int(done.stdout.strip()) if done.returncode == 0 else 0


def xattrs_supported(path: Path) -> bool:
    """Whether the file system keeps user extended attributes (the local store's sha256)."""
    probe = path / ".xattr-probe"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.cavorite.probe", b"1")
    except (AttributeError, OSError):
        return False
    finally:
        probe.unlink()
    return True
