"""``cavorite upload`` and ``cavorite retrieve``."""

from __future__ import annotations

from pathlib import Path

import typer

from ..repo import Repo
from . import options
from .app import app
from .output import render
from .progress import observer


@app.command()
def upload(
    paths: list[Path] = typer.Argument(..., help="Files or directories to upload."),
    force: bool = options.FORCE_UPLOAD,
    jobs: int | None = options.JOBS,
    no_gitignore: bool = typer.Option(
        False, "--no-gitignore", help="Do not add uploaded files to .gitignore."
    ),
    include: list[str] = options.INCLUDE,
    exclude: list[str] = options.EXCLUDE,
    as_json: bool = options.JSON,
) -> int:
    """Upload files to the store and write a cfile next to each. Under a directory, only the
    files git would commit (not ignored, not tracked by git) that the patterns cover."""
    with Repo.find() as repo, observer(as_json, repo.workspace) as progress:
        report = repo.upload(
            paths,
            force=force,
            jobs=jobs,
            observer=progress,
            update_gitignore=False if no_gitignore else None,
            include=include or (),
            exclude=exclude or (),
        )
    return render(repo.workspace, report, "upload", as_json, progress.result_lines)


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
    with Repo.find() as repo, observer(as_json, repo.workspace) as progress:
        report = repo.retrieve(targets or [], force=force, jobs=jobs, observer=progress)
    return render(repo.workspace, report, "retrieve", as_json, progress.result_lines)
