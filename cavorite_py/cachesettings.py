"""Where the machine-wide content cache lives and how large it may grow.

Each setting comes from an environment variable, else the ``"cache"`` object of the user's
config file (``$XDG_CONFIG_HOME/cavorite/config.json``), else a default; the table is in
docs/cache.md::

    {"cache": {"dir": "/ci/cache/cavorite", "max_size": "20G", "max_objects": 50000,
               "hardlink": false, "upload": "free", "local_store": "free"}}

``CAVORITE_CACHE_DIR``, ``CAVORITE_CACHE_MAX_SIZE`` (``10G``, ``500M``, bytes) and
``CAVORITE_CACHE_MAX_OBJECTS`` override ``dir``, ``max_size`` and ``max_objects``; 0 is no limit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import usercache
from .errors import ConfigError

DIR_ENV = "CAVORITE_CACHE_DIR"
MAX_SIZE_ENV = "CAVORITE_CACHE_MAX_SIZE"
MAX_OBJECTS_ENV = "CAVORITE_CACHE_MAX_OBJECTS"
CONFIG_KEY = "cache"

DEFAULT_MAX_SIZE = 10 << 30
"""10 GiB: room for the artifacts of a few versions of several repositories..."""
FS_FRACTION = 10
"""...but never more than a tenth of the file system the cache is on (small CI disks)."""
DEFAULT_MAX_OBJECTS = 100_000
"""Enough for any repository we know of; bounds the cost of the scan that ``enforce`` makes."""
UPLOAD_MODES = ("free", "always")
"""``upload`` and ``local_store``: add a file only when a reflink makes it free, or always"""

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class CacheSettings:
    """The resolved settings of the cache: ``max_objects`` 0 means no limit on the count."""

    dir: Path
    max_size: int
    max_objects: int
    hardlink: bool = False
    upload: str = "free"
    local_store: str = "free"
    """downloads from a store on this machine (the local store): added only when free, or
    always (a local store on a slow or network file system)"""


def load_settings(env: Mapping[str, str] | None = None) -> CacheSettings:
    """The settings from ``env`` (default ``os.environ``), the user config and the defaults."""
    env = os.environ if env is None else env
    config = _cache_config()
    where = "the user config's 'cache'"
    directory = _directory(env.get(DIR_ENV) or config.get("dir"), env)
    max_size = _setting(env, MAX_SIZE_ENV, config, "max_size", parse_size)
    max_objects = _setting(env, MAX_OBJECTS_ENV, config, "max_objects", parse_count)
    upload, local_store = (_mode(config, name) for name in ("upload", "local_store"))
    hardlink = config.get("hardlink", False)
    if not isinstance(hardlink, bool):
        raise ConfigError(f"{where} 'hardlink' must be true or false, not {hardlink!r}")
    return CacheSettings(
        dir=directory,
        max_size=default_max_size(directory) if max_size is None else max_size,
        max_objects=DEFAULT_MAX_OBJECTS if max_objects is None else max_objects,
        hardlink=hardlink,
        upload=upload,
        local_store=local_store,
    )


def _mode(config: dict[str, Any], name: str) -> str:
    """The mode ``name`` of the user config's cache: ``free`` (the default) or ``always``."""
    mode = config.get(name, "free")
    if mode not in UPLOAD_MODES:
        raise ConfigError(
            f"the user config's 'cache' '{name}' must be 'free' or 'always', not {mode!r}"
        )
    return str(mode)


def parse_size(value: object, where: str = "a size") -> int:
    """Bytes from ``10G``, ``500M``, ``1.5GiB``, ``4096`` or an int (units are binary: K=1024)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{where} must be a number of bytes or like 500M, 10G, 1T; got {value!r}")
    return int(float(match[1]) * _UNITS[match[2].upper()])


def parse_count(value: object, where: str = "a count") -> int:
    """A non-negative integer from an int or its decimal text."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ConfigError(f"{where} must be a whole number (0 for no limit); got {value!r}")


def default_max_size(directory: Path) -> int:
    """10 GiB, or a tenth of the file system that holds (or will hold) ``directory``."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        fs = os.statvfs(existing)
    except OSError:
        return DEFAULT_MAX_SIZE
    return min(DEFAULT_MAX_SIZE, fs.f_blocks * fs.f_frsize // FS_FRACTION)


def _setting(
    env: Mapping[str, str],
    name: str,
    config: dict[str, Any],
    key: str,
    parse: Callable[[object, str], int],
) -> int | None:
    if env.get(name):
        return parse(env[name], name)
    if key in config:
        return parse(config[key], f"the user config's 'cache.{key}'")
    return None


def _directory(value: object, env: Mapping[str, str]) -> Path:
    if value is None:
        return Path(usercache.base(env))
    path = os.path.expanduser(value) if isinstance(value, str) else ""
    if not os.path.isabs(path):
        raise ConfigError(
            f"the cache directory must be an absolute path, not {value!r}: "
            f"fix {DIR_ENV} or 'cache.dir' in the user config"
        )
    return Path(path)


def _cache_config() -> dict[str, Any]:
    """The ``"cache"`` object of the user config file: the one place this module reads it."""
    from . import userconfig

    return userconfig.section(CONFIG_KEY)
