"""Cavorite (Go)'s executable plugins: told apart from ours, and refused with what to do instead.

The Go tool starts its plugins with hashicorp go-plugin and speaks gRPC to them, a protocol
cavorite-py does not speak. Such a program shows itself in one of two ways:

- started without go-plugin's magic cookie in its environment (as we start every plugin), it
  exits at once, having written go-plugin's fixed notice to stderr;
- started with the cookie (a user's environment may carry it), it writes go-plugin's handshake
  line ``CORE-VERSION|APP-VERSION|NETWORK|ADDRESS|PROTOCOL`` on stdout, such as
  ``1|1|tcp|127.0.0.1:10000|grpc``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_NOTICE = "This binary is a plugin. These are not meant to be executed directly."
_HANDSHAKE = re.compile(rb"\d+\|\d+\|(?:tcp|unix)\|[^|\s]+\|(?:grpc|netrpc)(?:\|\S*)?\s*")


def is_handshake(line: bytes) -> bool:
    """Whether ``line`` (from the plugin's stdout) is go-plugin's handshake line."""
    return _HANDSHAKE.fullmatch(line) is not None


def refused_to_run(stderr: Iterable[str]) -> bool:
    """Whether the plugin's last stderr lines hold go-plugin's notice to a program that started
    it without the magic cookie."""
    return any(_NOTICE in line for line in stderr)


def unsupported(executable: Path) -> str:
    return (
        f"plugin {executable} is a Cavorite (Go) plugin (hashicorp go-plugin over gRPC), which "
        "cavorite-py does not run; for the Go localstore plugin, set store_type to "
        '"localstore" and keep backend_address (it reads that directory unchanged); port any '
        "other plugin to cavorite-py's plugin protocol or a Python entry point (docs/plugins.md)"
    )
