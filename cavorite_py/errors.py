"""The errors of cavorite-py.

Every expected failure is a ``CavoriteError``; anything else is a bug. The tree::

    CavoriteError                 exit 1: a file or an object could not be handled
    ├── UsageError                exit 2: bad arguments
    ├── ConfigError               exit 2: missing or broken .cavorite/config, unknown store
    │   └── ConsentError          exit 2: a plugin, endpoint or directory the user has not approved
    ├── PathError                 exit 2: a path the command refuses (outside the repository...)
    ├── MetadataError             a cfile that cannot be trusted (malformed, hostile name)
    ├── IntegrityError            downloaded bytes whose sha256 differs from the cfile
    ├── ConflictError             local or stored content differs; needs --force
    ├── FileChangedError          a file changed while it was being uploaded
    ├── DiskFull                  a file system cannot hold what a run writes
    └── StoreError                a store failed to move bytes
        ├── ObjectNotFound        the key is not in the store
        ├── ObjectExists          the key is present and overwrite was not asked for
        ├── ObjectChanged         the object is no longer the version a delete was asked for
        ├── AccessDenied          credentials missing or refused
        ├── StoreUnavailable      endpoint unreachable, bucket or container missing
        │   └── StoreDown         no request can succeed (StoreUnreachable: no connection)
        └── PluginError           an executable plugin crashed, hung or broke the protocol

Messages are one line, say what is wrong and what to do, and never contain credentials.
"""

from __future__ import annotations


class CavoriteError(Exception):
    """Root of every expected failure."""

    exit_code: int = 1
    stops_run: bool = False
    """every file of a run not yet started would fail the same way (:class:`NotAttempted`)"""


class UsageError(CavoriteError):
    """The command line asks for something impossible."""

    exit_code = 2


class ConfigError(CavoriteError):
    """The repository's configuration is missing, malformed or names an unknown store."""

    exit_code = 2


class ConsentError(ConfigError):
    """The configuration would run a program, or send credentials or bytes to a place, that
    the user has not approved."""


class PathError(CavoriteError):
    """A path the command refuses to handle."""

    exit_code = 2


class MetadataError(CavoriteError):
    """A metadata file (cfile) that is malformed or cannot be trusted."""


class IntegrityError(CavoriteError):
    """Downloaded content whose sha256 differs from the one recorded in the cfile."""


class ConflictError(CavoriteError):
    """Local or stored content differs from what the command expects; ``--force`` overrides."""


class FileChangedError(CavoriteError):
    """A file changed while it was being uploaded."""


class DiskFull(CavoriteError):
    """A file system is full (or over its quota), or cannot hold a download about to start:
    the files of the run not yet started are not attempted."""

    stops_run = True


class StoreError(CavoriteError):
    """A store failed to move bytes."""


class ObjectNotFound(StoreError):
    """The key is not in the store."""


class ObjectExists(StoreError):
    """The key is already in the store and overwrite was not asked for."""


class AccessDenied(StoreError):
    """Credentials are missing or were refused."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, or its bucket or container does not exist."""


class StoreDown(StoreUnavailable):
    """No request can succeed: no connection to the store could be made at all (refused, no
    such host, connect timeout), or its bucket or container does not exist. The engine then
    leaves the files of the run not yet started (:class:`NotAttempted`)."""

    stops_run = True


class StoreUnreachable(StoreDown):
    """No connection to the store could be made at all (refused, no such host, connect
    timeout): offline, as far as cavorite can tell. Upload then keeps the files for a later
    ``cavorite push``."""


class NotAttempted(CavoriteError):
    """A file left alone because the run stopped: the store went down (:class:`StoreDown`) or
    the disk filled up (:class:`DiskFull`), and every file would have failed the same way.
    ``reason`` is the error that stopped the run."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: not attempted: {reason}")
        self.reason = reason


class PluginError(StoreError):
    """An executable store plugin crashed, hung, or broke the protocol."""


class ObjectChanged(StoreError):
    """The object was written again (or is gone) since the version a delete named."""


class ParentOnly(CavoriteError):
    """What a child process forked by a run cannot do (the parent does the file)."""
