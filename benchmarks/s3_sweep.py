"""Sweep of the S3 store's transfer settings on large files, against rclone in the same loop.

Starts the benchmark's S3 emulator (moto with its request counter) and, with ``--latency-ms``,
the loopback latency proxy in front of it (:mod:`latency_proxy`). Then, in interleaved rounds
(every setting, then rclone, then again), ``cavorite upload`` of ``--files`` files of
``--size-mib`` MiB into a new bucket, and ``cavorite retrieve`` of them into a fresh clone with an
empty content cache; rclone copies the same files up and back down. Prints, per setting, the
median times and the requests per file counted at the emulator, and the ratio to rclone's
median of the same rounds.

A setting is ``name:option=value,option=value`` with the S3 store's options (bytes for sizes):
``multipart_threshold``, ``multipart_chunksize``, ``download_chunksize``, ``max_concurrency``...

Usage: ``python benchmarks/s3_sweep.py --runs 3 --latency-ms 50 'single:multipart_threshold=...'``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.emulator import MotoServer, s3_env
from bench.others import rclone_s3_flags
from bench.workloads import DATA, copy_cfiles, generate_large, git_init, write_config

HERE = Path(__file__).resolve().parent
Setting = tuple[str, dict[str, int]]


def parse_setting(text: str) -> Setting:
    name, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        options[key] = int(value)
    return name, options


def start_proxy(
    target: int, delay_ms: float, rate_mib: float, lifetime: float
) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "latency_proxy.py"),
            str(target),
            "--delay-ms",
            str(delay_ms),
            "--rate-mib",
            str(rate_mib),
            "--lifetime",
            str(lifetime),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


class Sweep:
    def __init__(self, args: argparse.Namespace, root: Path, moto: MotoServer, endpoint: str):
        self.args, self.root, self.moto, self.endpoint = args, root, moto, endpoint
        self.env = s3_env(dict(os.environ))
        self.env["CAVORITE_ALLOW_ENDPOINT"] = endpoint
        self.workload = generate_large(
            root, "master", args.files, int(args.size_mib * (1 << 20)), "sweep files"
        )
        self.cavorite = str(Path(sys.executable).parent / "cavorite")
        self.rclone = shutil.which("rclone")
        self.n = 0
        self.results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        self.methods: dict[tuple[str, str], dict[str, int]] = {}
        """the requests of the last run of each setting and operation, by method"""

    def fresh(self, label: str) -> Path:
        self.n += 1
        path = self.root / f"{self.n:04d}-{label}"
        path.mkdir()
        return path

    def bucket(self) -> str:
        self.n += 1
        name = f"sweep{self.n:05d}"
        self.moto.create_bucket(name)
        return name

    def timed(self, key: tuple[str, str], cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.moto.reset_counts()
        started = time.perf_counter()
        done = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        counts = self.moto.counts()["requests"]
        per_file = sum(counts.values()) / self.args.files
        self.methods[key] = counts
        self.results.setdefault(key, []).append((seconds, per_file))

    def cavorite_round(self, name: str, options: dict[str, int]) -> None:
        w = self.workload
        repo = self.fresh(f"{name}-up")
        shutil.copytree(w.master / DATA, repo / DATA)
        git_init(repo)
        address = f"{self.endpoint}/{self.bucket()}"
        write_config(repo, "s3", address, **options)
        env = {**self.env, "CAVORITE_CACHE_DIR": str(self.fresh("cache"))}
        jobs = ["--jobs", str(self.args.jobs)]
        self.timed((name, "upload"), [self.cavorite, "upload", DATA, *jobs], repo, env)
        clone = self.fresh(f"{name}-get")
        copy_cfiles(repo, w, clone)
        git_init(clone)
        write_config(clone, "s3", address, **options)
        env = {**self.env, "CAVORITE_CACHE_DIR": str(self.fresh("cache"))}
        self.timed((name, "retrieve"), [self.cavorite, "retrieve", *jobs], clone, env)
        shutil.rmtree(repo)
        shutil.rmtree(clone)

    def rclone_round(self) -> None:
        assert self.rclone is not None
        env = {**self.env, "RCLONE_CONFIG": str(self.root / "rclone.conf")}
        # the endpoint is plain http: a CA bundle named here only makes rclone refuse to start
        env.pop("AWS_CA_BUNDLE", None)
        jobs = str(self.args.jobs)
        base = [self.rclone, "copy", "--transfers", jobs, "--checkers", jobs]
        base += rclone_s3_flags(self.endpoint)
        bucket = self.bucket()
        w = self.workload
        self.timed(("rclone", "upload"), [*base, DATA, f":s3:{bucket}/{DATA}"], w.master, env)
        out = self.fresh("rclone-get")
        self.timed(("rclone", "retrieve"), [*base, f":s3:{bucket}/{DATA}", DATA], out, env)
        shutil.rmtree(out)

    def run(self, settings: list[Setting]) -> None:
        for i in range(self.args.runs):
            for name, options in settings:
                self.cavorite_round(name, options)
            if self.rclone:
                self.rclone_round()
            self.moto.reset_all()
            print(f"round {i + 1} of {self.args.runs} done", file=sys.stderr, flush=True)

    def report(self, settings: list[Setting]) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        names = [name for name, _ in settings] + (["rclone"] if self.rclone else [])
        for op in ("upload", "retrieve"):
            rc = self.results.get(("rclone", op))
            rc_median = statistics.median(s for s, _ in rc) if rc else None
            for name in names:
                key = (name, op)
                samples = self.results[key]
                median = statistics.median(s for s, _ in samples)
                rows.append(
                    {
                        "setting": name,
                        "op": op,
                        "median_s": round(median, 3),
                        "all_s": [round(s, 3) for s, _ in samples],
                        "requests_per_file": statistics.median(r for _, r in samples),
                        "methods": " ".join(
                            f"{m} {c}" for m, c in sorted(self.methods[key].items())
                        ),
                        "vs_rclone": round(median / rc_median, 2) if rc_median else None,
                    }
                )
        return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("settings", nargs="+", help="name:option=value,...")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--size-mib", type=float, default=64.0)
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate-mib", type=float, default=0.0, help="MiB/s per connection")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    settings = [parse_setting(s) for s in args.settings]
    with tempfile.TemporaryDirectory(prefix="s3sweep-") as tmp:
        root = Path(tmp)
        with MotoServer(sys.executable, root / "moto.log") as moto:
            proxy = None
            endpoint = moto.endpoint
            if args.latency_ms or args.rate_mib:
                proxy, port = start_proxy(moto.port, args.latency_ms, args.rate_mib, 3600)
                endpoint = f"http://127.0.0.1:{port}"
            try:
                sweep = Sweep(args, root, moto, endpoint)
                sweep.run(settings)
                rows = sweep.report(settings)
            finally:
                if proxy is not None:
                    proxy.terminate()
                    proxy.wait()
    rate = f", {args.rate_mib:g} MiB/s per connection" if args.rate_mib else ""
    print(
        f"# latency {args.latency_ms:g} ms{rate}, {args.files} x {args.size_mib:g} MiB, "
        f"{args.runs} runs"
    )
    print("| setting | op | median s | runs | requests/file (last run's) | vs rclone |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['setting']} | {r['op']} | {r['median_s']} | {r['all_s']} | "
            f"{r['requests_per_file']} ({r['methods']}) | {r['vs_rclone']} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": None}, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
