"""What ``-v`` adds for a bug report, without secrets: which store, which key, the chain of
causes, how long each store call took. ``-vv`` adds every store call, and cavorite's other
debug messages.

Messages of cavorite's own errors are printed (they never hold credentials); of any other
exception only its type, and an ``OSError``'s errno: an SDK's text may quote request headers.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from .errors import CavoriteError
from .stores.base import Store

log = logging.getLogger(__name__)

CALLS = frozenset({"put", "get", "stat", "list", "list_info", "delete"})
"""the Store methods whose calls are logged"""


def cause_chain(exc: BaseException) -> str:
    """``exc``'s causes, outermost first, each shown without anything an SDK wrote."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 8:
        parts.append(_shown(seen))
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return " <- ".join(parts)


def _shown(exc: BaseException) -> str:
    kind = type(exc)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    if isinstance(exc, CavoriteError):
        return f"{name}: {exc}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{name} [errno {exc.errno}]"
    return name


def logged(store: Store) -> Store:
    """``store`` itself, or when ``-v`` is given, the store with its calls logged."""
    if not log.isEnabledFor(logging.INFO):
        return store
    return cast(Store, LoggedStore(store))


class LoggedStore:
    """A store whose failed calls are logged (``-v``) with the store, the key, the time taken
    and the cause chain; with ``-vv``, every call. Anything else is the store's own."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._name: str | None = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        return self._wrap(name, attr) if name in CALLS else attr

    def _describe(self) -> str:
        if self._name is None:
            self._name = self._store.describe()
        return self._name

    def _wrap(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(call)
        def timed(*args: Any, **kwargs: Any) -> Any:
            key = args[0] if args else kwargs.get("key", kwargs.get("prefix", ""))
            start = time.monotonic()
            try:
                result = call(*args, **kwargs)
            except BaseException as exc:
                took = time.monotonic() - start
                log.info(
                    "store %s: %s %r failed after %.3f s: %s",
                    self._describe(),
                    name,
                    key,
                    took,
                    cause_chain(exc),
                )
                raise
            took = time.monotonic() - start
            log.debug("store %s: %s %r took %.3f s", self._describe(), name, key, took)
            return result

        return timed
