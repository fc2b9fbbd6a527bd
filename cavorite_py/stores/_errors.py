"""The errors every cloud store raises, worded once.

Each store translates its SDK's exceptions at its boundary and builds the resulting
:mod:`cavorite_py.errors` value here, so that the same failure reads the same on every backend:
one line, what is wrong, what to do. Nothing here ever formats an SDK exception or a URL given
by the SDK, since those may carry credentials (SAS tokens, signed URLs).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import TypeVar

from ..errors import (
    AccessDenied,
    ObjectChanged,
    ObjectExists,
    ObjectNotFound,
    StoreDown,
    StoreError,
    StoreUnavailable,
    StoreUnreachable,
)

E = TypeVar("E", bound=BaseException)


def not_found(key: str, where: str) -> ObjectNotFound:
    return ObjectNotFound(f"object {key!r} is not in {where}")


def exists(key: str, where: str) -> ObjectExists:
    return ObjectExists(f"object {key!r} already exists in {where}; pass --force to replace it")


def for_delete(error: StoreError, key: str, where: str) -> StoreError:
    """A conditional delete's failed precondition (translated as for a put, ``ObjectExists``)
    is :class:`ObjectChanged`: the object was written again since its version was read."""
    if isinstance(error, ObjectExists):
        return ObjectChanged(f"object {key!r} in {where} was written again; not deleted")
    return error


def missing_bucket(what: str, name: str, where: str) -> StoreDown:
    return StoreDown(
        f"{what} {name!r} does not exist ({where}); create it, or fix backend_address in "
        ".cavorite/config"
    )


def unreachable(where: str, reason: str, down: bool) -> StoreUnavailable:
    """The network failed a request: :class:`StoreDown` if ``down`` (no connection could be made
    at all, so every request would fail), else a failure of this request only (a reset, a read
    timeout), which other files of the run need not share."""
    kind = StoreUnreachable if down else StoreUnavailable
    return kind(f"cannot reach {where} ({reason}); check backend_address and the network")


def no_connection(exc: BaseException) -> bool:
    """Whether ``exc`` came of failing to connect (refused, no such host, connect timeout), as
    urllib3, under boto3 and requests, tells it."""
    kinds: tuple[type[BaseException], ...] = (socket.gaierror, ConnectionRefusedError)
    # urllib3 comes with the S3, GCS and Azure SDKs, not with fsspec's extra (which never calls
    # this): imported here, so that the fsspec store loads without it
    try:
        from urllib3.exceptions import ConnectTimeoutError
    except ModuleNotFoundError:
        pass
    else:
        kinds = (*kinds, ConnectTimeoutError)
    return find_cause(exc, kinds) is not None


def no_credentials(where: str, fix: str) -> AccessDenied:
    return AccessDenied(f"no credentials found for {where}; {fix}")


def denied(where: str, code: str, fix: str) -> AccessDenied:
    return AccessDenied(f"access to {where} was refused ({code}); {fix}")


def find_cause(exc: BaseException, kind: type[E] | tuple[type[E], ...]) -> E | None:
    """The first exception of type ``kind`` in ``exc``'s chain of causes, ``exc`` included."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class BucketProbe:
    """Tells a missing object from a missing bucket after a 404, asking the service at most
    until the bucket has been seen once (then every later 404 is about the object).

    Thread-safe, and asks once for all the 404s of files sent at once: the others wait for its
    answer (one HeadBucket per run, not one per file in flight).
    """

    def __init__(self, exists: Callable[[], bool]) -> None:
        self._exists = exists
        self._seen = False
        self._asking = threading.Lock()

    def bucket_exists(self) -> bool:
        if self._seen:
            return True
        with self._asking:
            if not self._seen:
                self._seen = self._exists()
        return self._seen
