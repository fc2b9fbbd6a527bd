"""The user's own configuration file: where consent lives, because no repository can write it.

``$XDG_CONFIG_HOME/cavorite/config.json`` (default ``~/.config/cavorite/config.json``) is one JSON
object. Each kind of consent keeps a list under its own key (``allowed_plugins`` for
:mod:`cavorite_py.consent`, ``allowed_endpoints`` for :mod:`cavorite_py.places`); other keys are
kept as they are when one list is rewritten. The file is replaced atomically, never edited in
place.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ConfigError


def path() -> Path:
    """``$XDG_CONFIG_HOME/cavorite/config.json``, or ``~/.config/cavorite/config.json``."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"
    return base / "cavorite" / "config.json"


def entries(key: str) -> list[Any]:
    """The list stored under ``key`` (empty when the file or the key is absent)."""
    config_path = path()
    return _list(_read(config_path), key, config_path)


def section(key: str) -> dict[str, Any]:
    """The object stored under ``key`` (empty when the file or the key is absent)."""
    config_path = path()
    raw = _read(config_path).get(key, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{key!r} in {config_path} must be a JSON object; fix or remove it")
    return raw


def update(key: str, change: Callable[[list[Any]], list[Any]]) -> Path:
    """Replace the list under ``key`` with ``change(current list)``; return the file's path."""
    config_path = path()
    data = _read(config_path)
    data[key] = change(_list(data, key, config_path))
    _write(config_path, data)
    return config_path


def _read(config_path: Path) -> dict[str, Any]:
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else None
        raise ConfigError(f"cannot read {config_path}: {reason or exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{config_path} is not valid JSON ({exc}); fix or remove it") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{config_path} must hold a JSON object; fix or remove it")
    return data


def _list(data: dict[str, Any], key: str, config_path: Path) -> list[Any]:
    raw = data.get(key, [])
    if not isinstance(raw, list):
        raise ConfigError(f"{key!r} in {config_path} must be a list; fix or remove it")
    return raw


def _write(config_path: Path, data: dict[str, Any]) -> None:
    try:
        config_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config-", dir=config_path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.write("\n")
            os.replace(tmp, config_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {config_path}: {exc.strerror or exc}") from exc
