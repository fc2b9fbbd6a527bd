"""The user's cache directory for cavorite: ``$XDG_CACHE_HOME/cavorite`` (an absolute
``XDG_CACHE_HOME`` only), else ``~/.cache/cavorite``. The content cache lives there by default
(:mod:`.cachesettings`, which lets the user move it); the start-up caches, which hold nothing
but what cavorite can make again, always do: ``help/`` (:mod:`.cli.helpcache`) and
``botocore/`` (:mod:`.stores._s3_models`).

Standard library only, and only ``os``: the help cache reads it before anything else loads.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Mapping


def base(env: Mapping[str, str] = os.environ) -> str:
    """The directory, as a string (whether it exists or not)."""
    xdg = env.get("XDG_CACHE_HOME", "")
    root = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "cavorite")


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, renamed over
    it: a reader sees the old file or the new one, never a part. The directories missing on
    the way are made private (0700). Raises OSError."""
    folder = os.path.dirname(path)
    missing = []
    while not os.path.isdir(folder) and folder != os.path.dirname(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    for made in reversed(missing):
        os.makedirs(made, mode=0o700, exist_ok=True)
    temporary = f"{path}.{os.urandom(6).hex()}.tmp"
    try:
        with open(temporary, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: str) -> None:
    import contextlib

    with contextlib.suppress(OSError):
        os.unlink(path)
