"""``cavorite prune``: delete stored objects that nothing in the repository references."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from . import options
from .base import printable, settings
from .core import app

if TYPE_CHECKING:
    from ..prune import Entry, PruneReport

KEEP_LAST = typer.Option(
    None,
    "--keep-last",
    min=1,
    help="Keep what the last N commits of each branch, remote-tracking branch and tag name "
    "(first parents), instead of their whole history.",
)


@app.command()
def prune(
    keep_last: int | None = KEEP_LAST,
    older_than: str = typer.Option(
        "7d", "--older-than", help="Keep objects written less than this ago: 7d, 12h, 30m, 0."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Delete (without it, only list what would be deleted)."
    ),
    shared_store_ok: bool = typer.Option(
        False,
        "--shared-store-ok",
        help="Allow --keep-last without an object_key_prefix: the store holds this "
        "repository's objects only.",
    ),
    as_json: bool = options.JSON,
) -> int:
    """Delete the stored objects of this repository that no commit of any branch, remote
    branch or tag, no stash, no index and no work tree names. Dry by default."""
    import json

    from ..prune import Scope, parse_age
    from ..repo import Repo

    scope = Scope(keep_last, parse_age(older_than), not yes, shared_store_ok)
    with Repo.find() as repo:
        report = repo.prune(scope)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        render(report)
    return 0 if report.ok else 1


def render(report: PruneReport) -> None:
    lines = [line(e) for e in report.entries if _shown(e)]
    if lines:
        typer.echo("\n".join(lines))
    for warning in report.warnings():
        typer.echo(f"cavorite: warning: {printable(warning)}", err=True)
    typer.echo(summary(report))


def _shown(entry: Entry) -> bool:
    """Objects gone (or going) and failures always; kept ones with -v."""
    from ..prune import Action

    return entry.action is not Action.KEPT or settings.verbose > 0


def line(entry: Entry) -> str:
    from ..prune import Action
    from ..results import human_size

    what = entry.action.value if entry.action is not Action.KEPT else f"kept: {entry.reason}"
    note = entry.error or human_size(entry.size)
    return f"{what:<28} {printable(entry.key)}" + (f"  ({printable(note)})" if note else "")


def summary(report: PruneReport) -> str:
    from ..results import human_size

    gone = report.gone()
    size = human_size(sum(e.size or 0 for e in gone)) or "0 B"
    verb = "would delete" if report.dry_run else "deleted"
    text = f"{verb} {len(gone)} object{'s' if len(gone) != 1 else ''} ({size})"
    kept = report.kept()
    if kept:
        text += "; kept " + ", ".join(f"{n} {reason}" for reason, n in sorted(kept.items()))
    if report.dry_run and gone:
        text += "; run again with --yes to delete"
    return text
