"""Typer's help formatter (``typer.rich_utils``), imported for ``--help`` without the two rich
modules it imports at its top but never uses for this application: ``rich.markdown`` (for
``rich_markup_mode="markdown"``; ours is ``"rich"``) and ``rich.traceback`` (for pretty
exceptions, which the application turns off). They and what they import (markdown-it,
pygments, attrs) are about half of the formatter's import time. A test compares the help with
the one the formatter imported in full prints.
"""

from __future__ import annotations

import sys
import types
from typing import NoReturn

UNUSED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}
"""the modules left out, and the name the formatter takes from each"""


def asks_for_help(args: list[str]) -> bool:
    """Whether Typer will print help for ``args`` (``-h``, ``--help``, or no arguments)."""
    end = args.index("--") if "--" in args else len(args)
    return not args or "-h" in args[:end] or "--help" in args[:end]


def import_formatter() -> None:
    """Import ``typer.rich_utils`` with placeholders for :data:`UNUSED`, which are then
    forgotten: a later import of those modules loads the real ones."""
    if "typer.rich_utils" in sys.modules:
        return
    placeholders = {name: _placeholder(name, UNUSED[name]) for name in UNUSED}
    placeholders = {n: m for n, m in placeholders.items() if n not in sys.modules}
    sys.modules.update(placeholders)
    try:
        import typer.rich_utils  # noqa: F401 - imported for the help Typer prints next
    finally:
        for name, module in placeholders.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def _placeholder(name: str, attribute: str) -> types.ModuleType:
    """A module whose ``attribute`` is a class that refuses to be used."""

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError(f"{name}.{attribute} is not loaded for help")

    module = types.ModuleType(name)
    setattr(module, attribute, type(attribute, (), {"__new__": refuse, "__init__": refuse}))
    return module
