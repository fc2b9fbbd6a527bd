"""The most used commands run without Typer, whose import and application cost more than
a retrieve with nothing to do: :func:`run` takes a command line it reads exactly as Typer would,
and gives up (None) on anything else (help, an unknown or malformed option, ``--``, a value
that Typer would check), which the full application then runs and reports as always.

Each command here takes the options it has in :mod:`.transfer` and :mod:`.inspect`, whose
Typer commands call the same :mod:`.actions`; a test compares the two paths on many lines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import actions
from .base import EXIT_INTERRUPTED, apply_global_options, echo, guarded, interrupted

FLAGS: dict[str, dict[str, str]] = {
    "upload": {
        "--force": "force",
        "-f": "force",
        "--no-gitignore": "no_gitignore",
        "--no-push": "no_push",
        "--json": "as_json",
    },
    "push": {"--json": "as_json"},
    "retrieve": {"--force": "force", "-f": "force", "--json": "as_json"},
    "status": {"--json": "as_json"},
}
"""each command's flags, by option name: the parameter each sets"""

LISTS: dict[str, dict[str, str]] = {
    "upload": {"--include": "include", "-I": "include", "--exclude": "exclude", "-X": "exclude"},
}
"""each command's repeatable options that take a value, by option name: their parameter"""

JOBS = {"upload", "push", "retrieve"}
"""the commands with ``--jobs``/``-j``"""

POSITIONAL: dict[str, tuple[str, bool]] = {
    "upload": ("paths", True),
    "retrieve": ("targets", False),
    "status": ("targets", False),
}
"""each command's paths parameter, and whether at least one is required"""

ACTIONS: dict[str, Callable[..., int]] = {
    "upload": actions.upload,
    "push": actions.push,
    "retrieve": actions.retrieve,
    "status": actions.status,
}

GLOBAL = {"-v": (1, False), "-vv": (2, False), "--verbose": (1, False), "-q": (0, True)}
GLOBAL["--quiet"] = GLOBAL["-q"]
"""the global options read here: how much each adds to -v, whether it sets -q"""


class Parsed:
    """A command line the fast path runs: the command, its parameters, the global options."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.params: dict[str, Any] = {}
        self.verbose = 0
        self.quiet = False


def run(args: list[str]) -> int | None:
    """The exit code of ``args`` run here, or None when the full application must run them."""
    parsed = parse(args)
    if parsed is None:
        return None
    action = ACTIONS[parsed.command]

    def call() -> int:
        apply_global_options(parsed.verbose, parsed.quiet)
        return as_typer_would(lambda: action(**parsed.params))

    return guarded(call, lambda: parsed.command)


def parse(args: list[str]) -> Parsed | None:
    """``args`` read as Typer reads them, when they hold only what is read here."""
    if "_CAVORITE_COMPLETE" in os.environ:
        return None
    position = _command_position(args)
    if position is None:
        return None
    parsed = Parsed(args[position])
    paths: list[Path] = []
    tokens = iter(enumerate(args))
    for i, token in tokens:
        if i == position:
            continue
        if not token.startswith("-"):
            paths.append(Path(token))
        elif not _option(parsed, token, tokens, before=i < position):
            return None
    name, required = POSITIONAL.get(parsed.command, ("", False))
    if (paths and not name) or (required and not paths):
        return None
    if name:
        parsed.params[name] = paths
    return parsed


def _command_position(args: list[str]) -> int | None:
    """Where the command is, if it is one run here (the first word not an option or the value
    of ``--jobs``)."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("--jobs", "-j") else 1
    if i < len(args) and args[i] in ACTIONS:
        return i
    return None


def _option(parsed: Parsed, token: str, tokens: Iterator[tuple[int, str]], before: bool) -> bool:
    """Read option ``token`` (and its value, the next of ``tokens``) into ``parsed``; False if
    it is not read here. Before the command, only the global options, ``--json`` and
    ``--jobs`` are accepted."""
    command = parsed.command
    if token in GLOBAL:
        verbose, quiet = GLOBAL[token]
        parsed.verbose += verbose
        parsed.quiet = parsed.quiet or quiet
        return True
    if token in FLAGS[command] and (not before or token == "--json"):
        parsed.params[FLAGS[command][token]] = True
        return True
    value = next(tokens, (0, ""))[1]
    if not value or value.startswith("-"):
        return False
    if token in ("--jobs", "-j") and command in JOBS:
        if not (value.isascii() and value.isdigit() and value[0] != "0"):
            return False
        parsed.params["jobs"] = int(value)
        return True
    if token in LISTS.get(command, {}) and not before:
        parsed.params.setdefault(LISTS[command][token], []).append(value)
        return True
    return False


def as_typer_would(call: Callable[[], int]) -> int:
    """``call()``, with an interruption, end of input or closed pipe ending the run as Typer
    ends a command that raises them."""
    try:
        return call()
    except EOFError:
        echo("", err=True)
        return interrupted()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except OSError as exc:
        import errno

        if exc.errno != errno.EPIPE:
            raise
        import sys

        from typer._click.utils import PacifyFlushWrapper

        sys.stdout = PacifyFlushWrapper(sys.stdout)
        sys.stderr = PacifyFlushWrapper(sys.stderr)
        raise SystemExit(1) from None
