"""Which stores exist: the built-in ones by name, imported only when used, and third-party ones
registered under the ``cavorite_py.stores`` entry-point group."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from ..errors import ConfigError
from .base import Store, StoreSettings

ENTRY_POINT_GROUP = "cavorite_py.stores"


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
        StoreEntry("s3", "cavorite_py.stores.s3:S3Store", "built-in", "s3", "boto3"),
        StoreEntry(
            "gcs", "cavorite_py.stores.gcs:GCSStore", "built-in", "gcs", "google.cloud.storage"
        ),
        StoreEntry(
            "azure",
            "cavorite_py.stores.azure:AzureStore",
            "built-in",
            "azure",
            "azure.storage.blob",
        ),
        StoreEntry(
            "fsspec", "cavorite_py.stores.fsspec:FsspecStore", "built-in", "fsspec", "fsspec"
        ),
        StoreEntry("plugin", "cavorite_py.stores.plugin:PluginStore", "built-in"),
    )
}


def _plugin_entries() -> dict[str, StoreEntry]:
    found: dict[str, StoreEntry] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, StoreEntry(ep.name, ep.value, _distribution(ep)))
    return found


def _distribution(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else "entry point"


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
    entry = available().get(name)
    if entry is None:
        raise ConfigError(
            f"unknown store type {name!r}; known store types: {', '.join(known_names())}"
        )
    plugin = _plugin_entries().get(name)
    if name in BUILT_IN and plugin is not None and plugin.target != entry.target:
        raise ConfigError(
            f"store plugin from {plugin.origin} registers the built-in name {name!r}; "
            "rename the entry point or uninstall the plugin"
        )
    module_name, _, attr = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if entry.extra is None or (exc.name or "").startswith("cavorite_py"):
            raise ConfigError(f"store {name!r} ({entry.origin}) cannot be imported: {exc}") from exc
        raise ConfigError(
            f"store {name!r} needs the package {exc.name!r}; install it with: "
            f'pip install "cavorite-py[{entry.extra}]"'
        ) from exc
    cls = getattr(module, attr, None) if attr else None
    if not (isinstance(cls, type) and issubclass(cls, Store)):
        raise ConfigError(
            f"store {name!r} ({entry.origin}) points at {entry.target!r}, which is not a "
            "cavorite_py Store subclass"
        )
    return cls


def open_store(name: str, settings: StoreSettings) -> Store:
    """Instantiate the store ``name`` with ``settings``."""
    return load(name)(settings)
