"""Which stores exist: the built-in ones by name, imported only when used, and third-party ones
registered under the ``cavorite_py.stores`` entry-point group.

Entry points are found by reading the ``entry_points.txt`` of the distributions installed in the
directories on ``sys.path``, as ``importlib.metadata`` finds them but without importing it (it
costs every command about 45 ms: email, zipfile, socket, csv...). ``importlib.metadata`` itself is
asked only for a name that scan did not find and for the full listing, so that stores installed
where the scan does not look (a zip file on ``sys.path``, a custom finder) still work.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .base import Store, StoreSettings

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

ENTRY_POINT_GROUP = "cavorite_py.stores"
METADATA_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class StoreEntry:
    """A store that can be opened: its name, where its class lives, and where it comes from."""

    name: str
    target: str
    """``module:Class``"""
    origin: str
    """``built-in`` or the distribution that registered it"""
    extra: str | None = None
    """the pip extra that installs its SDK, for built-in cloud stores"""
    requires: str | None = None
    """the module its SDK provides, to tell whether it is installed without importing it"""
    package: str | None = None
    """the distribution on PyPI that provides ``requires``"""

    def installed(self) -> bool:
        if self.requires is None:
            return True
        try:
            return importlib.util.find_spec(self.requires) is not None
        except ModuleNotFoundError:
            return False


BUILT_IN: dict[str, StoreEntry] = {
    entry.name: entry
    for entry in (
        StoreEntry("s3", "cavorite_py.stores.s3:S3Store", "built-in", "s3", "boto3", "boto3"),
        StoreEntry(
            "gcs",
            "cavorite_py.stores.gcs:GCSStore",
            "built-in",
            "gcs",
            "google.cloud.storage",
            "google-cloud-storage",
        ),
        StoreEntry(
            "azure",
            "cavorite_py.stores.azure:AzureStore",
            "built-in",
            "azure",
            "azure.storage.blob",
            "azure-storage-blob",
        ),
        StoreEntry(
            "fsspec",
            "cavorite_py.stores.fsspec:FsspecStore",
            "built-in",
            "fsspec",
            "fsspec",
            "fsspec",
        ),
        StoreEntry("plugin", "cavorite_py.stores.plugin:PluginStore", "built-in"),
    )
}


def refresh() -> None:
    """Forget the entry points found so far (they are looked up once per process)."""
    _scanned.cache_clear()
    _from_metadata.cache_clear()


@functools.cache
def _scanned() -> dict[str, StoreEntry]:
    """The group's entry points in the metadata directories of each directory on ``sys.path``.

    The same order and shadowing as ``importlib.metadata``: the first distribution of a given
    normalised name on ``sys.path`` hides the later ones, and the first registration of a store
    name wins. A metadata file that cannot be read or parsed is skipped.
    """
    found: dict[str, StoreEntry] = {}
    seen: set[str] = set()
    for entry in sys.path:
        try:
            children = os.listdir(entry or ".")
        except (OSError, TypeError, ValueError):  # not a directory: left to importlib.metadata
            continue
        for child in children:
            if not child.lower().endswith(METADATA_SUFFIXES):
                continue
            key = _normalise(child.lower().rpartition(".")[0].partition("-")[0])
            if key in seen:
                continue
            seen.add(key)
            info = os.path.join(entry, child)
            for name, target in _group(_read(info, "entry_points.txt"), ENTRY_POINT_GROUP):
                found.setdefault(name, StoreEntry(name, target, _origin(info, child)))
    return found


def _normalise(name: str) -> str:
    """PEP 503 normalisation, with underscores for dashes (as ``importlib.metadata``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _read(directory: str, filename: str) -> str:
    try:
        with open(os.path.join(directory, filename), encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return ""


def _group(text: str, group: str) -> Iterator[tuple[str, str]]:
    """The ``name = value`` lines of the section ``[group]`` of an ``entry_points.txt``."""
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group:
            name, equals, value = line.partition("=")
            if equals:
                yield name.strip(), value.strip()


def _origin(info: str, child: str) -> str:
    """``name version`` of a distribution: its metadata's headers, else its directory's name."""
    name, _, version = child.rpartition(".")[0].partition("-")
    version = version.partition("-")[0]
    headers = "METADATA" if child.lower().endswith(".dist-info") else "PKG-INFO"
    found: dict[str, str] = {}
    try:
        with open(os.path.join(info, headers), encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break
                key, colon, value = line.partition(":")
                if colon and key.lower() in ("name", "version"):
                    found.setdefault(key.lower(), value.strip())
    except (OSError, UnicodeDecodeError):
        found.clear()
    return f"{found.get('name', name)} {found.get('version', version)}"


@functools.cache
def _from_metadata() -> dict[str, StoreEntry]:
    """The group's entry points as ``importlib.metadata`` finds them, imported only now."""
    from importlib.metadata import entry_points

    found: dict[str, StoreEntry] = {}
    try:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            found.setdefault(ep.name, StoreEntry(ep.name, ep.value, _distribution(ep)))
    except (TypeError, ValueError):
        # a malformed entry_points.txt anywhere on sys.path (a line without "=", a file that is
        # not UTF-8) makes it raise; the scan has skipped that file and found the rest
        return {}
    return found


def _distribution(ep: EntryPoint) -> str:
    """``name version`` of the distribution that registered ``ep``, read from its headers:
    ``dist.name`` and ``dist.version`` of a distribution whose metadata lacks them warn on
    Python 3.13 (and are to raise ``KeyError``)."""
    if ep.dist is None:
        return "entry point"
    headers = ep.dist.metadata
    name = (headers.get_all("Name") or ["unnamed"])[0]
    version = (headers.get_all("Version") or ["?"])[0]
    return f"{name} {version}"


def _plugin_entries() -> dict[str, StoreEntry]:
    found = dict(_scanned())
    for name, entry in _from_metadata().items():
        found.setdefault(name, entry)
    return found


def _plugin(name: str) -> StoreEntry | None:
    """The third-party store registered as ``name``; ``importlib.metadata`` is asked only when
    the scan found none and ``name`` is not a built-in one (whose clash the scan reports)."""
    entry = _scanned().get(name)
    if entry is None and name not in BUILT_IN:
        entry = _from_metadata().get(name)
    return entry


def available() -> dict[str, StoreEntry]:
    """Every store that can be named as ``store_type``, built-in first.

    A third-party store may not take a built-in name; such a clash is left out here and refused
    with a clear message by :func:`load`.
    """
    stores = dict(BUILT_IN)
    for name, entry in _plugin_entries().items():
        stores.setdefault(name, entry)
    return stores


def known_names() -> list[str]:
    return sorted(available())


def load(name: str) -> type[Store]:
    """Import and return the Store class registered as ``name``."""
    entry = BUILT_IN.get(name) or _plugin(name)
    if entry is None:
        raise ConfigError(
            f"unknown store type {name!r}; known store types: {', '.join(known_names())}"
        )
    plugin = _plugin(name)
    if name in BUILT_IN and plugin is not None and plugin.target != entry.target:
        raise ConfigError(
            f"store plugin from {plugin.origin} registers the built-in name {name!r}; "
            "rename the entry point or uninstall the plugin"
        )
    module_name, _, attr = (part.strip() for part in entry.target.partition("[")[0].partition(":"))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if entry.extra is None or (exc.name or "").startswith("cavorite_py"):
            raise ConfigError(f"store {name!r} ({entry.origin}) cannot be imported: {exc}") from exc
        raise _missing_sdk(name, entry, exc.name or "?") from exc
    cls = getattr(module, attr, None) if attr else None
    if not (isinstance(cls, type) and issubclass(cls, Store)):
        raise ConfigError(
            f"store {name!r} ({entry.origin}) points at {entry.target!r}, which is not a "
            "cavorite_py Store subclass"
        )
    return cls


def _missing_sdk(name: str, entry: StoreEntry, module: str) -> ConfigError:
    """The error for a built-in store whose import misses ``module``: its SDK (named as pip
    knows it), or, the SDK being there, some other module it should have brought."""
    install = f'pip install "cavorite-py[{entry.extra}]"'
    if not entry.installed():
        return ConfigError(f"store {name!r} needs {entry.package}; install it with: {install}")
    return ConfigError(
        f"store {name!r} cannot be imported: module {module!r} is missing although "
        f"{entry.package} is installed; reinstall with: {install}"
    )


def open_store(name: str, settings: StoreSettings) -> Store:
    """Instantiate the store ``name`` with ``settings``."""
    return load(name)(settings)
