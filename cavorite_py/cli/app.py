"""The Typer application, its global options, and the one error handler."""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import dataclass

import typer

from .. import __version__
from ..errors import CavoriteError

app = typer.Typer(
    name="cavorite",
    help="Keep large binary files out of source control: upload them to an object store and "
    "commit a small verified metadata file (cfile) instead.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

GO_SPELLINGS = {
    f"--{name}": f"--{name.replace('_', '-')}"
    for name in (
        "store_type",
        "backend_address",
        "metadata_file_extension",
        "object_key_prefix",
        "plugin_address",
    )
}


@dataclass
class Settings:
    verbose: int = 0
    quiet: bool = False


settings = Settings()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cavorite-py {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="Say more; -vv adds debug logging."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print failures and the summary only."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Global options."""
    settings.verbose = verbose
    settings.quiet = quiet
    configure_logging(verbose)


def configure_logging(verbose: int) -> None:
    """Log cavorite-py's own messages only. SDK loggers (botocore, azure, google-auth) stay
    quiet whatever -v says: their debug output dumps request headers, credentials included."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("cavorite: %(name)s: %(message)s"))
    ours = logging.getLogger("cavorite_py")
    ours.handlers[:] = [handler]
    ours.propagate = False
    ours.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)


def translate_go_spellings(args: list[str]) -> list[str]:
    """Accept the Go tool's ``--store_type`` style, hidden from help."""
    out = []
    for arg in args:
        name, eq, value = arg.partition("=")
        out.append(GO_SPELLINGS.get(name, name) + eq + value if name in GO_SPELLINGS else arg)
    return out


def error(message: str) -> None:
    typer.echo(f"cavorite: error: {printable(message)}", err=True)


def printable(text: str) -> str:
    """Text from files, configs or stores made safe for a terminal: control characters escaped."""
    if text.isprintable():  # nearly always: no character by character work
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def run(args: list[str]) -> int:
    """Run the CLI with ``args``; return the exit code. The only place errors become exit codes."""
    try:
        result = app(args=translate_go_spellings(args), prog_name="cavorite", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # bad usage: Typer has printed nothing yet
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            error(str(exc))
        code = getattr(exc, "exit_code", EXIT_USAGE)
        return code if isinstance(code, int) else EXIT_USAGE
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("cavorite: interrupted", err=True)
        return EXIT_INTERRUPTED
    except CavoriteError as exc:
        error(str(exc))
        if settings.verbose and exc.__cause__ is not None:  # the type only: SDK texts may
            cause = type(exc.__cause__)  # quote request details we never print
            typer.echo(f"cavorite: caused by: {cause.__module__}.{cause.__name__}", err=True)
        return exc.exit_code
    except Exception as exc:  # a bug: say so, with the traceback only when asked
        if settings.verbose:
            traceback.print_exception(exc, file=sys.stderr)
        error(f"internal error: {type(exc).__name__}: {exc}")
        typer.echo("cavorite: this is a bug; please report it with the output of -v", err=True)
        return EXIT_BUG
    return result if isinstance(result, int) else EXIT_OK
from . import cache, prune  # noqa: E402, F401 - add the cache and prune commands
