"""The ``cavorite`` command. ``--version`` answers before anything heavy is imported."""

from __future__ import annotations

import sys

from . import __version__


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        print(f"cavorite-py {__version__}")
        raise SystemExit(0)
    from .cli import run

    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
