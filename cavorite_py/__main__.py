"""The ``cavorite`` command. ``--version`` answers before anything heavy is imported, and the
most used commands run without Typer when they can (see :mod:`cavorite_py.cli.fast`)."""

from __future__ import annotations

import sys

from . import __version__


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        print(f"cavorite-py {__version__}")
        raise SystemExit(0)
    from .cli import fast

    code = fast.run(args)
    if code is None:
        from .cli import run

        code = run(args)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
