"""Bounded parallel map: at most a few futures in flight, whatever the number of items."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    jobs: int,
    on_stop: Callable[[], None] | None = None,
) -> Iterator[R]:
    """Yield ``fn(item)`` for every item, in completion order, running ``jobs`` at once.

    At most ``2 * jobs`` items are submitted ahead, so 100,000 items never become 100,000
    futures. ``fn`` should report its own failures in its result; an exception it raises
    stops the run and is re-raised here after the workers are told to stop. When the run stops
    early (an exception, Ctrl-C), ``on_stop`` is called first, so that running ``fn`` calls can
    give up instead of finishing their work.
    """
    if jobs <= 1:
        yield from map(fn, items)
        return
    limit = 2 * jobs
    pending: set[Future[R]] = set()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="cavorite")
    try:
        for item in items:
            if len(pending) >= limit:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
            pending.add(pool.submit(fn, item))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    except BaseException:
        if on_stop is not None:
            on_stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
