"""``cavorite stores``: the stores that can be named as store_type."""

from __future__ import annotations

import typer

from . import options
from .core import app


@app.command("stores")
def list_stores(as_json: bool = options.JSON) -> int:
    """List the installed stores and where each comes from."""
    import json

    from ..stores import registry

    entries = registry.available().values()
    rows = [
        {
            "name": e.name,
            "origin": e.origin,
            "target": e.target,
            "installed": e.installed(),
            "extra": e.extra,
        }
        for e in entries
    ]
    if as_json:
        typer.echo(json.dumps({"command": "stores", "ok": True, "stores": rows}, indent=2))
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        hint = "" if e.installed() else f'  (not installed: pip install "cavorite-py[{e.extra}]")'
        typer.echo(f"{e.name:<{width}}  {e.origin:<30} {e.target}{hint}")
    return 0
