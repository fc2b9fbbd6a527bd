"""The ``cavorite`` command. ``--version`` answers before anything heavy is imported, help is
printed from its record when one holds (see :mod:`cavorite_py.cli.helpcache`), and the most used
commands run without Typer when they can (see :mod:`cavorite_py.cli.fast`), and the process ends
as soon as its work and output are done (see :func:`command`)."""

from __future__ import annotations

import sys

from . import __version__


def main(argv: list[str] | None = None) -> None:
    """Run the command line ``argv`` (default: the program's arguments); raise
    :class:`SystemExit` with its exit status, for a caller in the same process."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        print(f"cavorite-py {__version__}")
        raise SystemExit(0)
    from .cli import helpcache

    if helpcache.applies(args):
        code = helpcache.replay(args)
        raise SystemExit(helpcache.record(args, lambda: _run(args)) if code is None else code)
    raise SystemExit(_run(args))


def _run(args: list[str]) -> int:
    from .parallel import allow_forking

    # the command's own process: it may share work with forked children
    allow_forking()
    from .cli import fast

    code = fast.run(args)
    if code is None:
        from .cli import run

        code = run(args)
    return code


def command() -> None:
    """The ``cavorite`` program (and ``python -m cavorite_py``): :func:`main`, then the process
    ends without the interpreter's teardown, which frees every object and module one by one
    (15 ms after an upload of 2,000 files, more the more a run held). A run has closed what it
    opened by then (state cache, temporary area, lock, content cache); what the teardown
    would still do that matters is done here: the exit handlers run and the output is flushed.
    The usual exit is kept when another thread still runs (its work must end first), when the
    output cannot be flushed (a closed pipe: reported as usual), and for a status that is not
    a number."""
    try:
        main()
    except SystemExit as exc:
        code = exc.code
        if code is not None and not isinstance(code, int):
            raise
        import threading

        if threading.active_count() != 1:
            raise
        import atexit

        atexit._run_exitfuncs()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            raise exc from None
        import os

        os._exit(code or 0)


if __name__ == "__main__":
    command()
