"""What every run of the CLI shares, without Typer: the global settings, writing a line, and
the one place errors become exit codes (see :func:`guarded`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from ..errors import CavoriteError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class Settings:
    """The global options of a run."""

    def __init__(self) -> None:
        self.verbose = 0
        self.quiet = False
        self.log_to: Callable[[str], None] | None = None
        """where log lines go while a display draws on the terminal (see
        :mod:`cavorite_py.cli.progress`): printed above it, never through it; None: stderr"""


settings = Settings()


def apply_global_options(verbose: int, quiet: bool) -> None:
    settings.verbose = verbose
    settings.quiet = quiet
    configure_logging(verbose)


def configure_logging(verbose: int) -> None:
    """Log cavorite-py's own messages only. SDK loggers (botocore, azure, google-auth) stay
    quiet whatever -v says: their debug output dumps request headers, credentials included."""
    import logging

    class Lines(logging.Handler):
        """Each record a line on stderr, or through ``settings.log_to`` while it is set."""

        def emit(self, record: logging.LogRecord) -> None:
            try:
                line = self.format(record)
                if settings.log_to is not None:
                    settings.log_to(line)
                else:
                    echo(line, err=True)
            except Exception:
                self.handleError(record)

    handler = Lines()
    handler.setFormatter(logging.Formatter("cavorite: %(name)s: %(message)s"))
    ours = logging.getLogger("cavorite_py")
    ours.handlers[:] = [handler]
    ours.propagate = False
    ours.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)


def echo(message: str, err: bool = False, nl: bool = True) -> None:
    """``message`` and a line break (none without ``nl``) on stdout (stderr with ``err``),
    flushed; plain text only (what :func:`printable` and ``json.dumps`` give), as
    ``typer.echo`` writes it."""
    stream = sys.stderr if err else sys.stdout
    stream.write(message + "\n" if nl else message)
    stream.flush()


def error(message: str) -> None:
    echo(f"cavorite: error: {printable(message)}", err=True)


def printable(text: str) -> str:
    """Text from files, configs or stores made safe for a terminal: control characters escaped."""
    if text.isprintable():  # nearly always: no character by character work
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def interrupted() -> int:
    echo("cavorite: interrupted", err=True)
    return EXIT_INTERRUPTED


def guarded(call: Callable[[], int], shown: Callable[[], str]) -> int:
    """The exit code of ``call()``: an expected failure is one line and its exit code, an
    interruption 130, anything else a bug (3). With -v, the time ``shown()`` (the command) took."""
    started = time.monotonic()
    try:
        return call()
    except KeyboardInterrupt:
        return interrupted()
    except CavoriteError as exc:
        error(str(exc))
        if settings.verbose and exc.__cause__ is not None:
            from ..diagnostics import cause_chain

            echo(f"cavorite: caused by: {cause_chain(exc.__cause__)}", err=True)
        return exc.exit_code
    except Exception as exc:  # a bug: say so, with the traceback only when asked
        if settings.verbose:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        error(f"internal error: {type(exc).__name__}: {exc}")
        echo("cavorite: this is a bug; please report it with the output of -v", err=True)
        return EXIT_BUG
    finally:
        if settings.verbose:
            took = time.monotonic() - started
            echo(f"cavorite: {shown()} took {took:.3f} s", err=True)
