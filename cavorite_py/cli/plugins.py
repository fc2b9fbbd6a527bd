"""``cavorite allow-plugin``: consent to run an executable store plugin (see ``consent``).

The main application adds the command with :func:`register`.
"""

from __future__ import annotations

from pathlib import Path

import typer

COMMAND = "allow-plugin"


def register(app: typer.Typer) -> None:
    """Add ``allow-plugin`` to ``app`` (once, however often it is called)."""
    if all(command.name != COMMAND for command in app.registered_commands):
        app.command(COMMAND)(allow_plugin)


def allow_plugin(
    path: Path = typer.Argument(..., help="The plugin's executable."),
    any_content: bool = typer.Option(
        False,
        "--any-content",
        help="Allow this path whatever its content, for a program upgraded in place. "
        "By default consent holds only while the program's sha256 stays the same.",
    ),
) -> int:
    """Allow an executable store plugin to run. Writes your own config, never a repository's."""
    from .. import consent

    allowance = consent.allow(path, pin=not any_content)
    pinned = f"sha256 {allowance.sha256}" if allowance.sha256 else "any content"
    typer.echo(f"allowed plugin {allowance.path} ({pinned}) in {consent.user_config_path()}")
    return 0
