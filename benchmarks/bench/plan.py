"""What to run (the plan, from the command line) and with what (the tools found on this machine)."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .install import Found, default_tools_dir
from .workloads import KIB, MIB

HERE = Path(__file__).resolve().parent.parent
SECTIONS = ("startup", "local-small", "local-large", "s3-small", "s3-large", "scale")
DEFAULT_SECTIONS = SECTIONS[:-1]


@dataclass
class Plan:
    """Which sections run, how many times, on how much data."""

    sections: list[str]
    runs: int
    s3_runs: int
    startup_runs: int
    small_files: int
    small_size: int
    large_files: int
    large_size: int
    s3_large_size: int
    scale_files: int
    scale_new_files: int
    """new files uploaded once in the scale repository (a subset, see ``--scale-new-files``)"""
    scale_runs: int
    large_pause: float
    """seconds to wait after ``sync`` before each timed run that writes large files"""
    mode: str

    def disk_bytes(self) -> int:
        """Roughly how much the run writes: every timed run's output is kept until the end (see
        docs/performance.md), about a dozen subjects' worth per local run, eight per S3 run."""
        small = self.small_files * self.small_size
        local = small * ("local-small" in self.sections)
        local += self.large_files * self.large_size * ("local-large" in self.sections)
        s3 = small * ("s3-small" in self.sections)
        s3 += self.large_files * self.s3_large_size * ("s3-large" in self.sections)
        # blocks of each file and its cfile
        scale = (self.scale_files + self.scale_new_files) * 8 * KIB * ("scale" in self.sections)
        return 12 * self.runs * local + 8 * self.s3_runs * s3 + scale

    def estimate_seconds(self, rclone: bool, dvc: bool) -> float:
        """A rough forecast of the whole run on an idle 2-core machine, per section, with
        costs per file and per byte taken from earlier runs of this suite here."""
        on = set(self.sections)
        small, large = self.small_files, self.large_files * self.large_size
        # subjects per round of the local sections; a DVC run costs about three cavorite runs
        subjects = 11 + 2 * rclone + 6 * dvc
        total = 15.0
        if "startup" in on:
            total += self.startup_runs * 4 * 0.3
        if "local-small" in on:
            total += self.runs * (subjects * (small * 0.8e-3 + 0.6) + 8 * (small * 0.1e-3 + 0.4))
        if "local-large" in on:
            total += self.runs * (subjects - 2) * (large / 250e6 + self.large_pause + 0.5)
        if "s3-small" in on:
            total += self.s3_runs * 14 * (small * 4e-3 + 0.5)
        if "s3-large" in on:
            s3_bytes = self.large_files * self.s3_large_size
            total += self.s3_runs * 10 * (s3_bytes / 40e6 + self.large_pause + 0.5)
        if "scale" in on:
            n = self.scale_files
            # writing the files (two file creations each), the first no-op (hashes every file
            # and fills the state cache), the timed rounds (floor, no-op retrieve, status, no-op
            # upload; rows over --max-row-seconds run once), git alone; measured at 1,000,000
            # files on a loaded machine: 310 s, 538 s, 766 s per round, 14 s
            total += n * (300e-6 + 400e-6 + self.scale_runs * 300e-6 + 15e-6)
            total += self.scale_new_files * 1.2e-3
        return total

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        if args.smoke:
            mode, runs, s3_runs, startup, small, large, s3_large = "smoke", 1, 1, 3, 100, 16, 8
        elif args.quick:
            mode, runs, s3_runs, startup, small, large, s3_large = "quick", 3, 2, 7, 1000, 64, 32
        else:
            mode, runs, s3_runs, startup, small, large, s3_large = "full", 5, 3, 11, 2000, 256, 64
        sections = list(args.workloads or DEFAULT_SECTIONS)
        # a smoke run goes through every code path, the scale section's too (on 2,000 files)
        if (args.scale or (args.smoke and not args.workloads)) and "scale" not in sections:
            sections.append("scale")
        return cls(
            sections=sections,
            runs=args.runs or runs,
            s3_runs=args.runs or s3_runs,
            startup_runs=max(startup, args.runs or 0),
            small_files=args.small_files or small,
            small_size=args.small_kib * KIB,
            large_files=args.large_files,
            large_size=(args.large_mib or large) * MIB,
            s3_large_size=(args.s3_large_mib or s3_large) * MIB,
            scale_files=args.scale_files if not args.smoke else min(args.scale_files, 2000),
            scale_new_files=min(args.scale_new_files, 500) if args.smoke else args.scale_new_files,
            scale_runs=args.scale_runs or (1 if args.smoke or args.quick else 2),
            large_pause=0.3 if args.smoke else 2.0,
            mode=mode,
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmark cavorite-py against floors measured in the same run on the same "
        "files. See docs/performance.md.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller workloads, fewer runs")
    size.add_argument("--smoke", action="store_true", help="tiny workloads, one run (< 60 s)")
    parser.add_argument(
        "--workloads",
        nargs="+",
        choices=SECTIONS,
        metavar="NAME",
        help=f"sections to run, of: {', '.join(SECTIONS)} (default: all but scale)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="add the 1,000,000-file section (no-op runs, memory, new files; 20-30 min)",
    )
    parser.add_argument("--runs", type=int, help="timed runs per figure (the median is reported)")
    parser.add_argument("--small-files", type=int, help="files in the many-small-files workload")
    parser.add_argument("--small-kib", type=int, default=32, help="size of each small file")
    parser.add_argument("--large-files", type=int, default=2, help="files in the large workloads")
    parser.add_argument("--large-mib", type=int, help="size of each large file (local store)")
    parser.add_argument("--s3-large-mib", type=int, help="size of each large file on S3")
    parser.add_argument("--scale-files", type=int, default=1_000_000, help="files for --scale")
    parser.add_argument(
        "--scale-new-files",
        type=int,
        default=50_000,
        help="new files uploaded in the --scale repository to time new-file upload (a subset: "
        "uploading a million new files would take most of an hour)",
    )
    parser.add_argument(
        "--scale-runs", type=int, help="timed runs of each no-op figure at scale (default 2)"
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="do not install rclone (apt-get) or DVC (pip, into --tools-dir) when missing",
    )
    parser.add_argument(
        "--tools-dir",
        type=Path,
        default=default_tools_dir(),
        help="where the set-up keeps DVC's virtual environment (default: %(default)s)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        help="pass --jobs to cavorite and use it as the threaded floors' thread count (default: "
        "cavorite's own default per store type, read from the store class)",
    )
    parser.add_argument("--no-api", action="store_true", help="skip the Python API measurements")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the API path (cProfile, --jobs 1) and the CLI's imports",
    )
    parser.add_argument("--cavorite", help="the cavorite command (default: next to this Python)")
    parser.add_argument(
        "--workdir", type=Path, default=HERE / "work", help="where workloads are generated"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--output",
        type=Path,
        help="markdown results file (default: benchmarks/results.md; with --smoke, "
        "benchmarks/work/smoke-results.md)",
    )
    parser.add_argument("--note", help="a line added to the report's header, as given")
    parser.add_argument(
        "--max-row-seconds",
        type=float,
        default=150.0,
        help="stop repeating one measurement once its runs have taken this long in total",
    )
    return parser.parse_args(argv)


