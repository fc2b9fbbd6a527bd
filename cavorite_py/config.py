"""The repository configuration, ``.cavorite/config``: find it, read it, validate it, write it.

The format is the Go tool's: ``{"store_type": ..., "options": {...}}``. Options we add live in
``options`` too; unknown keys, top-level or in ``options``, are kept when the file is rewritten.

One configuration governs a repository: inside a git work tree it is the outermost
``.cavorite/config`` at or below the work tree's top level that holds the starting directory.
A nested one further down (``sub/.cavorite/config``) is ignored, with a warning naming it, so
that a reviewer who read the root's configuration knows where every command sends credentials
and bytes. Outside git there is no top level to go by, and the nearest configuration governs.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import git, golayout
from .errors import ConfigError, MetadataError
from .fsutil import atomic_write_bytes
from .keys import KeyScheme
from .metadata import check_key

log = logging.getLogger(__name__)

CONFIG_DIR = ".cavorite"
CONFIG_NAME = "config"
DEFAULT_EXTENSION = "cfile"
DEFAULT_REGION = "us-east-1"
DEFAULT_STORE = "localstore"

GO_OPTION_KEYS = (
    "backend_address",
    "metadata_file_extension",
    "region",
    "object_key_prefix",
    "plugin_address",
)

MAX_CONFIG_BYTES = 1024 * 1024
"""A configuration is a few hundred bytes; anything this large is not one, and is not read."""

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)


def config_path(root: Path) -> Path:
    return root / CONFIG_DIR / CONFIG_NAME


@dataclass
class Config:
    """A loaded ``.cavorite/config``."""

    store_type: str
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    """top-level keys other than store_type and options, kept as they were"""

    def option(self, key: str, default: str = "") -> str:
        value = self.options.get(key, default)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ConfigError(
                f"option {key!r} in {CONFIG_DIR}/{CONFIG_NAME} must be a string, "
                f"not {type(value).__name__}"
            )
        return value

    @property
    def backend_address(self) -> str:
        return self.option("backend_address")

    @property
    def extension(self) -> str:
        return self.option("metadata_file_extension") or DEFAULT_EXTENSION

    @property
    def key_prefix(self) -> str:
        return self.option("object_key_prefix").strip("/")

    @property
    def key_scheme(self) -> KeyScheme:
        """How upload names objects (see :mod:`cavorite_py.keys`); absent: the Go tool's."""
        value = self.option("key_scheme") or KeyScheme.PATH.value
        try:
            return KeyScheme(value)
        except ValueError:
            allowed = ", ".join(repr(s.value) for s in KeyScheme)
            message = f"option 'key_scheme' must be one of {allowed}, not {value!r}"
            raise ConfigError(message) from None

    @property
    def go_layout(self) -> bool:
        """Whether this is a repository in the Go tool's layout (``key_scheme`` is path)."""
        return self.key_scheme is KeyScheme.PATH

    @property
    def store_address(self) -> golayout.Address:
        """``backend_address`` as the store is to be given it: in the Go tool's layout, an S3
        address means what it means to the Go tool (see :mod:`cavorite_py.golayout`)."""
        if self.go_layout and self.store_type == golayout.SHARED_STORE:
            return golayout.s3_address(self.backend_address)
        return golayout.Address(self.backend_address)

    def int_option(self, key: str, minimum: int = 0) -> int | None:
        """A whole-number option of at least ``minimum``, or None when unset."""
        value = self.options.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ConfigError(f"option {key!r} must be a whole number")
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"option {key!r} must be a whole number, not {value!r}") from None
        if number < minimum:
            raise ConfigError(f"option {key!r} must be at least {minimum}, not {number}")
        return number

    def bool_option(self, key: str, default: bool) -> bool:
        value = self.options.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"option {key!r} must be true or false, not {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"store_type": self.store_type, "options": dict(self.options), **self.extra}

    @classmethod
    def from_dict(cls, data: object, source: str = "config") -> Config:
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{source} must be a JSON object; fix it or run `cavorite init --force`"
            )
        store_type = data.get("store_type")
        if not isinstance(store_type, str) or not store_type:
            raise ConfigError(f"{source} has no store_type; fix it or run `cavorite init --force`")
        options = data.get("options", {})
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise ConfigError(f"{source}: options must be a JSON object")
        extra = {k: v for k, v in data.items() if k not in ("store_type", "options")}
        config = cls(store_type, dict(options), extra)
        ext = config.extension
        unusable = any(ord(c) < 32 or ord(c) == 127 for c in ext) or "/" in ext or "\\" in ext
        if unusable or ext.startswith(".") or ext in ("", "."):
            raise ConfigError(f"{source}: metadata_file_extension {ext!r} is not a file extension")
        check_go_layout(config, source)
        if config.key_prefix:
            try:
                check_key(config.key_prefix)
            except MetadataError as exc:
                raise ConfigError(f"{source}: object_key_prefix is unusable: {exc}") from None
        return config


