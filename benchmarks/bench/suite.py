"""The suite's shared machinery: fresh directories, timed runs in interleaved rounds, the report."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import measure, report
from .access import AccessWatch
from .emulator import MotoServer
from .measure import ChildFailed, Sample
from .plan import HERE, Plan, Tools
from .report import Row, Target, fmt_bytes, fmt_ratio, fmt_s, verdict
from .workloads import KIB, MIB, RunDirs, Workload, copy_cfiles, git_init, link_tree, write_config

PROJECT = HERE.parent
FLOOR = HERE / "floor.py"
S3_FLOOR = HERE / "s3_floor.py"
API = HERE / "api_worker.py"

MOTO_NOTE = (
    "moto spends roughly 2.5 ms of CPU per request on about one core, and answers a ranged GET by "
    "copying the whole object: S3 figures mean something only next to the plain boto3 loop "
    "measured in the same run, and parallel ranged downloads of large objects (what boto3's "
    "transfer manager does above its multipart threshold) are much slower on moto than on real S3."
)


@dataclass
class Prepared:
    """A command ready to be timed."""

    cmd: list[str]
    cwd: Path
    env: dict[str, str] | None = None
    watch: Path | None = None
    """a data directory whose artifacts must not be opened (no-op runs): watched with inotify"""
    reread: Path | None = None
    """a directory the command reads and leaves out of the page cache (rclone advises the kernel
    to drop every file it has read): read back, untimed, after the run, so that the subject
    after it finds those files in memory as every other subject does"""


Step = tuple[Row, Callable[[int], Prepared]]


class Suite:
    def __init__(self, args: argparse.Namespace, plan: Plan, tools: Tools) -> None:
        self.args = args
        self.plan = plan
        self.tools = tools
        self.workdir: Path = args.workdir.absolute()
        self.stale = self._move_aside_old_runs()
        self.root = self.workdir / f"run-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
        self.masters = self.root / "masters"
        self.masters.mkdir(parents=True)
        self.dirs = RunDirs(self.root / "runs")
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.log = self.logs / "commands.log"
        self.profiles = self.root / "profiles"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CAVORITE"))}
        # the run's own directories hold the local stores: approved as a user would, for CI
        self.env["CAVORITE_ALLOW_ENDPOINT"] = self.root.as_uri()
        # DVC as measured: no usage reports sent (nor tried: there is no network) during a run
        self.env["DVC_NO_ANALYTICS"] = "1"
        self.rows: list[Row] = []
        self.targets: list[Target] = []
        self.notes: list[str] = []
        self.checks: list[list[str]] = []
        self.requests: list[list[str]] = []
        self.profile_texts: list[tuple[str, str]] = []
        self.workloads: list[str] = []
        self.moto: MotoServer | None = None
        self.marks: dict[str, Row] = {}
        """rows the issue-20 targets read (``bench/goals.py``), by name"""
        self.goals: list[Target] = []
        """the issue-20 targets, judged at the end from every section's rows"""
        self.scale_label = ""
        self.forecast = plan.estimate_seconds(tools.rclone is not None, tools.dvc is not None)
        self.started = time.monotonic()
        self.load_before = _loadavg()

    # ----------------------------------------------------------------- directories

    def _move_aside_old_runs(self) -> list[Path]:
        """Files of an earlier, interrupted run are renamed aside now and deleted at the end."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        stale = sorted(self.workdir.glob("stale-*"))
        for old in sorted(self.workdir.glob("run-*")):
            aside = self.workdir / f"stale-{old.name}"
            old.rename(aside)
            stale.append(aside)
        return stale

    def cleanup(self) -> None:
        """Keep the logs (``benchmarks/work/last-logs``); delete the rest unless ``--keep``."""
        kept = self.workdir / "last-logs"
        shutil.rmtree(kept, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.logs.rename(kept)
            self.say(f"logs of every command: {kept}")
        if self.args.keep:
            self.say(f"kept {self.root}")
            return
        self.say("removing the generated files")
        for path in [*self.stale, self.root]:
            shutil.rmtree(path, ignore_errors=True)

    def fresh_repo(self, w: Workload, label: str) -> Path:
        """A new git repository holding hard links to the workload's files."""
        repo = self.dirs.fresh(label)
        link_tree(w, repo)
        git_init(repo)
        return repo

    def clone(self, source: Path, w: Workload, label: str, store_type: str, address: str) -> Path:
        """A new repository holding only ``source``'s cfiles: a fresh clone, before retrieve."""
        repo = self.dirs.fresh(label)
        copy_cfiles(source, w, repo)
        git_init(repo)
        write_config(repo, store_type, address)
        return repo

    # ----------------------------------------------------------------- commands

    def cav(self, *args: str, jobs: bool = True) -> list[str]:
        extra = ["--jobs", str(self.args.jobs)] if jobs and self.args.jobs else []
        return [self.tools.cavorite, *args, *extra]

    def api(self, op: str, repo: Path, profile: Path | None = None) -> list[str]:
        cmd = [self.tools.python, str(API), op, str(repo)]
        if profile is not None:
            return [*cmd, "--jobs", "1", "--profile", str(profile)]
        if self.args.jobs:
            cmd += ["--jobs", str(self.args.jobs)]
        return cmd

    def python(self, script: Path, *args: str | Path) -> list[str]:
        return [self.tools.python, str(script), *map(str, args)]

    # ----------------------------------------------------------------- measuring

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    def row(
        self,
        section: str,
        label: str,
        w: Workload | None,
        op: str,
        subject: str,
        *,
        moves_data: bool = True,
        floor: bool = False,
        internal: bool = False,
    ) -> Row:
        files = w.count if w else 0
        nbytes = w.total_bytes if (w and moves_data) else 0
        r = Row(section, label, op, subject, files, nbytes, floor=floor, internal=internal)
        self.rows.append(r)
        return r

    def cold_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """``env`` (default: the suite's) for one command with a content cache of its own,
        empty, unless ``env`` names one (the warm-cache row): every other row measures the
        store (the cache's own copy included), never what an earlier run left in a cache."""
        base = env if env is not None else self.env
        if "CAVORITE_CACHE_DIR" in base:
            return base
        return {**base, "CAVORITE_CACHE_DIR": str(self.dirs.fresh("cache"))}

    def measure(
        self, r: Row, prepared: Prepared, pause: float = 0.3, timeout: float = 3600
    ) -> Sample | None:
        """One timed run for row ``r``, after letting earlier writes settle."""
        measure.settle(pause)
        moto = self.moto if r.section == "s3" else None
        cpu_before = None
        if moto is not None:
            moto.reset_counts()
            cpu_before = moto.cpu_seconds()
        watch = AccessWatch(prepared.watch, ".cfile") if prepared.watch else None
        try:
            with watch if watch is not None else contextlib.nullcontext():
                sample = measure.run(
                    prepared.cmd, prepared.cwd, self.cold_env(prepared.env), self.log, timeout
                )
        except ChildFailed as exc:
            r.error = str(exc)
            self.say(f"FAILED: {r.subject} {r.op} on {r.workload}: {exc}")
            return None
        if watch is not None and watch.available:
            c = watch.counts
            sample.reported["access"] = {
                "artifacts_opened": len(c.artifacts_opened),
                "artifacts_read": len(c.artifacts_read),
                "metadata_opened": len(c.metadata_opened),
                "overflowed": c.overflowed,
            }
        if moto is not None:
            sample.reported["server"] = moto.counts()
            cpu_after = moto.cpu_seconds()
            if cpu_before is not None and cpu_after is not None:
                sample.reported["server_cpu"] = cpu_after - cpu_before
        r.series.add(sample)
        if prepared.reread is not None:
            measure.read_back(prepared.reread)
        return sample

    def rounds(
        self,
        n: int,
        steps: Sequence[Step],
        pause: float = 0.3,
        discard: Callable[[Path], bool] | None = None,
    ) -> None:
        """``n`` rounds, each running every step once in an order rotated per round, so that
        the machine's drift falls on every subject alike.

        With ``discard`` (for workloads of a few large files), the directories a run made are
        deleted once it is measured, unless ``discard`` says to keep one: every run then writes
        into memory just freed by the one before. Kept, the outputs of a large workload fill
        the page cache, and after the first few runs every write lands in cold memory (about
        1 s per GiB more here), so the first subjects of the first round ran up to 3x faster
        than the others."""
        spent: dict[int, float] = {}
        for i in range(n):
            k = i % len(steps) if steps else 0
            for r, prepare in [*steps[k:], *steps[:k]]:
                if r.error is not None or spent.get(id(r), 0.0) > self.args.max_row_seconds:
                    continue
                made = len(self.dirs.made)
                try:
                    prepared = prepare(i)
                except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
                    r.error = f"could not prepare the run: {type(exc).__name__}: {exc}"
                    self.say(f"FAILED: {r.subject} {r.op} on {r.workload}: {r.error}")
                    continue
                sample = self.measure(r, prepared, pause)
                if sample is not None:
                    spent[id(r)] = spent.get(id(r), 0.0) + sample.seconds
                if discard is not None:
                    for path in self.dirs.made[made:]:
                        if discard(path):
                            shutil.rmtree(path, ignore_errors=True)
        for r, _ in steps:
            if r.series and len(r.series.samples) < n and r.error is None:
                r.notes.append(f"{len(r.series.samples)} of {n} runs (time cap)")

    # ----------------------------------------------------------------- verdicts

    def target(self, name: str, threshold: str, measured: str, ok: bool | None) -> None:
        self.targets.append(Target(name, threshold, measured, verdict(ok)))

    def goal(self, name: str, threshold: str, measured: str, ok: bool | None) -> None:
        self.goals.append(Target(name, threshold, measured, verdict(ok)))

    def vs_floor(self, r: Row) -> str:
        best = r.best_floor()
        if r.error:
            return f"not measured: {r.error}"
        if best is None or r.seconds() is None:
            return "not measured"
        return (
            f"{fmt_s(r.seconds())} vs {fmt_s(best[1])} ({best[0].subject}): {fmt_ratio(r.ratio())}"
        )

    def ratio_target(self, name: str, r: Row, limit: float) -> None:
        ratio = r.ratio()
        self.target(
            name, f"<= {limit:.2f}x", self.vs_floor(r), None if ratio is None else ratio <= limit
        )

    @staticmethod
    def access(r: Row) -> dict[str, Any] | None:
        """The most any run of ``r`` opened and read (inotify), or None if not watched."""
        seen = [s.reported["access"] for s in r.series.samples if "access" in s.reported]
        if not seen:
            return None
        return {
            key: (any(a[key] for a in seen) if key == "overflowed" else max(a[key] for a in seen))
            for key in seen[0]
        }

    def check_reads(self, r: Row, w: Workload) -> bool | None:
        """Record and judge what a no-op row read: True if it opened no artifact."""
        a = self.access(r)
        rchar = r.series.max_rchar
        if a is None:
            return None
        clean = a["artifacts_opened"] == 0 and a["artifacts_read"] == 0 and not a["overflowed"]
        self.checks.append(
            [
                r.workload,
                r.op,
                r.subject,
                f"{a['artifacts_opened']} of {w.count}",
                str(a["artifacts_read"]),
                str(a["metadata_opened"]),
                fmt_bytes(rchar),
                fmt_bytes(w.total_bytes),
                "no contents read" if clean else "CONTENTS READ",
            ]
        )
        return clean

    # ----------------------------------------------------------------- report

    def markdown(self, argv: Sequence[str], elapsed: float) -> str:
        plan, tools = self.plan, self.tools
        head = _git(["rev-parse", "--short", "HEAD"])
        dirty = _git(["status", "--porcelain", "--", "cavorite_py", "plugins"])
        others = [n for n in ("aws", "dvc", "rclone") if n in tools.versions]
        missing = [n for n in ("aws", "dvc", "rclone") if n not in tools.versions]
        lines = [
            "# cavorite-py benchmark results",
            "",
            f"Command: `{shlex.join([_interpreter(), 'benchmarks/run.py', *argv])}`",
            "",
            f"- mode: **{plan.mode}**; timed runs per figure: {plan.runs} (S3: {plan.s3_runs}, "
            f"start-up: {plan.startup_runs}); every figure is a median; the subjects of one "
            "operation run in interleaved rounds",
            f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}; the whole "
            f"run took {elapsed / 60:.1f} min (forecast at its start: "
            f"{self.forecast / 60:.0f} min)",
            f"- machine: {_cpu()}, {os.cpu_count()} CPUs, {_mem()}, Linux {platform.release()};"
            f" load average (1, 5, 15 min) {self.load_before} at the start, {_loadavg()} at the"
            " end (other work on the machine shares its CPUs)",
            f"- {tools.versions.get('cavorite', 'cavorite ?')}: {self._source(head, dirty)}",
            f"- {tools.versions.get('python', 'Python ?')} ({tools.python}); cavorite's jobs: "
            f"local store {tools.local_jobs}, S3 {tools.s3_jobs} (the threaded floors use the "
            "same numbers)",
            "- other tools: "
            + (", ".join(f"{tools.versions[n]}" for n in others) or "none")
            + (f"; not installed: {', '.join(missing)}" if missing else ""),
            *[f"  - {n}: {how}" for n, how in sorted(tools.origins.items())],
            f"- workloads: {'; '.join(self.workloads)}",
            *([f"- note: {self.args.note}"] if self.args.note else []),
            "",
            "## Targets (issue 20)",
            "",
            "Each judged on the figures of this run: ratios against rclone and the floors are"
            " taken between rows measured in the same interleaved rounds.",
            "",
            report.targets_table(self.goals),
            "",
            "## Earlier targets (issue 6)",
            "",
            report.targets_table(self.targets),
            "",
            "## Results",
            "",
            "Wall time of the whole process (interpreter start-up included), median of the runs"
            " with the fastest and slowest in brackets, unless marked [work only]: Python API"
            " rows time `Repo.find` to `Repo.close` inside the process and are compared with the"
            " floor script's own timing of its work. MB/s is 10^6 bytes of file data per second;"
            " files/s counts the files the operation covered; peak RSS is the process's maximum"
            " resident set size; CPU is its user + system CPU time (median), which on this"
            " 2-core machine competes with the S3 emulator's. The floor column shows the fastest"
            " floor for that operation; ratio = time / floor time (= floor MB/s / MB/s).",
            "",
            report.results_table([r for r in self.rows if not r.floor]),
            "",
            "## Floors",
            "",
            report.floors_table([r for r in self.rows if r.floor]),
            "",
        ]
        if self.checks:
            lines += [
                "## No-op runs: what was read",
                "",
                "Artifacts opened and read are counted by the kernel (inotify on every directory"
                " of the workload's data, IN_OPEN and IN_ACCESS events), maximum over the runs."
                " rchar (/proc/<pid>/io, maximum over the runs) is every byte the process got from"
                " read calls, Python's own modules and the metadata files included; it is shown"
                " next to the size of the data to make clear that no content was hashed.",
                "",
                report.table(
                    [
                        "workload",
                        "operation",
                        "subject",
                        "artifacts opened",
                        "artifacts read",
                        "cfiles opened",
                        "rchar",
                        "data size",
                        "verdict",
                    ],
                    self.checks,
                ),
                "",
            ]
        if self.requests:
            lines += [
                "## S3 requests, counted at the emulator",
                "",
                "Counted by a WSGI middleware in front of moto's own server application, for the"
                " median run of each row; body bytes are the Content-Length of PUT and POST"
                " requests; emulator CPU is the moto process's CPU time during the run.",
                "",
                report.table(
                    [
                        "workload",
                        "operation",
                        "subject",
                        "PUT",
                        "POST",
                        "GET",
                        "HEAD",
                        "requests/file",
                        "PUT+POST body",
                        "emulator CPU",
                    ],
                    self.requests,
                ),
                "",
                MOTO_NOTE,
                "",
            ]
        if self.notes:
            lines += ["## Notes", "", *[f"- {n}" for n in self.notes], ""]
        if self.profile_texts:
            lines += ["## Profiles", ""]
            for title, text in self.profile_texts:
                lines += [f"### {title}", "", text, ""]
        return "\n".join(lines)

    def _source(self, head: str, dirty: str) -> str:
        where = Path(self.tools.package) if self.tools.package else None
        if where is not None and not where.is_relative_to(PROJECT):
            return (
                f"cavorite_py imported from {where.parent} (an install outside this working tree;"
                f" the benchmark code is at commit {head or '?'})"
            )
        state = " plus uncommitted changes under cavorite_py/ or plugins/" if dirty else ""
        return f"this working tree at commit {head or '?'}{state}"

    def describe(self, w: Workload, label: str) -> None:
        size = w.total_bytes // max(1, w.count)
        each = (
            f"{size // MIB} MiB"
            if size >= MIB
            else f"{size // KIB} KiB"
            if size >= KIB
            else f"{size} B"
        )
        self.workloads.append(f"{label} = {w.count:,} files of {each} ({w.mib:,.0f} MiB)")


def _git(args: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", *args], cwd=PROJECT, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip()
    return ""


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _interpreter() -> str:
    exe = Path(sys.executable)
    return str(exe.relative_to(PROJECT)) if exe.is_relative_to(PROJECT) else str(exe)


def _loadavg() -> str:
    with contextlib.suppress(OSError):
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def _mem() -> str:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    return "unknown RAM"
