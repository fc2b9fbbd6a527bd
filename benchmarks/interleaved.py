"""Commands timed in turn, round after round (A, B, A, B, ...), in one directory: the median
wall time, CPU time (user + system, of the command and the children it waited for, such as
git) and peak memory of each. For A/B comparisons on a shared machine, where a figure taken
minutes apart from another says little.

    python benchmarks/interleaved.py --cwd REPO --rounds 3 \\
        --cavorite old=/tmp/old --cavorite new=. \\
        --run "floor=python benchmarks/floor.py noop ." -- status

``--cavorite NAME=DIR`` runs ``cavorite`` with the arguments after ``--`` from the source tree
at ``DIR`` (its ``cavorite_py`` package; an older commit's with ``git archive COMMIT
cavorite_py | tar -x -C DIR``), by the Python running this script, whatever the editable
install of the environment points to. ``--run NAME=COMMAND`` times any command.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time

RUN_TREE = "--as-cavorite"


def as_cavorite(source: str, args: list[str]) -> None:
    """Run ``cavorite args`` from the package in ``source``, not the installed one."""
    # an editable install's finder would answer before sys.path
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    tree = os.path.abspath(source)
    sys.path.insert(0, tree)
    sys.argv = ["cavorite", *args]
    import cavorite_py
    from cavorite_py.__main__ import main

    if not os.path.abspath(cavorite_py.__file__).startswith(tree + os.sep):
        raise SystemExit(f"cavorite_py was imported from {cavorite_py.__file__}, not {tree}")
    main()


def timed(command: list[str], cwd: str) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak MiB of one run (which must succeed)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({status})")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def named(pairs: list[str]) -> list[tuple[str, str]]:
    found = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"{pair!r}: expected NAME=VALUE")
        found.append((name, value))
    return found


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == RUN_TREE:
        as_cavorite(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cwd", default=".")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cavorite", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=COMMAND")
    parser.add_argument("args", nargs="*", help="cavorite's arguments (after --)")
    opts = parser.parse_args()
    me = os.path.abspath(__file__)
    commands = [
        (name, [sys.executable, me, RUN_TREE, tree, *opts.args])
        for name, tree in named(opts.cavorite)
    ]
    commands += [(name, shlex.split(command)) for name, command in named(opts.run)]
    samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _ in commands}
    for round_ in range(opts.rounds):
        for name, command in commands:
            wall, cpu, peak = timed(command, opts.cwd)
            samples[name].append((wall, cpu, peak))
            print(f"round {round_ + 1} {name}: {wall:.2f} s, CPU {cpu:.2f} s, {peak} MiB")
    print(f"medians of {opts.rounds} rounds:")
    for name, runs in samples.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"  {name}: {wall:.2f} s, CPU {cpu:.2f} s, peak {max(r[2] for r in runs)} MiB")


if __name__ == "__main__":
    main()