@dataclass
class Tools:
    """The commands measured, and facts about them."""

    cavorite: str
    python: str
    """the interpreter of the cavorite command: the floors and the API worker run on it too"""
    has_status: bool
    s3_store: str | None
    """None when cavorite's S3 store can be loaded, else why not"""
    local_jobs: int
    s3_jobs: int
    aws: str | None
    dvc: str | None
    rclone: str | None
    package: str = ""
    """where ``cavorite_py`` is imported from (its ``__init__.py``)"""
    versions: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    """how each other tool was obtained (found on PATH, installed by the set-up), or why it is
    missing"""


def interpreter_of(script: str) -> str:
    """The Python a console script runs on, from its ``#!`` line."""
    try:
        with open(script, "rb") as f:
            first = f.readline().decode(errors="replace")
    except OSError:
        return sys.executable
    if first.startswith("#!"):
        candidate = first[2:].strip().split()[0]
        if os.access(candidate, os.X_OK) and Path(candidate).name != "env":
            return candidate
    return sys.executable


def output_of(cmd: Sequence[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=120, check=False, cwd="/"
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return 1, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


_PROBE = """
import cavorite_py
from cavorite_py.stores import registry
print(registry.load("localstore").default_jobs)
try:
    print(registry.load("s3").default_jobs)
except Exception as exc:
    print("unavailable: " + (str(exc).splitlines() or [type(exc).__name__])[0])
print(cavorite_py.__file__)
"""


def detect_tools(args: argparse.Namespace, found: dict[str, Found] | None = None) -> Tools:
    """The commands to measure; ``found`` holds the set-up's rclone and DVC (else PATH's)."""
    found = found or {}
    cavorite = args.cavorite or str(Path(sys.executable).parent / "cavorite")
    if not os.access(cavorite, os.X_OK):
        cavorite = shutil.which("cavorite") or ""
    if not cavorite:
        sys.exit("benchmarks/run.py: no cavorite command found; install it or pass --cavorite")
    # a relative path (``--cavorite .venv/bin/cavorite``) must work from each run's directory
    cavorite = str(Path(cavorite).absolute()) if os.sep in cavorite else cavorite
    python = interpreter_of(cavorite)
    rc, help_text = output_of([cavorite, "--help"])
    has_status = rc == 0 and re.search(r"^\W*status\b", help_text, re.MULTILINE) is not None
    rc, out = output_of([python, "-c", _PROBE])
    lines = out.splitlines() if rc == 0 else []
    local_jobs = int(lines[0]) if lines and lines[0].isdigit() else 4
    s3_line = lines[1] if len(lines) > 1 else f"cannot ask the store registry: {out[-200:]}"
    s3_store = None if s3_line.isdigit() else s3_line
    s3_jobs = int(s3_line) if s3_line.isdigit() else 8
    if args.jobs:
        local_jobs = s3_jobs = args.jobs
    package = lines[2] if len(lines) > 2 else ""
    tools = Tools(
        cavorite,
        python,
        has_status,
        s3_store,
        local_jobs,
        s3_jobs,
        shutil.which("aws"),
        found["dvc"].path if "dvc" in found else shutil.which("dvc"),
        found["rclone"].path if "rclone" in found else shutil.which("rclone"),
        package,
    )
    tools.origins = {name: f.how for name, f in found.items()}
    tools.versions["cavorite"] = output_of([cavorite, "--version"])[1]
    tools.versions["python"] = output_of([python, "--version"])[1]
    for name in ("aws", "dvc", "rclone"):
        exe = getattr(tools, name)
        if exe is None:
            continue
        rc, out = output_of([exe, "version" if name == "rclone" else "--version"])
        if rc != 0:
            setattr(tools, name, None)  # a launcher shim that cannot run it is not an install
            tools.origins[name] = f"does not run: {out.splitlines()[-1][:200] if out else rc}"
            continue
        line = out.splitlines()[0] if out else "?"
        # ``dvc --version`` prints the bare number
        tools.versions[name] = line if line.lower().startswith(name) else f"{name} {line}"
    return tools
