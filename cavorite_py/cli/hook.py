"""``cavorite check`` (the pre-commit guard) and ``cavorite install-hook``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from .. import git, hookscript
from ..guard import Refusal
from ..repo import Repo, check_commit
from ..results import Report
from ..workspace import Workspace
from . import options
from .app import app
from .output import render, safe


@app.command()
def check(
    files: list[Path] = typer.Argument(
        None, help="Files to check (as the pre-commit framework passes them)."
    ),
    staged: bool = typer.Option(
        False, "--staged", help="Check the files staged in git's index, as staged."
    ),
    remote: bool = typer.Option(
        True,
        "--remote/--no-remote",
        help="Check that staged cfiles' objects are in the store (env CAVORITE_NO_REMOTE_CHECK=1 "
        "turns it off too).",
    ),
    as_json: bool = options.JSON,
) -> int:
    """Refuse what must not be committed: untracked large or binary files, malformed cfiles,
    and cfiles whose object is not in the store."""
    report, refusals = check_commit(files or [], staged=staged, remote=remote)
    if as_json:
        return render(Workspace(Path.cwd()), with_fixes(report, refusals), "check", True)
    if staged and not report.results:
        typer.echo("cavorite: nothing to check (nothing staged)", err=True)
    for refusal in refusals:
        typer.echo(f"cavorite: refused: {safe(refusal.problem)}", err=True)
        typer.echo(f"    fix: {safe(refusal.fix)}", err=True)
    if refusals:
        typer.echo(f"cavorite: {len(refusals)} of {len(report.results)} files refused", err=True)
        return 1
    return 0


def with_fixes(report: Report, refusals: list[Refusal]) -> Report:
    """``report`` with each refused file's fix as its detail (for --json)."""
    fixes = {refusal.path: refusal.fix for refusal in refusals}
    results = [
        dataclasses.replace(r, detail=fixes[r.path]) if r.path in fixes else r
        for r in report.results
    ]
    return dataclasses.replace(report, results=results)


@app.command("install-hook")
def install_hook(
    chain: bool = typer.Option(
        False, "--chain", help="Move an existing foreign hook aside and run it first."
    ),
) -> int:
    """Install a plain git pre-commit hook that runs `cavorite check --staged`."""
    with Repo.find() as repo:
        hook, moved = hookscript.install(git.toplevel(repo.root), chain)
    if moved:
        typer.echo(f"moved the existing hook to {moved}; it runs first")
    typer.echo(f"installed {hook}")
    return 0
