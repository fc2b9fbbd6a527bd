"""Start the slowed-down command (``slowcli.py``) in the background, wait for a moment of its
transfer, and stop it: the helpers of the interruption and concurrency tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.fixtures.repos import CliResult

SLOWCLI = Path(__file__).with_name("slowcli.py")


class Running:
    """One background run of the slowed-down command."""

    def __init__(self, args: list[str], cwd: Path, env: Mapping[str, str], log: Path) -> None:
        self.out = log.with_suffix(".out")
        self.err = log.with_suffix(".err")
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(SLOWCLI), *args],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                # a process group of its own, as a terminal's job: Ctrl-C reaches every process
                # of the run (see ``os.killpg``)
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL, to the run's every process: no handler, no clean-up, no flush runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def wait(self, timeout: float = 60) -> CliResult:
        code = self.proc.wait(timeout=timeout)
        return CliResult(code, self.out.read_text(), self.err.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()


@contextmanager
def running(
    args: list[str], cwd: Path, env: Mapping[str, str], log: Path, **slow: str
) -> Iterator[Running]:
    """Run ``cavorite ARGS`` with a slow local store; killed on exit if still running.

    ``slow`` may set ``CAVORITE_SLOW_CHUNK`` and ``CAVORITE_SLOW_DELAY``.
    """
    run = Running(args, cwd, {**env, **slow}, log)
    try:
        yield run
    finally:
        run.stop()


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def temp_area(repo: Path) -> Path:
    """Where cavorite writes its temporary files inside the repository ``repo``."""
    return repo / ".cavorite" / "tmp"


def partial_temps(directory: Path, least: int = 1) -> list[Path]:
    """Our temporary files directly in ``directory`` holding at least ``least`` bytes."""
    found: list[Path] = []
    if not directory.is_dir():
        return found
    for entry in os.scandir(directory):
        if ".cavorite-tmp-" in entry.name:
            try:
                if entry.stat(follow_symlinks=False).st_size >= least:
                    found.append(Path(entry.path))
            except FileNotFoundError:
                continue
    return found
