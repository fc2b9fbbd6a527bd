"""Two versions of cavorite-py side by side on 2,000 x 32 KiB files and the local store, with
the floor and rclone, interleaved in one loop (A, B, floor, rclone, then B, floor, rclone, A:
the order turns each round), so that a busy machine slows every row alike. Each version is a
source tree (``git archive REV | tar -x -C DIR``), run with its own ``PYTHONPATH`` on this
interpreter::

    .venv/bin/python benchmarks/ab_local_small.py --rounds 7 --workdir /tmp/ab \\
        old=/tmp/old-tree new=.

Prints each run, then the medians of wall time and CPU time (user+sys of the command and its
children) per row, and each wall median against the floor's (``floor.py copy``, 2 threads, with
``--metadata`` for upload): upload (``cavorite upload data``), retrieve (a fresh clone's
``cavorite retrieve``) and the warm-cache retrieve (the same, every object in a content cache
that a first, untimed retrieve filled). The work directory is left in place (deleting thousands
of files slows file creation on these machines for minutes).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.measure import read_back

FLOOR = str(Path(__file__).with_name("floor.py"))
COUNT, SIZE, PER_DIR = 2000, 32 * 1024, 200
RCLONE = ["rclone", "copy", "--checksum", "--transfers", "4"]


class Bench:
    def __init__(self, root: Path, variants: dict[str, str]) -> None:
        self.root = root
        # numbered after the runs of an earlier call with the same work directory
        runs = root / "runs"
        self.ids = itertools.count(len(os.listdir(runs)) if runs.is_dir() else 0)
        self.master = self.generate()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "CAVORITE")) and k != "PYTHONDONTWRITEBYTECODE"
        }
        self.env["CAVORITE_ALLOW_ENDPOINT"] = root.as_uri()
        self.envs = {name: self.variant_env(name, src, "{}") for name, src in variants.items()}
        self.warm = {
            name: self.variant_env(name, src, '{"cache": {"local_store": "always"}}')
            for name, src in variants.items()
        }
        self.sources: dict[str, tuple[Path, Path]] = {}
        self.results: dict[str, list[tuple[float, float]]] = {}

    def fresh(self, label: str) -> Path:
        path = self.root / "runs" / f"{next(self.ids):04d}-{label}"
        path.mkdir(parents=True)
        return path

    def generate(self) -> Path:
        master = self.root / "master"
        if not (master / "done").exists():
            for rel in files():
                (master / rel).parent.mkdir(parents=True, exist_ok=True)
                (master / rel).write_bytes(os.urandom(SIZE))
            (master / "done").write_text("")
        return master

    def variant_env(self, name: str, src: str, user_config: str) -> dict[str, str]:
        env = dict(self.env)
        env["PYTHONPATH"] = f"{src}{os.pathsep}{src}/plugins/localstore"
        env["CAVORITE_CACHE_DIR"] = str(self.fresh(f"cache-{name}"))
        config = self.fresh(f"xdg-{name}")
        (config / "cavorite").mkdir()
        (config / "cavorite" / "config.json").write_text(user_config)
        env["XDG_CONFIG_HOME"] = str(config)
        return env

    def record(self, row: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        took = timed(cmd, cwd, env)
        self.results.setdefault(row, []).append(took)
        print(f"  {row:24s} {took[0]:.3f} s wall {took[1]:.3f} s cpu", flush=True)
        time.sleep(0.3)

    def upload(self, name: str) -> None:
        repo = self.fresh("up")
        for rel in files():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(self.master / rel, repo / rel)
        git_init(repo)
        store = self.fresh(f"store-{name}")
        write_config(repo, store)
        self.record(f"upload {name}", cavorite("upload", "data"), repo, self.envs[name])
        self.sources.setdefault(name, (repo, store))

    def clone(self, name: str) -> Path:
        source, store = self.sources[name]
        repo = self.fresh("re")
        for rel in files():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / f"{rel}.cfile").write_bytes((source / f"{rel}.cfile").read_bytes())
        git_init(repo)
        write_config(repo, store)
        return repo

    def retrieve(self, name: str, warm: bool) -> None:
        env = self.warm[name] if warm else self.envs[name]
        if warm and not self.results.get(f"warm {name}"):
            # fills the cache: not timed
            timed(cavorite("retrieve"), self.clone(name), env)
        row = f"{'warm' if warm else 'retrieve'} {name}"
        self.record(row, cavorite("retrieve"), self.clone(name), env)

    def floor(self, op: str, source: Path, *floor_args: str) -> None:
        out = self.fresh(f"floor-{op}")
        cmd = [sys.executable, FLOOR, "copy", str(source), str(out / "data"), *floor_args]
        self.record(f"{op} floor", [*cmd, "--threads", "2"], out, self.env)

    def rclone(self, op: str, source: Path) -> None:
        out = self.fresh(f"rclone-{op}")
        self.record(f"{op} rclone", [*RCLONE, str(source), str(out / "data")], out, self.env)
        # rclone has the kernel drop what it read from the page cache: back in, for the next
        read_back(source)

    def report(self) -> None:
        print("\nmedians (wall, cpu):")
        for row, values in self.results.items():
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            op = row.split()[0]
            floor = self.results[f"{'upload' if op == 'upload' else 'retrieve'} floor"]
            ratio = wall / statistics.median(v[0] for v in floor)
            print(f"{row:24s} {wall:.3f} s  cpu {cpu:.3f} s  {ratio:.2f}x floor  (n={len(values)})")


def files() -> list[str]:
    return [f"data/d{i // PER_DIR:04d}/f{i:06d}.bin" for i in range(COUNT)]


def cavorite(*args: str) -> list[str]:
    return [sys.executable, "-m", "cavorite_py", *args]


def git_init(repo: Path) -> None:
    subprocess.run(["git", "init", "-q", "."], cwd=repo, check=True)


def write_config(repo: Path, store: Path) -> None:
    options = {"backend_address": store.as_uri(), "metadata_file_extension": "cfile"}
    config = {"store_type": "localstore", "options": options}
    (repo / ".cavorite").mkdir(exist_ok=True)
    (repo / ".cavorite" / "config").write_text(json.dumps(config, indent=2) + "\n")


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user+sys) of ``cmd``, its children included."""
    started = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        print(f"FAILED: {' '.join(cmd)} in {cwd}", file=sys.stderr)
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cavorite-ab"))
    parser.add_argument("variants", nargs="+", help="NAME=SOURCE_TREE")
    args = parser.parse_args()
    variants = {k: str(Path(v).absolute()) for k, v in (v.split("=", 1) for v in args.variants)}
    for src in variants.values():
        trees = [f"{src}/cavorite_py", f"{src}/plugins/localstore"]
        subprocess.run([sys.executable, "-m", "compileall", "-q", *trees], check=False)
    bench = Bench(args.workdir.absolute(), variants)
    master = bench.master / "data"

    def store() -> Path:
        """The first variant's store (known once it has uploaded)."""
        return next(iter(bench.sources.values()))[1] / "data"

    uploads: list[Callable[[], None]] = [
        *(functools.partial(bench.upload, name) for name in variants),
        lambda: bench.floor("upload", master, "--metadata"),
        lambda: bench.rclone("upload", master),
    ]
    retrieves: list[Callable[[], None]] = [
        *(functools.partial(bench.retrieve, n, w) for n in variants for w in (False, True)),
        lambda: bench.floor("retrieve", store()),
        lambda: bench.rclone("retrieve", store()),
    ]
    for i in range(args.rounds):
        print(f"round {i}", flush=True)
        for steps in (uploads, retrieves):
            # the order turns each round: what the run before leaves (dirty pages, memory just
            # freed, files dropped from the page cache) falls on each row in turn
            k = i % len(steps)
            for step in steps[k:] + steps[:k]:
                step()
    bench.report()


if __name__ == "__main__":
    main()
