"""Which files should not be committed as they are: large files and binary files.

Binary means git's own rule: a NUL byte in the first 8000 bytes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .errors import CavoriteError

BINARY_SNIFF = 8000
DEFAULT_THRESHOLD = 1024 * 1024


@dataclass(frozen=True)
class GuardSettings:
    """``large_file_threshold`` (bytes; larger files count as large; 0 turns it off),
    ``detect_binary``, ``remote_check``."""

    threshold: int = DEFAULT_THRESHOLD
    detect_binary: bool = True
    remote_check: bool = True

    @classmethod
    def from_config(cls, config: Config) -> GuardSettings:
        threshold = config.int_option("large_file_threshold")
        return cls(
            DEFAULT_THRESHOLD if threshold is None else threshold,
            config.bool_option("detect_binary", True),
            config.bool_option("remote_check", True),
        )


def read_head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(BINARY_SNIFF)


def is_binary(path: Path) -> bool:
    """Git's rule: a NUL byte in the first 8000 bytes."""
    return b"\0" in read_head(path)


def reason_to_track(size: int, head: Callable[[], bytes], settings: GuardSettings) -> str | None:
    """Why a file belongs in the store rather than in git (``large``/``binary``), or None.

    ``head`` gives the file's first bytes; it is called only when the size does not decide.
    """
    if settings.threshold and size > settings.threshold:
        return "large"
    if settings.detect_binary and size and b"\0" in head()[:BINARY_SNIFF]:
        return "binary"
    return None


def git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """Run git in ``root``; a failure is a clear error."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, input=stdin, capture_output=True, check=False, timeout=120
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise CavoriteError(f"cannot run git: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise CavoriteError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def git_visible_files(root: Path) -> Iterator[str]:
    """Every file git would consider committing under ``root``, tracked, or untracked and not
    ignored: its path relative to ``root``, with "/" between names."""
    out = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".")
    for rel in out.split(b"\0"):
        if rel:
            yield rel.decode("utf-8", "surrogateescape")