def check_go_layout(config: Config, source: str) -> None:
    """Refuse what the Go tool would read differently in a repository it can work in (its
    layout, a store type its CLI opens): a missing or empty ``metadata_file_extension`` (it
    would write ``x.bin.``, we ``x.bin.cfile``: two cfiles for one artifact; and a name ending
    in ``.`` cannot exist on Windows)."""
    shared = config.go_layout and config.store_type in golayout.GO_STORES
    if not shared or config.option("metadata_file_extension"):
        return
    raise ConfigError(
        f"{source}: metadata_file_extension is missing or empty, which the Go tool reads as "
        "cfiles named 'x.bin.' and cavorite as 'x.bin.cfile'; add "
        '"metadata_file_extension": "cfile" to options (and rename any cfile ending in \'.\')'
    )


def find_root(start: Path) -> Path:
    """The root of the repository holding ``start``: the directory of the configuration that
    governs it (see the module's docstring)."""
    start = start.absolute()
    root = governing_root(start)
    if root is None:
        raise ConfigError(
            f"no {CONFIG_DIR}/{CONFIG_NAME} found in {start} or above; "
            "run `cavorite init` at the repository root first"
        )
    return root


def governing_root(directory: Path) -> Path | None:
    """The directory of the configuration governing ``directory`` (absolute), or None; a
    nested configuration passed over is named in a warning, once per process."""
    found = [d for d in (directory, *directory.parents) if config_path(d).is_file()]
    if len(found) < 2:
        return found[0] if found else None
    # git must start in a directory that exists
    existing = next(d for d in (directory, *directory.parents) if d.is_dir())
    top = git.find_toplevel(existing)
    inside = [d for d in found if top is not None and d.resolve().is_relative_to(top.resolve())]
    chosen = inside[-1] if inside else found[0]
    for nested in found[: found.index(chosen)]:
        _warn_nested(nested, chosen)
    return chosen


_warned: set[Path] = set()


def _warn_nested(nested: Path, chosen: Path) -> None:
    if nested not in _warned:
        _warned.add(nested)
        log.warning(
            "ignoring %s: only the repository's own configuration, %s, is used",
            config_path(nested),
            config_path(chosen),
        )


def load(root: Path) -> Config:
    path = config_path(root)
    text = _read(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); "
            "fix it or run `cavorite init --force`"
        ) from None
    return Config.from_dict(data, str(path))


def _read(path: Path) -> str:
    """The text of the regular file at ``path``, reading at most ``MAX_CONFIG_BYTES + 1`` bytes
    (nor blocking on a FIFO)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist; run `cavorite init` first") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{path} is not a regular file; replace it with the configuration")
        try:
            data = f.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path} is larger than {MAX_CONFIG_BYTES} bytes, so not a configuration; "
            "fix it or run `cavorite init --force`"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def save(root: Path, config: Config) -> Path:
    path = config_path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (json.dumps(config.to_dict(), indent=2) + "\n").encode())
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
