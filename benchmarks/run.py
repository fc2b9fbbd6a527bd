"""The cavorite-py benchmark suite (issues 6 and 20). One command, from the repository root:

    .venv/bin/python benchmarks/run.py            # full default run, about 10-15 min on 2 cores
    .venv/bin/python benchmarks/run.py --quick    # smaller workloads, fewer runs
    .venv/bin/python benchmarks/run.py --smoke    # every code path once on tiny workloads, ~90 s
    .venv/bin/python benchmarks/run.py --scale    # add the 1,000,000-file section (20-30 min)

It generates its own workloads under benchmarks/work/, measures the real ``cavorite`` command (a
child process, as users run it) and the Python API, next to floors measured in the same run on
the same files, prints a markdown report and writes it to ``--output`` (benchmarks/results.md).
docs/performance.md explains every figure.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import goals, install, local, measure, others
from bench.emulator import MotoServer
from bench.plan import HERE, Plan, detect_tools, parse_args
from bench.suite import Suite
from bench.workloads import KIB, MIB, Workload, generate_large, generate_many


def run(s: Suite) -> None:
    plan = s.plan
    sections = set(plan.sections)
    if "startup" in sections:
        local.startup(s)
    small = large = None
    if sections & {"local-small", "s3-small"}:
        s.say(f"generating {plan.small_files} files of {plan.small_size // KIB} KiB")
        small = generate_many(s.masters, "small", plan.small_files, plan.small_size)
        s.describe(small, "small")
        measure.settle(1.0)
    if "local-small" in sections and small is not None:
        local.local(s, small, "small", large=False)
    if "local-large" in sections:
        s.say(f"generating {plan.large_files} files of {plan.large_size // MIB} MiB")
        large = generate_large(s.masters, "large", plan.large_files, plan.large_size)
        s.describe(large, "large")
        measure.settle(plan.large_pause)
        local.local(s, large, "large", large=True)
    if s.args.profile:
        if "local-small" in sections and small is not None:
            local.profile(s, small, "small", noop_too=True)
        if large is not None:
            local.profile(s, large, "large", noop_too=False)
    if sections & {"s3-small", "s3-large"}:
        s3_sections(s, small)
    if "scale" in sections:
        local.scale(s)


def s3_sections(s: Suite, small: Workload | None) -> None:
    """The S3 sections, against one moto server started for them."""
    from bench import s3  # boto3 is imported only when the S3 sections run

    plan = s.plan
    sections = set(plan.sections)
    with MotoServer(s.tools.python, s.logs / "moto.log") as moto:
        s.moto = moto
        s.say(f"moto S3 server on {moto.endpoint}")
        if "s3-small" in sections and small is not None:
            s3.s3(s, moto, small, "S3 small", large=False)
            moto.reset_all()
        if "s3-large" in sections:
            size = plan.s3_large_size
            s.say(f"generating {plan.large_files} files of {size // MIB} MiB for S3")
            big = generate_large(s.masters, "s3-large", plan.large_files, size)
            s.describe(big, "S3 large")
            measure.settle(plan.large_pause)
            s3.s3(s, moto, big, "S3 large", large=True)
            moto.reset_all()
        s.moto = None
    if s.tools.rclone is not None:
        s.notes.append(
            f"The S3 rclone rows run `{others.rclone_label(s.tools.s3_jobs)}` with an S3 remote"
            " given on the command line (path-style, the emulator's endpoint)."
        )


def enough_disk(workdir: Path, need: int) -> bool:
    """Say so, before anything runs, if the file system of ``workdir`` cannot hold the run."""
    existing = workdir.absolute()
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free >= need:
        return True
    print(
        f"benchmarks: this run writes about {need / 1e9:.1f} GB under {workdir} (every run's "
        f"output is kept until the end) and only {free / 1e9:.1f} GB is free there; free some "
        "space, choose another --workdir, or measure less (--runs, --large-mib, --quick)",
        file=sys.stderr,
    )
    return False


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    plan = Plan.from_args(args)
    if not enough_disk(args.workdir, plan.disk_bytes()):
        return 2
    tools = detect_tools(args, set_up(args))
    s = Suite(args, plan, tools)
    s.say(f"expected duration: about {s.forecast / 60:.0f} min (a rough forecast)")
    default = s.workdir / "smoke-results.md" if args.smoke else HERE / "results.md"
    output = args.output or default
    s.say(f"mode {plan.mode}: {', '.join(plan.sections)}; working in {s.root}")
    if plan.mode == "full" and measure.journal_less_ext4(s.root):
        # files deleted just before this run (an earlier run's, at its end) would slow every
        # file this run creates: written back, then left to age
        s.say(f"ext4 without a journal: sync, then {measure.RECENTLY_DELETED_SECONDS} s of wait")
        measure.settle(measure.RECENTLY_DELETED_SECONDS)
    started = time.monotonic()
    try:
        run(s)
    except KeyboardInterrupt:
        s.say("interrupted: reporting what was measured so far")
    finally:
        goals.judge(s)
        text = s.markdown(argv, time.monotonic() - started)
        print(text)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n")
        s.say(f"results written to {output}")
        s.cleanup()
    for title, judged in (("issue 20", s.goals), ("issue 6", s.targets)):
        missed = sum(t.verdict == "MISS" for t in judged)
        met = sum(t.verdict == "PASS" for t in judged)
        unmeasured = len(judged) - met - missed
        s.say(f"{title} targets: {met} met, {missed} missed, {unmeasured} not measured")
    return 0


def set_up(args: argparse.Namespace) -> dict[str, install.Found]:
    """rclone and DVC, installed when missing unless ``--no-install`` (see bench/install.py)."""

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    args.tools_dir.mkdir(parents=True, exist_ok=True)
    log = args.tools_dir / "install.log"
    wanted = not args.no_install
    found = {
        "rclone": install.rclone(wanted, log, say),
        "dvc": install.dvc(wanted, args.tools_dir, log, say),
    }
    for name, f in found.items():
        say(f"set-up: {name}: {f.how}")
    return found


if __name__ == "__main__":
    sys.exit(main())
