"""Run one cavorite-py operation through the Python API and report what it cost.

``python api_worker.py OP REPO [--jobs N] [--profile OUT]`` with OP one of ``upload`` (every file
under ``REPO/data``), ``retrieve`` (every cfile) or ``status``. Prints one JSON object:

- ``import_seconds``: importing ``cavorite_py.repo`` and the configured store's module (with its
  SDK), which a long-running program pays once;
- ``seconds``: from ``Repo.find`` to the end of ``Repo.close`` (store opened, work done, state
  cache written): the engine's own time, with the interpreter's start-up and imports excluded;
- ``rchar``/``read_bytes``: bytes this process read during that call, from ``/proc/self/io``;
- ``outcomes``: how many files ended in each outcome.

With ``--profile OUT``, the call runs under cProfile; the raw profile goes to ``OUT.prof`` and
the top functions by own time and by cumulative time to ``OUT.txt``. cProfile sees only the
thread that enables it, so profile with ``--jobs 1`` to see the per-file work.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any


def proc_io() -> dict[str, int]:
    values: dict[str, int] = {}
    with open("/proc/self/io") as f:
        for line in f:
            key, _, value = line.partition(":")
            values[key.strip()] = int(value)
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("op", choices=["upload", "retrieve", "status"])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args(argv)
    repo_dir: Path = args.repo.absolute()

    started = time.perf_counter()
    from cavorite_py.repo import Repo
    from cavorite_py.stores import registry

    registry.load(Repo.find(repo_dir).config.store_type)
    imported = time.perf_counter()
    profiler = cProfile.Profile() if args.profile else None
    before = proc_io()
    t0 = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    with Repo.find(repo_dir) as repo:
        if args.op == "upload":
            report: Any = repo.upload(["data"], jobs=args.jobs, cwd=repo_dir)
        elif args.op == "retrieve":
            report = repo.retrieve([], jobs=args.jobs, cwd=repo_dir)
        else:
            report = repo.status([], cwd=repo_dir)
    if profiler is not None:
        profiler.disable()
    t1 = time.perf_counter()
    after = proc_io()

    outcomes = Counter(str(r.outcome.value) for r in report.results)
    result = {
        "import_seconds": imported - started,
        "seconds": t1 - t0,
        "rchar": after["rchar"] - before["rchar"],
        "read_bytes": after["read_bytes"] - before["read_bytes"],
        "files": len(report.results),
        "outcomes": dict(outcomes),
        "ok": bool(report.ok),
    }
    if profiler is not None and args.profile is not None:
        profiler.dump_stats(f"{args.profile}.prof")
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.strip_dirs()
        text.write(f"# {args.op} {repo_dir} jobs={args.jobs}: {t1 - t0:.3f} s\n\n")
        text.write("## by own time\n")
        stats.sort_stats("tottime").print_stats(25)
        text.write("## by cumulative time\n")
        stats.sort_stats("cumulative").print_stats(25)
        Path(f"{args.profile}.txt").write_text(text.getvalue())
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
