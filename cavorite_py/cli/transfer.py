"""``cavorite upload``, ``cavorite retrieve``, ``cavorite push`` and ``cavorite untrack``."""

from __future__ import annotations

from pathlib import Path

import typer

from . import actions, options
from .core import app


@app.command()
def upload(
    paths: list[Path] = typer.Argument(..., help="Files or directories to upload."),
    force: bool = options.FORCE_UPLOAD,
    jobs: int | None = options.JOBS,
    no_gitignore: bool = typer.Option(
        False, "--no-gitignore", help="Do not add uploaded files to .gitignore."
    ),
    no_push: bool = typer.Option(
        False,
        "--no-push",
        help="Send nothing: keep the files in the local cache for a later `cavorite push`.",
    ),
    include: list[str] = options.INCLUDE,
    exclude: list[str] = options.EXCLUDE,
    as_json: bool = options.JSON,
) -> int:
    """Upload files to the store and write a cfile next to each. Under a directory, only the
    files git would commit (not ignored, not tracked by git) that the patterns cover. With the
    store unreachable, the files are kept in the local cache for `cavorite push` instead (said
    in a warning)."""
    return actions.upload(
        paths, force, jobs, no_gitignore, no_push, include or (), exclude or (), as_json
    )


@app.command()
def push(jobs: int | None = options.JOBS, as_json: bool = options.JSON) -> int:
    """Send the objects kept in the local cache (upload --no-push, or the store unreachable)
    to the store; non-zero if any did not get there."""
    return actions.push(jobs, as_json)


@app.command()
def retrieve(
    targets: list[Path] = typer.Argument(
        None, help="cfiles, artifact paths or directories (default: the whole repository)."
    ),
    force: bool = options.FORCE_RETRIEVE,
    jobs: int | None = options.JOBS,
    as_json: bool = options.JSON,
) -> int:
    """Download artifacts named by cfiles and verify their sha256."""
    return actions.retrieve(targets or [], force, jobs, as_json)


@app.command()
def untrack(
    targets: list[Path] = typer.Argument(
        ..., help="cfiles, artifact paths or directories to stop tracking."
    ),
    delete: bool = typer.Option(False, "--delete", help="Delete the files too."),
    as_json: bool = options.JSON,
) -> int:
    """Stop tracking files: remove their cfiles and .gitignore lines; keep the files."""
    from ..repo import Repo
    from .output import render

    with Repo.find() as repo:
        report = repo.untrack(targets, delete=delete)
    return render(repo.workspace, report, "untrack", as_json)
