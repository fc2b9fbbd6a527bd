"""``cavorite cache``: where the machine-wide cache is, how full, its limits; ``cache clean``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from ..results import human_size
from . import options
from .base import printable
from .core import app

if TYPE_CHECKING:
    from ..cacheevict import CleanReport, Usage
    from ..cachepending import Pending

cache_app = typer.Typer(
    name="cache",
    help="The content cache shared by every repository on this machine.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(cache_app)


@cache_app.callback()
def show(ctx: typer.Context, as_json: bool = options.JSON) -> int:
    """Show where the cache is, its size and object count, and its limits."""
    if ctx.invoked_subcommand is not None:
        return 0
    from ..cache import Cache

    usage = Cache().usage()
    typer.echo(json.dumps(usage.to_dict(), indent=2) if as_json else usage_text(usage))
    return 0


@cache_app.command("clean")
def clean(
    everything: bool = typer.Option(
        False, "--all", help="Empty the cache (by default only what no longer fits goes)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", "-n", help="Say what would go; remove nothing."
    ),
    as_json: bool = options.JSON,
) -> int:
    """Remove the least recently used objects that no longer fit the limits, or all of them.
    Objects not yet pushed (pending) and objects a running command uses are always kept."""
    from ..cache import Cache

    cache = Cache()
    report = (
        cache.clear(dry_run=dry_run) if everything else cache.enforce(dry_run=dry_run, wait=True)
    )
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else clean_text(report))
    return 0


@cache_app.command("pending")
def pending(
    forget_gone: bool = typer.Option(
        False,
        "--forget-gone",
        help="Forget the objects of repositories that no longer exist, so that cleaning can "
        "remove them (with --yes; without it, only list them).",
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="With --forget-gone: forget them (without it, only list)."
    ),
    as_json: bool = options.JSON,
) -> int:
    """List the objects not yet pushed: each one's file, size, store and repository, marking
    those whose repository no longer exists."""
    from ..cache import Cache
    from ..errors import UsageError

    if yes and not forget_gone:
        raise UsageError(
            "--yes only goes with --forget-gone: run 'cavorite cache pending --forget-gone' to "
            "see what it would forget"
        )
    entries = Cache().pending
    shown = entries.gone() if forget_gone else entries.entries()
    if forget_gone and yes:
        for entry in shown:
            entries.clear(entry)
    if as_json:
        data = {
            "pending": [{**e.to_dict(), "repo_gone": e.repo_gone} for e in shown],
            "forget_gone": forget_gone,
            "dry_run": forget_gone and not yes,
        }
        typer.echo(json.dumps(data, indent=2))
    else:
        lines = [pending_line(e) for e in shown]
        typer.echo("\n".join([*lines, pending_summary(shown, forget_gone, yes)]))
    return 0


def pending_line(entry: Pending) -> str:
    where = f"{entry.repo}/{entry.path}" if entry.repo and entry.path else entry.key
    gone = " (repository gone)" if entry.repo_gone else ""
    return f"{human_size(entry.size):>10}  {printable(where)}{gone}  for {printable(entry.store)}"


def pending_summary(shown: list[Pending], forget_gone: bool, yes: bool) -> str:
    total = f"{_objects(len(shown))} ({human_size(sum(e.size for e in shown))})"
    if not forget_gone:
        gone = sum(e.repo_gone for e in shown)
        text = f"{total} not yet pushed"
        if gone:
            text += (
                f"; {gone} for repositories that no longer exist: push them from another "
                "clone of the same store, or forget them with --forget-gone"
            )
        return text
    if yes:
        return f"forgot {total}; 'cavorite cache clean' can now remove them"
    return (
        f"would forget {total} of repositories that no longer exist; push them from another "
        "clone of the same store with 'cavorite push', or run again with --yes to forget them"
    )


def usage_text(usage: Usage) -> str:
    max_objects = str(usage.max_objects) if usage.max_objects else "none"
    max_size = human_size(usage.max_size) if usage.max_size else "none"
    lines = [
        f"cache    {printable(usage.dir)}",
        f"objects  {usage.objects} (limit {max_objects})",
        f"size     {human_size(usage.size)} (limit {max_size})",
    ]
    if usage.pending_objects:
        size = human_size(usage.pending_size)
        lines.append(f"pending  {usage.pending_objects} not yet pushed ({size}, never removed)")
    if usage.pending_gone:
        lines.append(
            f"         {usage.pending_gone} of them for repositories that no longer exist: "
            "see 'cavorite cache pending'"
        )
    if usage.over_limit:
        lines.append("over its limits: run 'cavorite cache clean'")
    return "\n".join(lines)


def clean_text(report: CleanReport) -> str:
    if report.busy:
        return "another cavorite process is cleaning the cache; nothing done"
    verb = "would remove" if report.dry_run else "removed"
    text = (
        f"{verb} {_objects(report.removed)} ({human_size(report.freed)}); "
        f"{_objects(report.objects)} ({human_size(report.size)}) left"
    )
    if report.kept_pending:
        text += f"; kept {report.kept_pending} pending (not yet pushed)"
    if report.kept_in_use:
        text += f"; kept {report.kept_in_use} in use by a running command"
    return text


def _objects(count: int) -> str:
    return f"{count} object{'s' if count != 1 else ''}"
