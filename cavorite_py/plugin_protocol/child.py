"""One plugin child process: start it, write lines to it, read lines from it with a timeout,
log its stderr, and stop it for sure.

Two daemon threads read the child's stdout (into a queue, so that a read can time out) and its
stderr (into the ``cavorite_py.plugin`` log, keeping the last lines for error messages). On POSIX
the child leads its own process group: a Ctrl-C in the terminal reaches only cavorite, which then
stops the child and anything it started, by group.

A plugin starts with ``PYTHONSAFEPATH=1`` in its environment: a Python plugin (3.11 or later)
then imports nothing from its own directory, so the file the user allowed (and pinned) is all
of the repository's code it runs; a module planted beside it later is not imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

log = logging.getLogger("cavorite_py.plugin")

MAX_LINE = 32 * 1024 * 1024
"""The longest line a plugin may send; a longer one is a protocol violation."""

_STDERR_TAIL = 20
ISOLATION = {"PYTHONSAFEPATH": "1"}
"""Added to a plugin's environment: Python puts no script directory on ``sys.path``."""
_POSIX = os.name == "posix"


class Eof:
    """The child closed its stdout."""


class Overlong:
    """The child sent a line longer than :data:`MAX_LINE`."""


EOF = Eof()
OVERLONG = Overlong()
Received = bytes | Eof | Overlong


class Child:
    """A running plugin process. ``label`` names it in log lines."""

    def __init__(self, argv: Sequence[str], cwd: Path, label: str) -> None:
        self.label = label
        self._lines: queue.Queue[Received] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=_STDERR_TAIL)
        self._stop_lock = threading.Lock()
        self.process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **ISOLATION},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            process_group=0,  # ignored on Windows
        )
        self._threads = [
            _start_thread(self._read_stdout, f"plugin-stdout-{self.process.pid}"),
            _start_thread(self._read_stderr, f"plugin-stderr-{self.process.pid}"),
        ]

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, line: bytes) -> None:
        """Write one line; raises ``OSError`` (``BrokenPipeError``) if the child is gone."""
        stdin = _stream(self.process.stdin)
        stdin.write(line)
        stdin.flush()

    def receive(self, timeout: float) -> Received:
        """The next line from the child; raises ``queue.Empty`` after ``timeout`` seconds."""
        return self._lines.get(timeout=timeout)

    def exit_code(self, wait: float) -> int | None:
        """The child's exit status once it has ended, waiting at most ``wait`` seconds."""
        try:
            return self.process.wait(wait)
        except subprocess.TimeoutExpired:
            return None

    def stderr_tail(self, count: int, wait: float = 1.0) -> list[str]:
        """The last lines the child wrote to stderr (after a moment to let them arrive)."""
        self._threads[1].join(wait)
        return list(self._stderr)[-count:]

    def stop(self, grace: float) -> None:
        """End the child for sure: close its stdin and give it ``grace`` seconds to exit, then
        SIGTERM, then SIGKILL, its whole process group. Reaps it. Safe to call from any thread,
        more than once."""
        with self._stop_lock:
            with contextlib.suppress(OSError, ValueError):
                _stream(self.process.stdin).close()
            if self.exit_code(grace) is None:
                self._signal(hard=False)
                if self.exit_code(min(grace, 2.0)) is None:
                    self._signal(hard=True)
                    self.process.wait()
            self._signal(hard=True)  # whatever it left behind in its group
            for thread, stream in zip(
                self._threads, (self.process.stdout, self.process.stderr), strict=True
            ):
                thread.join(1.0)
                if not thread.is_alive():  # else a process outside the group holds the pipe,
                    with contextlib.suppress(OSError, ValueError):  # and close() would block
                        _stream(stream).close()

    def _signal(self, hard: bool) -> None:
        """SIGKILL (``hard``) or SIGTERM to the child's process group; kill or terminate the child
        alone where there are no process groups."""
        with contextlib.suppress(OSError):
            if _POSIX:
                os.killpg(self.process.pid, signal.SIGKILL if hard else signal.SIGTERM)
            elif self.process.returncode is None:
                (self.process.kill if hard else self.process.terminate)()

    def _read_stdout(self) -> None:
        stdout = _stream(self.process.stdout)
        try:
            while line := stdout.readline(MAX_LINE):
                if len(line) >= MAX_LINE and not line.endswith(b"\n"):
                    self._lines.put(OVERLONG)
                    return
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(EOF)

    def _read_stderr(self) -> None:
        stderr = _stream(self.process.stderr)
        with contextlib.suppress(OSError, ValueError):
            for raw in stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    self._stderr.append(line)
                    log.info("%s: %s", self.label, line)


def _start_thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _stream(stream: IO[bytes] | None) -> IO[bytes]:
    assert stream is not None, "the child's pipes are opened by Child.__init__"
    return stream
