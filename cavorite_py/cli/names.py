"""The commands of the application and the module of :mod:`cavorite_py.cli` that adds each,
without importing Typer (the help cache reads it before anything else loads)."""

from __future__ import annotations

COMMAND_MODULES = {
    "init": "init",
    "upload": "transfer",
    "retrieve": "transfer",
    "push": "transfer",
    "untrack": "transfer",
    "status": "inspect",
    "verify": "inspect",
    "check": "hook",
    "install-hook": "hook",
    "post-checkout": "hook",
    "post-merge": "hook",
    "prune": "prune",
    "cache": "cache",
    "stores": "stores",
    "allow-endpoint": "endpoints",
    "allow-plugin": "plugins",
}
"""the module of :mod:`cavorite_py.cli` that adds each command (and its subcommands)"""
