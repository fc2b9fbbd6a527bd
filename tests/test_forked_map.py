"""``forked_map``: items shared between child processes, each result handed to the parent; what
no child did (it failed, or its child ended early) is left to the caller."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Sequence

import pytest

from cavorite_py.parallel import forked_map

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def nothing(*args: object) -> None:
    pass


def alone(case: Callable[[], None]) -> None:
    """Run ``case`` in a new interpreter of its own: ``forked_map`` needs a process with one
    thread, and a test worker's may have others (started by other tests' fixtures)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(case)


def test_every_result_reaches_the_parent_from_the_children() -> None:
    alone(_every_result_reaches_the_parent_from_the_children)


def _every_result_reaches_the_parent_from_the_children() -> None:
    got: dict[int, tuple[int, int]] = {}
    left = forked_map(
        lambda n: (n * n, os.getpid()), range(200), 3, got.__setitem__, nothing, nothing
    )
    assert left == set()
    assert {i: square for i, (square, _) in got.items()} == {i: i * i for i in range(200)}
    pids = {pid for _, pid in got.values()}
    assert len(pids) == 3
    assert os.getpid() not in pids


def test_failed_items_and_those_of_a_child_that_died_are_left() -> None:
    alone(_failed_items_and_those_of_a_child_that_died_are_left)


def _failed_items_and_those_of_a_child_that_died_are_left() -> None:
    def work(n: int) -> int | None:
        if n == 150:
            # this child ends here: what it had not sent, and the rest of its share, is left
            os._exit(3)
        # None: failed (the caller does it again)
        return None if n % 10 == 7 else n

    got: dict[int, int] = {}
    left = forked_map(work, range(200), 2, got.__setitem__, nothing, nothing)
    assert {i for i in range(100) if i % 10 == 7} | set(range(150, 200)) <= left
    assert left | set(got) == set(range(200))
    assert not left & set(got)
    assert all(got[i] == i for i in got)
    assert set(range(100)) - left == set(got) & set(range(100))


def test_results_larger_than_a_pipe_holds_arrive_whole() -> None:
    alone(_results_larger_than_a_pipe_holds_arrive_whole)


def _results_larger_than_a_pipe_holds_arrive_whole() -> None:
    # each a few MiB: a message takes many writes on the child's side and many reads here
    def work(n: int) -> bytes:
        return bytes([n]) * ((3 << 20) + n)

    got: dict[int, bytes] = {}
    left = forked_map(work, range(6), 2, got.__setitem__, nothing, nothing)
    assert left == set()
    assert got == {n: work(n) for n in range(6)}


def test_a_message_cut_short_leaves_its_items_to_the_caller() -> None:
    alone(_a_message_cut_short_leaves_its_items_to_the_caller)


def _a_message_cut_short_leaves_its_items_to_the_caller() -> None:
    from cavorite_py import parallel

    whole = parallel._send

    def dies_while_sending(fd: int, message: list[tuple[int, int]]) -> None:
        if any(i == 150 for i, _ in message):
            # the length and half the message, then the child is gone
            data = pickle.dumps(message)
            os.write(fd, parallel._LENGTH.pack(len(data)) + data[: len(data) // 2])
            os._exit(1)
        whole(fd, message)

    parallel._send = dies_while_sending  # type: ignore[assignment]
    got: dict[int, int] = {}
    left = forked_map(lambda n: n, range(200), 2, got.__setitem__, nothing, nothing)
    # the first child's share arrives; the second's batch holding 150 is lost, and what follows
    cut = {i for i in range(100, 200) if i not in got}
    assert set(range(100)) <= set(got)
    assert 150 in cut and cut == left
    assert all(got[i] == i for i in got)


def test_prepare_runs_in_each_child_only_with_its_share() -> None:
    alone(_prepare_runs_in_each_child_only_with_its_share)


def _prepare_runs_in_each_child_only_with_its_share() -> None:
    seen: list[int] = []
    shares: list[tuple[int, ...]] = []
    pid = os.getpid()

    def prepare(share: Sequence[int]) -> None:
        seen.append(os.getpid())
        shares.append(tuple(share))

    def work(n: int) -> tuple[bool, tuple[int, ...]]:
        return seen == [os.getpid()] and seen[0] != pid, shares[0]

    got: dict[int, tuple[bool, tuple[int, ...]]] = {}
    forked_map(work, range(10), 2, got.__setitem__, prepare, nothing)
    assert seen == []
    assert [in_child for in_child, _ in got.values()] == [True] * 10
    # each child prepared once, with the contiguous share it then did
    assert {share for _, share in got.values()} == {(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)}
    assert all(i in got[i][1] for i in range(10))


def test_refused_while_another_thread_runs() -> None:
    alone(_refused_while_another_thread_runs)


def _refused_while_another_thread_runs() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        with pytest.raises(RuntimeError, match="one thread"):
            forked_map(lambda n: n, range(3), 2, lambda i, r: None, nothing, nothing)
    finally:
        release.set()
        other.join()


def test_a_second_ctrl_c_while_a_child_handles_the_first_stops_it_once() -> None:
    alone(_a_second_ctrl_c_while_a_child_handles_the_first_stops_it_once)


def _a_second_ctrl_c_while_a_child_handles_the_first_stops_it_once() -> None:
    """The parent passes each Ctrl-C on to its children, which got the terminal's already: the
    second comes while the first is handled. ``stop`` then runs once (a second call, made from
    inside the first, would wait forever for a lock the first holds)."""
    # as in a terminal's job (in a background job's children SIGINT is ignored, and stays so)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    calls: list[int] = []

    def stop() -> None:
        calls.append(1)
        if len(calls) == 1:
            # the second Ctrl-C, handled here, inside the first one's handling
            os.kill(os.getpid(), signal.SIGINT)
            wait_a_moment()

    def work(n: int) -> int:
        os.kill(os.getpid(), signal.SIGINT)
        wait_a_moment()
        return len(calls)

    got: dict[int, int] = {}
    left = forked_map(work, range(20), 2, got.__setitem__, nothing, stop)
    # each child did its first item, saw stop called once, and took no other
    assert got == {0: 1, 10: 1}
    assert left == set(range(20)) - {0, 10}


def wait_a_moment() -> None:
    """Run Python code for a while (a signal's handler runs between bytecodes)."""
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:
        pass


def test_a_child_ignores_ctrl_c_where_its_parent_does() -> None:
    alone(_a_child_ignores_ctrl_c_where_its_parent_does)


def _a_child_ignores_ctrl_c_where_its_parent_does() -> None:
    """A background job ignores SIGINT: its children go on as it does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def work(n: int) -> int:
        os.kill(os.getpid(), signal.SIGINT)
        wait_a_moment()
        return n

    got: dict[int, int] = {}
    left = forked_map(work, range(6), 2, got.__setitem__, nothing, nothing)
    assert (left, got) == (set(), {n: n for n in range(6)})
