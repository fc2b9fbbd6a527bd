"""Object keys: how a repository path becomes the key its content is stored under.

Two schemes, chosen by the ``key_scheme`` option of ``.cavorite/config``:

* ``path``: the Go tool's layout, ``[prefix/]path``. One key per path, so new content of a path
  would have to replace the object older commits point at (refused unless ``--force``). A
  configuration without ``key_scheme`` means this scheme.
* ``versioned``: ``[prefix/]path@<sha256>``, one key per content of a path, never reused for
  other content. Someone browsing the store finds every version of ``assets/logo.png`` beside
  each other in ``assets/``, as ``logo.png@9f86d0...``.

A versioned key ends in ``@`` and 64 lowercase hex digits; a file so named is refused in the
versioned scheme, so its keys never collide with each other. The path scheme builds keys exactly
as the Go tool does (any name, no length limit of its own): a path key could only collide with a
versioned one for a file literally named after the sha256 of another file's content at its own
path. A versioned key adds no directory level, so no key has to be both a file and a directory on
file-system-like stores. It must fit S3's limit of 1,024 bytes (UTF-8); a longer one is refused
at upload, naming the limit.

Retrieve never derives a key: the cfile's ``name`` is the key, whatever scheme wrote it, so a
repository that changes scheme keeps every old cfile working.
"""

from __future__ import annotations

import re
from enum import StrEnum

from .errors import PathError

MAX_KEY_BYTES = 1024
"""the longest key S3 accepts, in UTF-8 bytes; the limit of every scheme here"""

SEPARATOR = "@"
_VERSIONED = re.compile(r"^(?P<path>.+)@(?P<sha256>[0-9a-f]{64})$")


class KeyScheme(StrEnum):
    PATH = "path"
    VERSIONED = "versioned"


def object_key(scheme: KeyScheme, prefix: str, relative: str, sha256: str) -> str:
    """The key for the content ``sha256`` of the repository path ``relative`` (POSIX)."""
    if _VERSIONED.match(relative.rsplit("/", 1)[-1]):
        raise PathError(
            f"{relative}: a name ending in '@' and a sha256 is reserved for versioned object "
            "keys; rename the file"
        )
    path = f"{prefix}/{relative}" if prefix else relative
    key = path if scheme is KeyScheme.PATH else f"{path}{SEPARATOR}{sha256}"
    size = len(key.encode("utf-8", "surrogateescape"))
    if size > MAX_KEY_BYTES:
        raise PathError(
            f"{relative}: its object key would be {size} bytes, over the {MAX_KEY_BYTES} that "
            "object stores accept; shorten the path (or the object_key_prefix)"
        )
    return key


def split_versioned(key: str) -> tuple[str, str] | None:
    """``(path, sha256)`` of a versioned key (the path with any prefix), or None for another key."""
    match = _VERSIONED.match(key)
    return None if match is None else (match["path"], match["sha256"])
