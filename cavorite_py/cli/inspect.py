"""``cavorite status`` and ``cavorite verify``."""

from __future__ import annotations

from pathlib import Path

import typer

from . import actions, options
from .core import app


@app.command()
def status(
    targets: list[Path] = typer.Argument(
        None, help="cfiles, artifacts or directories (default: the whole repository)."
    ),
    as_json: bool = options.JSON,
) -> int:
    """Show every tracked artifact's state: up to date, missing, modified; and large or binary
    files that are not tracked. Exit 0 when nothing needs doing, 1 otherwise."""
    return actions.status(targets or [], as_json)


@app.command()
def verify(
    targets: list[Path] = typer.Argument(
        None, help="cfiles, artifacts or directories (default: the whole repository)."
    ),
    remote: bool = typer.Option(
        False, "--remote", help="Also check each object in the store: present, size, sha256."
    ),
    local: bool = typer.Option(
        True, "--local/--no-local", help="Check local files against their cfiles."
    ),
    jobs: int | None = options.JOBS,
    as_json: bool = options.JSON,
) -> int:
    """Check artifacts against their cfiles (and, with --remote, the store's objects)."""
    from ..repo import Repo
    from .output import render

    with Repo.find() as repo:
        report = repo.verify(targets or [], remote=remote, local=local, jobs=jobs)
        return render(repo.workspace, report, "verify", as_json)
