"""The command-line layer: parse, call the engine through :class:`~cavorite_py.Repo`, render.

Exit codes: 0 success; 1 at least one file failed; 2 usage or configuration error; 3 internal
error (a bug: please report it); 130 interrupted.

A run imports only the module of the command it names (see :func:`.core.load_commands`);
``from cavorite_py.cli import app`` gives the Typer application with every command added.
"""

from __future__ import annotations

TYPE_CHECKING = False

if TYPE_CHECKING:
    import typer

__all__ = ["app", "run"]


def run(args: list[str]) -> int:
    """Run the CLI with ``args``; return the exit code (see :func:`.core.run`)."""
    from . import core

    return core.run(args)


def __getattr__(name: str) -> typer.Typer:
    """``app``, with every command added."""
    if name != "app":
        raise AttributeError(f"module 'cavorite_py.cli' has no attribute {name!r}")
    from . import core

    core.load_commands()
    return core.app
