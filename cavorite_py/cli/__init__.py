"""The command-line layer: parse, call the engine through :class:`~cavorite_py.Repo`, render.

Exit codes: 0 success; 1 at least one file failed; 2 usage or configuration error; 3 internal
error (a bug: please report it); 130 interrupted.
"""

from __future__ import annotations

from . import endpoints, hook, init, inspect, plugins, stores, transfer  # noqa: F401 - modules add commands
from .app import app, run

plugins.register(app)

__all__ = ["app", "run"]
