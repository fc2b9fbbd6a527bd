"""Bounded parallel map: at most a few items in flight, whatever the number of items; and a
map over child processes, for work that holds the interpreter lock most of the time."""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, NoReturn, TypeVar, cast

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


def cores() -> int:
    """The cores this process may run on (its CPU affinity, where the platform has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


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


SEND_EVERY = 64
"""results a child process gathers before it sends them (one write per batch)"""

_forking = False
"""whether this process may fork workers: only the ``cavorite`` command's (see
:func:`allow_forking`)"""


def allow_forking() -> None:
    """Let this process share work with forked children: called by the ``cavorite`` command,
    never by the library, so that a program which imports it (a server, a notebook, a test
    runner) is never forked behind its back."""
    global _forking
    _forking = True


def forking_allowed() -> bool:
    return _forking and hasattr(os, "fork")


def forked_map(
    fn: Callable[[T], R | None],
    items: Sequence[T],
    procs: int,
    on_result: Callable[[int, R], None],
    prepare: Callable[[Sequence[T]], None],
    stop: Callable[[], None],
) -> set[int]:
    """``fn`` over ``items`` in ``procs`` child processes forked from this one, each taking a
    contiguous share (files of the same directories); return the indices of the items no child
    did, for the caller to do itself: those ``fn`` returned None for (it failed, or needs what
    a child must not touch), and every item of a child that could not start or ended early.

    Only for a caller with no other thread (checked here: a fork copies no thread, and a lock
    another thread held would stay locked in the child). Each child calls ``prepare`` with its
    share of the items first (to put away what it must not use, such as the parent's SQLite
    connection, and to look at its share as a whole), sends each result
    ``fn`` returns (picklable) to the parent, which calls ``on_result`` with it as it arrives,
    and ends with ``os._exit``: no ``atexit`` handler, no finaliser and no buffer of the
    parent's is run or flushed twice. Ctrl-C: a child calls ``stop`` (the item in flight ends
    at its next chunk, as a worker thread's does) and takes no further item; the parent tells
    every child to stop, waits for them, and raises.
    """
    # (imported here: every run imports this module, few fork; pickle before the fork, so
    # that the children find it loaded)
    import pickle  # noqa: F401
    import signal

    if threading.active_count() != 1:
        raise RuntimeError("forked_map needs a process with one thread")
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            # nothing of the parent's left in a buffer the children copy
            stream.flush()
    children: dict[int, int] = {}
    done: set[int] = set()
    try:
        for k in range(procs):
            share = range(k * len(items) // procs, (k + 1) * len(items) // procs)
            # Ctrl-C waits while a child is made and noted: a child must not take it before
            # its own handler is in place (it would run this process's code), nor this
            # process lose a child it made
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                started = _fork(functools.partial(_child, fn, items, share, prepare, stop))
                if started is not None:
                    children[started[0]] = started[1]
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            if started is None:
                # no more processes (or descriptors): the rest is the caller's
                break
        _gather(list(children.values()), done, on_result)
    except BaseException:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        raise
    finally:
        for pid, readable in children.items():
            os.close(readable)
            os.waitpid(pid, 0)
    return set(range(len(items))) - done


def _fork(work: Callable[[int], NoReturn]) -> tuple[int, int] | None:
    """A child process running ``work`` on the write end of a pipe (it never returns): its pid
    and the read end; None if it cannot start."""
    try:
        readable, writable = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(readable)
        os.close(writable)
        return None
    if pid == 0:
        os.close(readable)
        work(writable)
    # (the next child must not hold this write end: the parent would never see it end)
    os.close(writable)
    return pid, readable


_LENGTH = struct.Struct("<Q")
"""the length of the pickled message it precedes on a child's pipe"""

_READ = 1 << 20
"""the most read from a child's pipe at once"""


def _send(fd: int, message: object) -> None:
    """Write ``message``, pickled and preceded by its length, on the pipe ``fd``."""
    import pickle

    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _gather(readable: list[int], done: set[int], on_result: Callable[[int, R], None]) -> None:
    """Each batch of results the children send, handed to ``on_result`` as it arrives, until
    every child has closed its pipe (a message cut short at the end: the child died while
    sending it, and what it held is the caller's to do)."""
    import pickle
    import select

    poll = select.poll()
    pending = {fd: bytearray() for fd in readable}
    for fd in pending:
        poll.register(fd, select.POLLIN)
    while pending:
        for fd, _ in poll.poll():
            buf = pending[fd]
            batches = []
            try:
                chunk = os.read(fd, _READ)
                buf += chunk
                while len(buf) >= _LENGTH.size:
                    (length,) = _LENGTH.unpack_from(buf)
                    end = _LENGTH.size + length
                    if len(buf) < end:
                        break
                    batches.append(pickle.loads(buf[_LENGTH.size : end]))
                    del buf[:end]
            except (EOFError, OSError, pickle.UnpicklingError):
                # (a message that cannot be read: taken for the child's end)
                chunk = b""
            for batch in batches:
                for i, result in batch:
                    done.add(i)
                    on_result(i, result)
            if not chunk:
                poll.unregister(fd)
                del pending[fd]


def _child(
    fn: Callable[[T], R | None],
    items: Sequence[T],
    share: range,
    prepare: Callable[[Sequence[T]], None],
    stop: Callable[[], None],
    fd: int,
) -> NoReturn:
    """One child of :func:`forked_map`: the items of ``share``, results sent on ``fd``. It
    starts with SIGINT blocked (see :func:`forked_map`), and lets it in once its handler is
    in place."""
    status = 1
    stopped = False

    def interrupted(signum: int, frame: object) -> None:
        # the parent passes each Ctrl-C on, so a second may come while the first is handled:
        # only the first stops the run (``stop`` takes a lock, which the second would wait for
        # forever, held by the code it interrupted)
        nonlocal stopped
        if not stopped:
            stopped = True
            stop()

    try:
        import signal

        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            # (ignored, as in a background job, it stays ignored, as in the parent)
            signal.signal(signal.SIGINT, interrupted)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        prepare(items[share.start : share.stop])
        gathered: list[tuple[int, R]] = []
        for i in share:
            if stopped:
                break
            result = fn(items[i])
            if result is not None:
                gathered.append((i, result))
            if len(gathered) >= SEND_EVERY:
                _send(fd, gathered)
                gathered = []
        _send(fd, gathered)
        status = 0
    except BaseException:
        # what was not sent is the parent's to do
        status = 1
    finally:
        os._exit(status)
