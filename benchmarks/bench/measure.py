"""Measuring one child process: wall time, peak memory, and how many bytes it read.

Every figure is taken from the outside, the way a user experiences the command:

- wall time from ``Popen`` to the child's exit;
- peak memory as the command's own maximum resident set size, written by GNU time
  (``/usr/bin/time -f %M``), which runs it as its child: a direct child of this process would
  inherit this process's size in its ``ru_maxrss`` (see :data:`TIME`); without GNU time, the
  ``ru_maxrss`` of ``os.wait4``, an upper bound;
- bytes read from ``/proc/<pid>/io`` (``rchar``: bytes returned by read-like system calls,
  page cache or not; ``read_bytes``: bytes fetched from the block device), read after the child
  has exited but before it is reaped (``waitid(WNOWAIT)``), so nothing is missed. Children the
  child reaped itself (``git``) are included by the kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ChildFailed(RuntimeError):
    """A measured command exited non-zero: the benchmark would be measuring an error path."""


@dataclass
class Sample:
    """One run of one command."""

    seconds: float
    maxrss_kib: int
    cpu_seconds: float = 0.0
    """user + system CPU time of the process (and of children it waited for)"""
    rchar: int | None = None
    read_bytes: int | None = None
    wchar: int | None = None
    returncode: int = 0
    reported: dict[str, Any] = field(default_factory=dict)
    """the JSON object the child printed last on stdout, if it printed one"""


def _read_io(pid: int) -> dict[str, int]:
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return {}
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if value.strip().isdigit():
            values[key.strip()] = int(value)
    return values


def run(
    cmd: Sequence[str | os.PathLike[str]],
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    timeout: float = 1800,
    check: bool = True,
) -> Sample:
    """Run ``cmd`` once, measured. Output goes to ``log`` (appended), never to a terminal."""
    with (
        open(log, "ab") as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(prefix="peak-") as peak,
    ):
        out.write(f"\n$ (cd {cwd} && {' '.join(map(str, cmd))})\n".encode())
        out.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*_peak_prefix(peak.name), *(str(c) for c in cmd)],
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
        timer = threading.Timer(timeout, lambda: _kill(proc.pid))
        timer.start()
        try:
            assert proc.stdout is not None
            stdout = proc.stdout.read()
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            elapsed = time.perf_counter() - started
            io = _read_io(proc.pid)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        maxrss = _peak_kib(peak.name, usage.ru_maxrss)
        proc.stdout.close()
        err.seek(0)
        errors = err.read()
        out.write(errors[-20000:])
        out.write(stdout[-4000:])
    reported: dict[str, Any] = {}
    for line in reversed(stdout.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                reported = json.loads(line)
            except json.JSONDecodeError:
                continue
            break
    sample = Sample(
        elapsed,
        maxrss,
        usage.ru_utime + usage.ru_stime,
        io.get("rchar"),
        io.get("read_bytes"),
        io.get("wchar"),
        proc.returncode,
        reported,
    )
    if check and proc.returncode != 0:
        lines = [line for line in errors.decode(errors="replace").splitlines() if line.strip()]
        last = lines[-1].strip()[:300] if lines else "no message"
        raise ChildFailed(f"{Path(str(cmd[0])).name} exited {proc.returncode}: {last}")
    return sample


TIME = "/usr/bin/time"
"""GNU time: runs the command as its own child and writes that child's peak RSS. A child of
this process would inherit its RSS in ``ru_maxrss`` (Linux records the memory it had when the
child's exec replaced it), so a child measured after the suite grew (the 1,000,000-file
section) would show the suite's size, not its own."""


def _peak_prefix(path: str) -> list[str]:
    """The prefix that records the command's own peak RSS (KiB) in ``path``, if GNU time is
    there (else none: ``ru_maxrss`` is used, an upper bound)."""
    return [TIME, "-q", "-f", "%M", "-o", path] if os.access(TIME, os.X_OK) else []


def _peak_kib(path: str, fallback: int) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return fallback


def _kill(pid: int) -> None:
    """Kill the command's whole process group (GNU time and the command it runs)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def combine(samples: Sequence[Sample]) -> Sample:
    """Several commands run one after the other as one step (e.g. ``dvc add`` then ``dvc push``)."""

    def total(name: str) -> int | None:
        values = [getattr(s, name) for s in samples]
        return None if any(v is None for v in values) else sum(values)

    return Sample(
        sum(s.seconds for s in samples),
        max(s.maxrss_kib for s in samples),
        sum(s.cpu_seconds for s in samples),
        total("rchar"),
        total("read_bytes"),
        total("wchar"),
        max(s.returncode for s in samples),
        samples[-1].reported,
    )


@dataclass
class Series:
    """Repeated runs of one subject on one workload and operation."""

    samples: list[Sample] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    def __bool__(self) -> bool:
        return bool(self.samples)

    def median(self, attr: str = "seconds") -> float:
        return statistics.median(float(getattr(s, attr)) for s in self.samples)

    def reported_median(self, key: str) -> float | None:
        values = [s.reported[key] for s in self.samples if key in s.reported]
        return statistics.median(values) if values else None

    @property
    def seconds(self) -> float:
        return self.median("seconds")

    @property
    def spread(self) -> tuple[float, float]:
        times = [s.seconds for s in self.samples]
        return min(times), max(times)

    @property
    def peak_rss_mib(self) -> float:
        return max(s.maxrss_kib for s in self.samples) / 1024

    @property
    def max_rchar(self) -> int | None:
        values = [s.rchar for s in self.samples if s.rchar is not None]
        return max(values) if values else None


def read_back(top: Path) -> None:
    """Read every file under ``top`` (into the page cache again)."""
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            with contextlib.suppress(OSError), open(os.path.join(dirpath, name), "rb") as f:
                while f.read(1 << 20):
                    pass


RECENTLY_DELETED_SECONDS = 65
"""how long ext4 without a journal passes over a deleted inode whose inode table block is
written back (60 s; 360 s while it is not, which ``sync`` ends), with a margin"""


def journal_less_ext4(path: Path) -> bool:
    """Whether ``path`` is on ext4 without a journal. Creating a file there passes over every
    free inode of its group deleted in the last minute (``recently_deleted`` in the kernel's
    ``fs/ext4/ialloc.c``, one lookup each): minutes after a run deleted its million files, the
    copy floor's 2,000 small files took 1.4-1.8 s instead of 0.3 s, nearly all of it system
    time in ``ext4_create`` (``perf record``), and the next run's small-file rows measured
    that."""
    dev = os.stat(path).st_dev
    try:
        name = os.path.basename(os.readlink(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"))
    except OSError:
        return False
    journal = Path("/proc/fs/jbd2")
    journaled = journal.is_dir() and any(p.name.startswith(f"{name}-") for p in journal.iterdir())
    return Path(f"/sys/fs/ext4/{name}").is_dir() and not journaled


def settle(pause: float) -> None:
    """Flush dirty pages and let writeback finish before a timed run."""
    os.sync()
    if pause > 0:
        time.sleep(pause)
