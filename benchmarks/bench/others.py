"""Other tools on the same workloads: rclone (local and S3) and DVC (local), installed by the
suite's set-up when missing (``bench/install.py``).

Each is run the way issue 20 compares with it: ``rclone copy --checksum --transfers 4`` (rclone's
own default number of transfers; ``--checksum`` compares by hash, not by size and date), and
``dvc add`` + ``dvc push`` / ``dvc pull`` with DVC's default settings. The S3 rows take the
number of transfers they are given (``bench/s3.py``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .report import Row
from .suite import Prepared, Step, Suite
from .workloads import DATA, Workload


def rclone_env(s: Suite, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    env["RCLONE_CONFIG"] = str(s.root / "rclone.conf")  # absent: rclone uses its defaults
    # a CA bundle for https makes rclone refuse the emulator's plain http endpoint
    env.pop("AWS_CA_BUNDLE", None)
    return env


def rclone_s3_flags(endpoint: str) -> list[str]:
    """An S3 remote given on the command line (``:s3:bucket/path``), credentials from the
    environment, path-style addressing as moto needs."""
    return [
        "--s3-provider",
        "Other",
        "--s3-env-auth",
        "--s3-endpoint",
        endpoint,
        "--s3-region",
        "us-east-1",
        "--s3-force-path-style",
    ]


RCLONE_TRANSFERS = 4
"""rclone's default, and the issue's comparison: ``rclone copy --checksum --transfers 4``"""


def rclone_flags(jobs: int) -> list[str]:
    return ["--checksum", "--transfers", str(jobs)]


def rclone_label(jobs: int) -> str:
    return f"rclone copy {' '.join(rclone_flags(jobs))}"


def rclone_copy(s: Suite, jobs: int) -> list[str]:
    assert s.tools.rclone is not None
    return [s.tools.rclone, "copy", *rclone_flags(jobs)]


def rclone_local(
    s: Suite, w: Workload, label: str, op: str, floors: list[Row], source: Callable[[], Path]
) -> Step | None:
    """``rclone copy`` from ``source()`` (the repository's data, or the store's) to a new dir."""
    if s.tools.rclone is None:
        return None
    jobs = RCLONE_TRANSFERS
    r = s.row("local", label, w, op, rclone_label(jobs))
    r.floors = floors
    r.notes.append("compares and hashes with MD5, writes no metadata files")

    def prepare(i: int) -> Prepared:
        out = s.dirs.fresh(f"{w.name}-rclone-{op}")
        cmd = [*rclone_copy(s, jobs), str(source()), str(out / DATA)]
        return Prepared(cmd, out, rclone_env(s, s.env), reread=source())

    return r, prepare


def dvc_local(
    s: Suite, w: Workload, label: str, floors_up: list[Row], first: dict[str, Path]
) -> tuple[Step, Callable[[list[Row]], Step | None]] | None:
    """``dvc add data && dvc push`` to a local remote, then ``dvc pull`` in a fresh clone.
    The first upload's repository and remote go into ``first`` (under ``dvc-repo`` and
    ``dvc-remote``), which the caller keeps until the retrieve rows have run."""
    dvc = s.tools.dvc
    if dvc is None:
        return None
    up = s.row("local", label, w, "upload", "dvc add + dvc push")
    up.floors = floors_up
    up.notes.append("hashes with MD5 and copies into .dvc/cache, then into the remote")

    def setup(repo: Path, remote: Path) -> None:
        for cmd in (
            [dvc, "init", "-q"],
            [dvc, "config", "core.analytics", "false"],
            [dvc, "remote", "add", "-d", "store", str(remote)],
        ):
            subprocess.run(cmd, cwd=repo, check=True, capture_output=True, env=s.env)

    def upload(i: int) -> Prepared:
        repo = s.fresh_repo(w, f"{w.name}-dvc-up")
        remote = s.dirs.fresh(f"{w.name}-dvc-remote")
        setup(repo, remote)
        first.setdefault("dvc-repo", repo)
        first.setdefault("dvc-remote", remote)
        script = f"{dvc} add -q {DATA} && {dvc} push -q"
        return Prepared(["sh", "-c", script], repo)

    def retrieve_step(floors_get: list[Row]) -> Step | None:
        if "dvc-repo" not in first or up.error:
            return None
        get = s.row("local", label, w, "retrieve", "dvc pull")
        get.floors = floors_get
        source = first["dvc-repo"]

        def prepare(i: int) -> Prepared:
            repo = s.dirs.fresh(f"{w.name}-dvc-get")
            (repo / ".dvc").mkdir()
            shutil.copy2(source / ".dvc" / "config", repo / ".dvc" / "config")
            shutil.copy2(source / f"{DATA}.dvc", repo / f"{DATA}.dvc")
            subprocess.run(["git", "init", "-q", "."], cwd=repo, check=True, env=s.env)
            return Prepared([dvc, "pull", "-q"], repo)

        return get, prepare

    return (up, upload), retrieve_step
