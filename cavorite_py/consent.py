"""Consent: cavorite runs an executable store plugin only if the user allowed that program.

A repository's ``.cavorite/config`` comes with the clone, so whoever writes the repository could
otherwise make ``cavorite retrieve`` run any program, including one the repository ships. As git-lfs
refuses such settings from a repository's own config, cavorite refuses to start a plugin unless
its real path (symlinks resolved) is allowed by the user, in one of two places the repository
cannot write:

* the user's config file (:mod:`cavorite_py.userconfig`), key ``allowed_plugins``, written by
  ``cavorite allow-plugin PATH``::

      {"allowed_plugins": [{"path": "/home/me/bin/s3-plugin", "sha256": "9f86d0..."}]}

  An entry pins the program's content by sha256, so a repository cannot swap the program after
  consent; an entry with ``"sha256": null`` (``allow-plugin --any-content``), or a plain path
  string, allows the path whatever its content, for programs upgraded in place.
* the environment variable ``CAVORITE_ALLOW_PLUGIN``: absolute paths separated by ``os.pathsep``
  (``:`` on POSIX), allowed whatever their content; relative entries are ignored. Meant for CI.

Endpoints, directories and fsspec addresses are approved the same way, in :mod:`cavorite_py.places`.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import userconfig
from .errors import ConfigError, ConsentError
from .hashing import hash_file
from .userconfig import path as user_config_path

__all__ = [
    "CONFIG_KEY",
    "ENV_VAR",
    "Allowance",
    "allow",
    "file_sha256",
    "how_to_allow",
    "is_allowed",
    "require",
    "resolve",
    "user_config_path",
]

ENV_VAR = "CAVORITE_ALLOW_PLUGIN"
CONFIG_KEY = "allowed_plugins"


@dataclass(frozen=True)
class Allowance:
    """One allowed program: its resolved path and, when pinned, the sha256 of its content."""

    path: str
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256}


def resolve(path: str | os.PathLike[str]) -> Path:
    """The real absolute path: ``~`` expanded, symlinks resolved."""
    return Path(os.path.realpath(os.path.expanduser(path)))


def file_sha256(path: Path) -> str:
    """The sha256 of the program at ``path``; a file that cannot be read is a ``ConfigError``."""
    try:
        return hash_file(path)[0]
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"cannot read plugin {path} to hash its content: {reason}") from exc


def allow(path: str | os.PathLike[str], *, pin: bool = True) -> Allowance:
    """Allow the program at ``path`` in the user's config file (replacing an earlier entry for
    the same program), pinned to its current content unless ``pin`` is false."""
    real = resolve(path)
    if not real.is_file():
        raise ConfigError(f"cannot allow plugin {real}: no such file")
    allowance = Allowance(str(real), file_sha256(real) if pin else None)

    def replace(raw: list[Any]) -> list[Any]:
        kept = [e for e in _entries(raw) if e.path != allowance.path]
        return [e.to_json() for e in [*kept, allowance]]

    userconfig.update(CONFIG_KEY, replace)
    return allowance


def is_allowed(path: str | os.PathLike[str]) -> bool:
    """Whether the user allowed the program at ``path`` (as it is now) to run."""
    try:
        require(path)
    except ConsentError:
        return False
    return True


def require(path: str | os.PathLike[str]) -> None:
    """Raise ``ConsentError``, saying how to give consent, unless ``path`` is allowed."""
    real = resolve(path)
    if str(real) in _env_allowed():
        return
    pins = [e.sha256 for e in _entries(userconfig.entries(CONFIG_KEY)) if e.path == str(real)]
    if None in pins:
        return
    how = how_to_allow(real)
    if not pins:
        raise ConsentError(
            f"plugin {real} is not allowed to run: a repository's configuration cannot run a "
            f"program without your consent; if you trust it, {how}"
        )
    current = file_sha256(real)
    if current not in pins:
        raise ConsentError(
            f"plugin {real} changed since you allowed it (its sha256 is now {current[:12]}..., "
            f"not {str(pins[-1])[:12]}...); if you trust the new content, {how}"
        )


def how_to_allow(real: Path) -> str:
    quoted = shlex.quote(str(real))
    return f"run: cavorite allow-plugin {quoted}  (or set {ENV_VAR}={quoted})"


def _env_allowed() -> set[str]:
    entries = os.environ.get(ENV_VAR, "").split(os.pathsep)
    return {str(resolve(e)) for e in entries if os.path.isabs(e)}


def _entries(raw: list[Any]) -> list[Allowance]:
    return [_entry(item) for item in raw]


def _entry(item: Any) -> Allowance:
    if isinstance(item, str):
        item = {"path": item, "sha256": None}
    path = item.get("path") if isinstance(item, dict) else None
    sha256 = item.get("sha256") if isinstance(item, dict) else None
    if not (isinstance(path, str) and os.path.isabs(path)) or not (
        sha256 is None or isinstance(sha256, str)
    ):
        raise ConfigError(
            f"{CONFIG_KEY!r} in {user_config_path()} holds {item!r}; each entry must be an "
            'absolute path or {"path": "/abs/path", "sha256": "<hex>" or null}'
        )
    return Allowance(str(resolve(path)), sha256)
