"""The ``cavorite`` command. ``--version`` answers before anything heavy is imported, help is
printed from its record when one holds (see :mod:`cavorite_py.cli.helpcache`), and the most used
commands run without Typer when they can (see :mod:`cavorite_py.cli.fast`)."""

from __future__ import annotations

import sys

from . import __version__


def main(argv: list[str] | None = None) -> None:
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


if __name__ == "__main__":
    main()
