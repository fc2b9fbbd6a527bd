"""Bounded parallel map: at most a few items in flight, whatever the number of items."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")

_END = object()
"""tells a worker that no item follows"""


class _Outcome(Generic[R]):
    """What one call of ``fn`` returned, or raised."""

    __slots__ = ("error", "value")

    def __init__(self, value: R | None, error: BaseException | None) -> None:
        self.value, self.error = value, error

    def get(self) -> R:
        if self.error is not None:
            raise self.error
        return cast(R, self.value)


def bounded_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    jobs: int,
    on_stop: Callable[[], None] | None = None,
) -> Iterator[R]:
    """Yield ``fn(item)`` for every item, in completion order, running ``jobs`` at once.

    At most ``2 * jobs`` items are handed out ahead, so 100,000 items never wait in memory at
    once. ``fn`` should report its own failures in its result; an exception it raises stops the
    run and is re-raised here after the workers are told to stop. When the run stops early (an
    exception, Ctrl-C), ``on_stop`` is called first, so that running ``fn`` calls can give up
    instead of finishing their work; items handed out but not started are dropped.

    Each worker takes items from one queue and puts results on another: no future per item,
    and no wait that locks every item in flight (for thousands of small files, that hand-off
    cost more than the work of each).
    """
    if jobs <= 1:
        yield from map(fn, items)
        return
    pool = _Workers(fn, jobs)
    pending = 0
    try:
        for item in items:
            if pending >= 2 * jobs:
                pending -= 1
                yield pool.next()
            pool.give(item)
            pending += 1
        for _ in range(pending):
            yield pool.next()
    except BaseException:
        pool.stopped.set()
        if on_stop is not None:
            on_stop()
        raise
    finally:
        pool.close()


class _Workers(Generic[T, R]):
    """``jobs`` threads calling ``fn`` on the items given, one queue in, one queue out."""

    def __init__(self, fn: Callable[[T], R], jobs: int) -> None:
        self._fn = fn
        self._todo: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[_Outcome[R]] = queue.SimpleQueue()
        self.stopped = threading.Event()
        """set: the items not started are dropped"""
        # not daemons: like the first Ctrl-C, the interpreter's exit waits for the file each
        # worker is writing
        self._threads = [
            threading.Thread(target=self._work, name=f"cavorite_{i}") for i in range(jobs)
        ]
        for thread in self._threads:
            thread.start()

    def give(self, item: T) -> None:
        self._todo.put(item)

    def next(self) -> R:
        """The next result to come (in completion order), or the exception ``fn`` raised."""
        return self._done.get().get()

    def close(self) -> None:
        """Let every worker finish its item, then end."""
        for _ in self._threads:
            self._todo.put(_END)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while (item := self._todo.get()) is not _END:
            if self.stopped.is_set():
                continue
            try:
                self._done.put(_Outcome(self._fn(cast(T, item)), None))
            except BaseException as exc:
                # handed to the caller, which raises it
                self._done.put(_Outcome(None, exc))
