"""``cavorite check`` (the pre-commit guard) and ``cavorite install-hook``."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import git, hookscript
from ..repo import Repo, check_commit
from ..results import Outcome
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
        return render(Workspace(Path.cwd()), report, "check", True)
    for result in report.results:
        if result.outcome is Outcome.NOT_PUSHED and result.detail:
            shown = Workspace(Path.cwd()).display(result.path)
            typer.echo(f"cavorite: accepted: {safe(shown)}: {result.detail}", err=True)
    for refusal in refusals:
        typer.echo(f"cavorite: refused: {safe(refusal.problem)}", err=True)
        typer.echo(f"    fix: {safe(refusal.fix)}", err=True)
    if refusals:
        typer.echo(f"cavorite: {len(refusals)} of {len(report.results)} files refused", err=True)
        return 1
    return 0


@app.command("install-hook")
def install_hook(
    chain: bool = typer.Option(
        False, "--chain", help="Move an existing foreign hook aside and run it first."
    ),
    pre_push: bool = typer.Option(
        False,
        "--pre-push",
        help="Install the pre-push hook instead: `cavorite push` before git pushes, refusing "
        "the git push if an object does not reach the store.",
    ),
) -> int:
    """Install a plain git pre-commit hook that runs `cavorite check --staged` (or, with
    --pre-push, a pre-push hook that runs `cavorite push`)."""
    kind = "pre-push" if pre_push else "pre-commit"
    with Repo.find() as repo:
        hook, moved = hookscript.install(git.toplevel(repo.root), chain, kind=kind)
    if moved:
        typer.echo(f"moved the existing hook to {moved}; it runs first")
    typer.echo(f"installed {hook}")
    return 0
