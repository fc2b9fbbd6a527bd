"""``cavorite init``: write a repository's ``.cavorite/config``, and say what it chose (where a
default local store lives, whether git ignores it, which places it approved)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import config as configmod
from . import git, gitignore, golayout, places
from .config import DEFAULT_STORE, Config
from .errors import ConfigError, UsageError
from .keys import KeyScheme
from .repo import Repo
from .statefile import ensure_ignored
from .stores import registry
from .stores.base import StoreSettings


@dataclass(frozen=True)
class InitResult:
    repo: Repo
    config_path: Path
    notes: list[str]


def default_root(cwd: Path) -> Path:
    """The git work tree's top level when inside one, else ``cwd``."""
    top = git.find_toplevel(cwd)
    return top if top is not None else cwd


def default_local_directory(root: Path) -> Path:
    """``$XDG_DATA_HOME/cavorite/localstore/NAME-HASH``: one directory per repository path, so
    that two repositories with the same name never share objects."""
    import hashlib

    tag = hashlib.sha256(os.fsencode(root)).hexdigest()[:8]
    return places.data_directory() / "localstore" / f"{root.name}-{tag}"


def _go_layout_address(
    store_type: str, backend_address: str, object_key_prefix: str, notes: list[str]
) -> tuple[str, str]:
    """The address and key prefix to write in the Go tool's layout: never an address the Go
    tool would read differently (a note in ``notes`` says what was moved)."""
    backend_address, object_key_prefix, note = golayout.init_address(
        store_type, backend_address, object_key_prefix
    )
    if note:
        notes.append(note)
    return backend_address, object_key_prefix


SHARE_HINT = (
    "a colleague's clone cannot reach it. To share objects, choose a place every clone can "
    "reach: cavorite init --force --store-type s3 --backend-address s3://BUCKET/PREFIX (or gcs, "
    "azure, or a shared directory)"
)


def _local_store_notes(root: Path, directory: Path) -> list[str]:
    """What ``init`` says about a store directory on this machine: inside the repository it
    is ignored by git (else ``git add .`` would commit the objects); outside, it is this
    machine's alone."""
    if not directory.is_relative_to(root):
        return [f"objects will be stored in {directory}, on this machine only: {SHARE_HINT}"]
    rel = directory.relative_to(root).as_posix()
    if not gitignore.in_git_work_tree(root) or rel == ".":
        return [f"objects will be stored in {rel}/ inside the repository"]
    try:
        gitignore.ignore_at_root(root, rel)
    except OSError as exc:
        return [f"could not add /{rel}/ to .gitignore ({exc.strerror}); add it by hand"]
    return [f"objects will be stored in {rel}/, which .gitignore now keeps out of git"]


def _check_init(
    root: Path, store_type: str, backend_address: str, plugin_address: str, force: bool
) -> None:
    """Refuse, before anything is written, an ``init`` that cannot work."""
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    if store_type not in registry.available():
        raise ConfigError(
            f"unknown store type {store_type!r}; known store types: "
            f"{', '.join(registry.known_names())}"
        )
    path = configmod.config_path(root)
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; use --force to replace it")
    if store_type == "plugin" and not plugin_address:
        raise UsageError("store type 'plugin' needs --plugin-address PATH_TO_EXECUTABLE")
    if store_type not in (DEFAULT_STORE, "plugin") and not backend_address:
        raise UsageError(f"store type {store_type!r} needs --backend-address")


def init(
    root: str | Path,
    store_type: str = DEFAULT_STORE,
    *,
    backend_address: str = "",
    region: str = configmod.DEFAULT_REGION,
    object_key_prefix: str = "",
    plugin_address: str = "",
    metadata_file_extension: str = configmod.DEFAULT_EXTENSION,
    key_scheme: KeyScheme | str = KeyScheme.VERSIONED,
    force: bool = False,
) -> InitResult:
    """Write ``.cavorite/config`` at ``root``; refuses to replace one unless ``force``."""
    root = Path(root).absolute()
    path = configmod.config_path(root)
    _check_init(root, store_type, backend_address, plugin_address, force)
    notes: list[str] = []
    directory: Path | None = None
    if store_type == DEFAULT_STORE and not backend_address:
        directory = default_local_directory(root)
        backend_address = directory.as_uri()
    if KeyScheme(key_scheme) is KeyScheme.PATH:
        backend_address, object_key_prefix = _go_layout_address(
            store_type, backend_address, object_key_prefix, notes
        )
    options = {
        "backend_address": backend_address,
        "metadata_file_extension": metadata_file_extension,
        "region": region,
        "object_key_prefix": object_key_prefix.strip("/"),
        "plugin_address": plugin_address,
        "key_scheme": str(key_scheme),
    }
    cfg = Config.from_dict({"store_type": store_type, "options": options}, "the new config")
    # an unknown scheme is refused before anything is written
    _ = cfg.key_scheme
    typed: list[str] = []
    local: object = None
    if store_type != "plugin":  # a plugin is not started (nor consented to) by init
        # the user typed the address: what it names is approved, once the rest succeeded
        with places.recording() as typed:
            store = registry.open_store(store_type, StoreSettings(backend_address, options, root))
            local = getattr(store, "directory", None)
            store.close()
    if directory is not None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the local store directory {directory}: {exc.strerror or exc}; "
                "choose another with --backend-address"
            ) from exc
    configmod.save(root, cfg)
    ensure_ignored(path.parent)
    if isinstance(local, Path):
        notes.extend(_local_store_notes(root, local))
    if typed:
        approved_in = places.allow(typed)
        notes.append(f"approved {', '.join(typed)} in {approved_in} (cavorite allow-endpoint)")
    return InitResult(Repo(root, cfg), path, notes)
