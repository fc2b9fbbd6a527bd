"""The executable store plugin protocol, version 1: JSON lines over a child's stdin and stdout.

``messages`` encodes and checks the lines, ``child`` runs the process, ``session`` holds the
conversation. :class:`cavorite_py.stores.plugin.PluginStore` puts them behind the Store contract.
The protocol is documented for plugin authors in ``docs/plugins.md``.
"""

from .messages import CLIENT_OPTIONS, ERROR_TYPES, PROTOCOL_VERSION
from .session import Session

__all__ = ["CLIENT_OPTIONS", "ERROR_TYPES", "PROTOCOL_VERSION", "Session"]
