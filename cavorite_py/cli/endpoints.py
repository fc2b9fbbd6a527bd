"""``cavorite allow-endpoint``: approve a place a repository's configuration names (see
:mod:`cavorite_py.places`)."""

from __future__ import annotations

import typer

from .core import app


@app.command("allow-endpoint")
def allow_endpoint(
    address: str = typer.Argument(
        ...,
        help="An origin (http://127.0.0.1:9000), a local directory (file:///abs/dir or a path), "
        "or an fsspec address as a refusal prints it (fsspec:ADDRESS...).",
    ),
) -> int:
    """Approve an endpoint, directory or fsspec address. Writes your own config, never a
    repository's."""
    from .. import places

    entry = places.normalise(address)
    config_path = places.allow([entry])
    typer.echo(f"approved {entry} in {config_path}")
    return 0
