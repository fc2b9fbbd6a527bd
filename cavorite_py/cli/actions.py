"""The work of the most used commands, without Typer: the Typer commands
(:mod:`.transfer`, :mod:`.inspect`) and the fast path (:mod:`.fast`) both call these."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def upload(
    paths: Sequence[Path],
    force: bool = False,
    jobs: int | None = None,
    no_gitignore: bool = False,
    no_push: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    as_json: bool = False,
) -> int:
    from ..repo import Repo
    from .output import render
    from .progress import observer

    with Repo.find() as repo, observer(as_json, repo.workspace) as progress:
        report = repo.upload(
            paths,
            force=force,
            jobs=jobs,
            observer=progress,
            update_gitignore=False if no_gitignore else None,
            push=not no_push,
            include=include,
            exclude=exclude,
        )
    return render(repo.workspace, report, "upload", as_json, progress.result_lines)


def push(jobs: int | None = None, as_json: bool = False) -> int:
    from ..repo import Repo
    from .output import render
    from .progress import observer

    with Repo.find() as repo, observer(as_json, repo.workspace) as progress:
        report = repo.push(jobs=jobs, observer=progress)
    return render(repo.workspace, report, "push", as_json, progress.result_lines)


def retrieve(
    targets: Sequence[Path] = (),
    force: bool = False,
    jobs: int | None = None,
    as_json: bool = False,
) -> int:
    from ..repo import Repo
    from .output import render
    from .progress import observer

    with Repo.find() as repo, observer(as_json, repo.workspace) as progress:
        report = repo.retrieve(targets, force=force, jobs=jobs, observer=progress)
    return render(repo.workspace, report, "retrieve", as_json, progress.result_lines)


def status(targets: Sequence[Path] = (), as_json: bool = False) -> int:
    from ..repo import Repo
    from .output import render

    with Repo.find() as repo:
        return render(repo.workspace, repo.status(targets), "status", as_json)
