"""``cavorite init``."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import DEFAULT_EXTENSION, DEFAULT_REGION, DEFAULT_STORE
from ..keys import KeyScheme
from .core import app


def store_names(incomplete: str) -> list[str]:
    """Tab completion of --store-type: the store names, not file names."""
    from ..stores import registry

    return [name for name in registry.known_names() if name.startswith(incomplete)]


@app.command()
def init(
    repo: Path | None = typer.Argument(
        None, help="Repository root (default: the git top level, or the current directory)."
    ),
    store_type: str = typer.Option(
        DEFAULT_STORE,
        "--store-type",
        help="s3, gcs, azure, fsspec, plugin, localstore, "
        "or any installed store (see `cavorite stores`).",
        autocompletion=store_names,
    ),
    backend_address: str = typer.Option(
        "", "--backend-address", help="Where objects go, e.g. s3://bucket/prefix."
    ),
    region: str = typer.Option(DEFAULT_REGION, "--region", help="Region, for S3."),
    object_key_prefix: str = typer.Option(
        "", "--object-key-prefix", help="Prefix put in front of every object key."
    ),
    plugin_address: str = typer.Option(
        "", "--plugin-address", help="Executable of a store plugin (store type 'plugin')."
    ),
    metadata_file_extension: str = typer.Option(
        DEFAULT_EXTENSION, "--metadata-file-extension", help="Extension of metadata files."
    ),
    key_scheme: KeyScheme = typer.Option(
        KeyScheme.VERSIONED,
        "--key-scheme",
        help="versioned: a key per content of a path (never overwritten); path: the Go tool's "
        "layout, for teams that still run it alongside.",
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Replace an existing configuration."),
) -> int:
    """Create .cavorite/config for a repository."""
    from .. import initrepo

    root = repo if repo is not None else initrepo.default_root(Path.cwd())
    result = initrepo.init(
        root,
        store_type,
        backend_address=backend_address,
        region=region,
        object_key_prefix=object_key_prefix,
        plugin_address=plugin_address,
        metadata_file_extension=metadata_file_extension,
        key_scheme=key_scheme,
        force=force,
    )
    typer.echo(f"initialised {result.config_path} (store type {store_type})")
    for note in result.notes:
        typer.echo(note)
    return 0
