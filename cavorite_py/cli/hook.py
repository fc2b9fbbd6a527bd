"""``cavorite check`` (the pre-commit guard), ``cavorite install-hook``, and the commands the
post-checkout and post-merge hooks run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import CavoriteError
from . import options
from .base import error, printable
from .core import app

if TYPE_CHECKING:
    from ..guard import Refusal
    from ..results import Report


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
    from ..repo import check_commit
    from ..results import Outcome
    from ..workspace import Workspace
    from .output import render

    report, refusals = check_commit(files or [], staged=staged, remote=remote)
    if as_json:
        return render(Workspace(Path.cwd()), with_fixes(report, refusals), "check", True)
    if staged and not report.results:
        typer.echo("cavorite: nothing to check (nothing staged)", err=True)
    for result in report.results:
        if result.outcome is Outcome.NOT_PUSHED and result.detail:
            shown = Workspace(Path.cwd()).display(result.path)
            typer.echo(f"cavorite: accepted: {printable(shown)}: {result.detail}", err=True)
    for refusal in refusals:
        typer.echo(f"cavorite: refused: {printable(refusal.problem)}", err=True)
        typer.echo(f"    fix: {printable(refusal.fix)}", err=True)
    if refusals:
        typer.echo(f"cavorite: {len(refusals)} of {len(report.results)} files refused", err=True)
        return 1
    return 0


def with_fixes(report: Report, refusals: list[Refusal]) -> Report:
    """``report`` with each refused file's fix as its detail (for --json)."""
    import dataclasses

    from ..results import Results

    fixes = {refusal.path: refusal.fix for refusal in refusals}
    results = Results(
        dataclasses.replace(r, detail=fixes[r.path]) if r.path in fixes else r
        for r in report.results
    )
    return dataclasses.replace(report, results=results)


@app.command("install-hook")
def install_hook(
    chain: bool = typer.Option(
        False, "--chain", help="Move an existing foreign hook aside and run it first."
    ),
    commit: bool = typer.Option(
        False, "--commit", help="The pre-commit guard (the default when no hook is chosen)."
    ),
    checkout: bool = typer.Option(
        False,
        "--checkout",
        help="post-checkout and post-merge hooks that retrieve the artifacts a checkout, "
        "merge or pull changed.",
    ),
    pre_push: bool = typer.Option(
        False,
        "--pre-push",
        help="The pre-push hook: `cavorite push` before git pushes, refusing the git push if "
        "an object does not reach the store.",
    ),
    every: bool = typer.Option(False, "--all", help="Every hook cavorite has."),
) -> int:
    """Install plain git hooks: the pre-commit guard (`cavorite check --staged`), with
    --checkout hooks that retrieve what a checkout, merge or pull changed, with --pre-push a
    hook that runs `cavorite push` before git pushes."""
    from .. import git, hookscript
    from ..repo import Repo

    chosen = {"commit": commit, "checkout": checkout, "push": pre_push}
    groups = [g for g, on in chosen.items() if on or every] or ["commit"]
    names = [name for g in groups for name in hookscript.GROUPS[g]]
    with Repo.find() as repo:
        installed = hookscript.install(git.toplevel(repo.root), chain, names=names)
    for hook, moved in installed:
        if moved:
            typer.echo(f"moved the existing hook to {moved}; it runs first")
        typer.echo(f"installed {hook}")
    return 0


HOOK_ARGS = typer.Argument(None, help="What git passes to the hook.")


@app.command("post-checkout", hidden=True)
def post_checkout(args: list[str] = HOOK_ARGS) -> int:
    """git's post-checkout hook: retrieve the artifacts whose cfiles the checkout changed."""
    from .. import follow

    return _follow("checkout", *follow.checkout_range(args or [], os.environ))


@app.command("post-merge", hidden=True)
def post_merge(args: list[str] = HOOK_ARGS) -> int:
    """git's post-merge hook: retrieve the artifacts whose cfiles the merge changed."""
    from .. import follow

    return _follow("merge", *follow.merge_range(args or [], os.environ))


def _follow(what: str, before: str | None, after: str | None) -> int:
    """Retrieve what changed; always exit 0: a hook that follows git must never make the
    checkout or merge look failed (it is done), whatever went wrong here."""
    from ..repo import Repo
    from .output import render

    try:
        with Repo.find() as repo:
            report = repo.retrieve_changed(before, after)
    except CavoriteError as exc:
        error(str(exc))
        report = None
    if report is not None and report.results:
        render(repo.workspace, report, "retrieve", False)
    if report is None or report.failed or report.warnings:
        typer.echo(
            f"cavorite: the {what} itself is done; run 'cavorite retrieve' once this is fixed",
            err=True,
        )
    return 0
