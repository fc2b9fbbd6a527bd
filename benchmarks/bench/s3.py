"""Sections against the S3 emulator: upload, retrieve, re-upload, no-op, with request counts."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from .emulator import MotoServer, s3_env
from .local import run_profile
from .others import rclone_copy, rclone_env, rclone_label, rclone_s3_flags
from .report import Row, fmt_bytes
from .suite import MOTO_NOTE, S3_FLOOR, Prepared, Step, Suite
from .workloads import DATA, Workload, write_config

_buckets = itertools.count()


def s3(s: Suite, moto: MotoServer, w: Workload, label: str, large: bool) -> None:
    """Upload, retrieve, then (small files only) re-upload of unchanged files and a no-op
    retrieve, and with ``--profile`` a profile of each direction."""
    run = _S3Sections(s, moto, w, label, large)
    run.upload()
    uploaded = run.retrieve()
    if large or not uploaded:
        return
    run.reupload()
    run.noop_retrieve()
    run.profile()


class _S3Sections:
    """What the sections of one workload share: its suite, emulator, tools, and what the first
    runs left behind (``first``: the repository and buckets of the first upload, the repository
    of the first retrieve)."""

    def __init__(self, s: Suite, moto: MotoServer, w: Workload, label: str, large: bool) -> None:
        self.s, self.moto, self.w, self.label, self.large = s, moto, w, label, large
        self.env = s3_env(s.env)
        # the emulator is an endpoint the repositories' configs name: approved as a user would
        allowed = self.env["CAVORITE_ALLOW_ENDPOINT"]
        self.env["CAVORITE_ALLOW_ENDPOINT"] = f"{allowed},{moto.endpoint}"
        self.jobs = s.tools.s3_jobs
        self.runs = s.plan.s3_runs
        self.ep = moto.endpoint
        self.usable = s.tools.s3_store is None
        self.aws = s.tools.aws
        self.rclone = s.tools.rclone is not None
        self.renv = rclone_env(s, self.env)
        self.rflags = rclone_s3_flags(self.ep)
        self.first: dict[str, str] = {}
        self.get_bucket = ""
        self.up_cli: Row | None = None

    def bucket(self, kind: str) -> str:
        name = f"b{next(_buckets):05d}-{kind}"
        self.moto.create_bucket(name)
        return name

    def floor_cmd(self, mode: str, *args: str | Path) -> list[str]:
        return self.s.python(
            S3_FLOOR,
            mode,
            self.w.master,
            *args,
            "--endpoint",
            self.ep,
            "--threads",
            str(self.jobs),
        )

    def row(self, op: str, subject: str, **kwargs: bool) -> Row:
        return self.s.row("s3", self.label, self.w, op, subject, **kwargs)

    # ------------------------------------------------------------- upload

    def upload(self) -> None:
        s, w, env, jobs, ep, aws, first = (
            self.s,
            self.w,
            self.env,
            self.jobs,
            self.ep,
            self.aws,
            self.first,
        )
        s.say(f"{self.label}: upload to S3 (moto) ({w.count} files, {w.mib:.0f} MiB)")
        up_cli = self.up_cli = self.row("upload", "cavorite CLI")
        up_api = self.row("upload", "cavorite API", internal=True)
        fput = self.row("upload", f"floor: boto3 put loop, {jobs} threads", floor=True)
        aws_up = self.row("upload", "aws s3 cp --recursive")
        up_cli.floors = up_api.floors = aws_up.floors = [fput]

        def upload_cli(i: int) -> Prepared:
            repo = s.fresh_repo(w, f"{w.name}-s3-upload-cli")
            b = self.bucket("cli")
            write_config(repo, "s3", f"{ep}/{b}")
            first.setdefault("repo", str(repo))
            first.setdefault("bucket", b)
            return Prepared(s.cav("upload", DATA), repo, env)

        def upload_api(i: int) -> Prepared:
            repo = s.fresh_repo(w, f"{w.name}-s3-upload-api")
            write_config(repo, "s3", f"{ep}/{self.bucket('api')}")
            return Prepared(s.api("upload", repo), repo, env)

        def floor_put(i: int) -> Prepared:
            return Prepared(self.floor_cmd("put", self.bucket("floor")), w.master, env)

        def aws_put(i: int) -> Prepared:
            assert aws is not None
            cmd = [aws, "s3", "cp", "--recursive", "--quiet", "--endpoint-url", ep, DATA]
            return Prepared([*cmd, f"s3://{self.bucket('aws')}/{DATA}"], w.master, env)

        steps: list[Step] = [(fput, floor_put)]
        if self.usable:
            steps.append((up_cli, upload_cli))
            if not s.args.no_api:
                steps.append((up_api, upload_api))
        else:
            up_cli.error = f"cavorite's S3 store cannot be loaded ({s.tools.s3_store})"
        if aws:
            steps.append((aws_up, aws_put))
        rc_up = self.row("upload", rclone_label(jobs))
        rc_up.floors = [fput]

        def rclone_put(i: int) -> Prepared:
            b = self.bucket("rclone")
            first.setdefault("rclone_bucket", b)
            cmd = [*rclone_copy(s, jobs), *self.rflags, DATA, f":s3:{b}/{DATA}"]
            return Prepared(cmd, w.master, self.renv, reread=w.master / DATA)

        if self.rclone:
            steps.append((rc_up, rclone_put))
        s.rounds(self.runs, steps)
        requests(s, w, [up_cli, up_api, fput, aws_up, rc_up])
        if not self.large:
            s.ratio_target(
                "S3 emulator, many small files: upload within 1.1x of the plain boto3 put loop",
                up_cli,
                1.1,
            )

    # ------------------------------------------------------------- retrieve

    def retrieve(self) -> bool:
        """Retrieve rows; whether cavorite's upload worked (so that there is one to go on
        with)."""
        s, w, env, jobs, ep, aws, first = (
            self.s,
            self.w,
            self.env,
            self.jobs,
            self.ep,
            self.aws,
            self.first,
        )
        up_cli = self.up_cli
        assert up_cli is not None
        uploaded = not up_cli.error and bool(up_cli.series)
        source_bucket = first.get("bucket") if uploaded else None
        floor_bucket = self.bucket("floor-src")
        seed = Row("s3", self.label, "seed", "floor", w.count, w.total_bytes)
        s.measure(seed, Prepared(self.floor_cmd("put", floor_bucket), w.master, env))
        get_bucket = self.get_bucket = source_bucket or floor_bucket
        s.say(f"{self.label}: retrieve (verified) from S3")
        re_cli = self.row("retrieve", "cavorite CLI")
        re_api = self.row("retrieve", "cavorite API", internal=True)
        fget = self.row("retrieve", f"floor: boto3 get loop, {jobs} threads", floor=True)
        franged = self.row(
            "retrieve", f"floor: boto3 download_file (ranged), {jobs} threads", floor=True
        )
        aws_get = self.row("retrieve", "aws s3 cp --recursive")
        re_cli.floors = re_api.floors = aws_get.floors = [fget, franged]

        def clone(kind: str) -> Path:
            return s.clone(
                Path(first["repo"]), w, f"{w.name}-s3-{kind}", "s3", f"{ep}/{get_bucket}"
            )

        def retrieve_cli(i: int) -> Prepared:
            repo = clone("retrieve-cli")
            first.setdefault("retrieved", str(repo))
            return Prepared(s.cav("retrieve"), repo, env)

        def retrieve_api(i: int) -> Prepared:
            repo = clone("retrieve-api")
            return Prepared(s.api("retrieve", repo), repo, env)

        def aws_get_cmd(i: int) -> Prepared:
            assert aws is not None
            out = s.dirs.fresh(f"{w.name}-s3-aws-get")
            cmd = [aws, "s3", "cp", "--recursive", "--quiet", "--endpoint-url", ep]
            return Prepared([*cmd, f"s3://{get_bucket}/{DATA}", DATA], out, env)

        steps: list[Step] = [(fget, self.floor_get(get_bucket, False))]
        if self.large:
            steps.append((franged, self.floor_get(get_bucket, True)))
        if self.usable and uploaded:
            steps.append((re_cli, retrieve_cli))
            if not s.args.no_api:
                steps.append((re_api, retrieve_api))
        else:
            re_cli.error = f"no cavorite upload to retrieve ({up_cli.error or 'not run'})"
        if aws:
            steps.append((aws_get, aws_get_cmd))
        rc_get = self.row("retrieve", rclone_label(jobs))
        rc_get.floors = [fget, franged]

        def rclone_get(i: int) -> Prepared:
            out = s.dirs.fresh(f"{w.name}-s3-rclone-get")
            cmd = [*rclone_copy(s, jobs), *self.rflags, f":s3:{get_bucket}/{DATA}", DATA]
            return Prepared(cmd, out, self.renv)

        if self.rclone:
            steps.append((rc_get, rclone_get))
        s.rounds(self.runs, steps)
        requests(s, w, [re_cli, re_api, fget, franged, aws_get, rc_get])
        if self.large:
            self.large_targets(re_cli, rc_get)
        return uploaded

    def floor_get(self, get_bucket: str, ranged: bool) -> Callable[[int], Prepared]:
        def prepare(i: int) -> Prepared:
            out = self.s.dirs.fresh(f"{self.w.name}-s3-floor-get")
            cmd = self.floor_cmd("get", get_bucket, out)
            return Prepared([*cmd, "--ranged"] if ranged else cmd, out, self.env)

        return prepare

    def large_targets(self, re_cli: Row, rc_get: Row) -> None:
        """The retrieve and peak memory targets and the note on moto's ranged GETs, for large
        files."""
        up_cli = self.up_cli
        assert up_cli is not None
        s, label = self.s, self.label
        measured = [r for r in (up_cli, re_cli) if r.series]
        peak = max((r.series.peak_rss_mib for r in measured), default=None)
        s.target(
            f"{label}: peak memory of the cavorite process",
            "< 100 MiB",
            "not measured"
            if peak is None
            else f"upload {up_cli.series.peak_rss_mib if up_cli.series else 0:.0f} MiB, "
            f"retrieve {re_cli.series.peak_rss_mib if re_cli.series else 0:.0f} MiB",
            None if peak is None else peak < 100,
        )
        s.notes.append(
            f"{label}: {MOTO_NOTE} So cavorite's retrieve is shown next to both the single-stream "
            "GetObject loop and boto3's ranged download_file."
        )

    # ------------------------------------------------------------- re-upload, nothing changed

    def reupload(self) -> None:
        s, w, env, jobs, ep, aws = self.s, self.w, self.env, self.jobs, self.ep, self.aws
        repo = Path(self.first["repo"])
        get_bucket = self.get_bucket
        op = "re-upload (unchanged)"
        s.say(f"{self.label}: re-upload of unchanged files (must send nothing)")
        again = self.row(op, "cavorite CLI", moves_data=False)
        again_api = self.row(op, "cavorite API", moves_data=False, internal=True)
        fhead = self.row(
            op, f"floor: boto3 head loop, {jobs} threads", moves_data=False, floor=True
        )
        flist = self.row(op, "floor: one paginated listing", moves_data=False, floor=True)
        aws_sync = self.row(op, "aws s3 sync --exclude '*.cfile'", moves_data=False)
        again.floors = again_api.floors = aws_sync.floors = [fhead, flist]
        steps: list[Step] = [
            (again, lambda i: Prepared(s.cav("upload", DATA), repo, env, watch=None)),
            (fhead, lambda i: Prepared(self.floor_cmd("head", get_bucket), repo, env)),
            (flist, lambda i: Prepared(self.floor_cmd("list", get_bucket), repo, env)),
        ]
        if not s.args.no_api:
            steps.append((again_api, lambda i: Prepared(s.api("upload", repo), repo, env)))
        if aws:
            sync = [aws, "s3", "sync", "--quiet", "--endpoint-url", ep, "--exclude", "*.cfile"]
            steps.append(
                (
                    aws_sync,
                    lambda i: Prepared([*sync, DATA, f"s3://{get_bucket}/{DATA}"], repo, env),
                )
            )
        rc_again = self.row(op, "rclone copy (to its own upload)", moves_data=False)
        rc_again.floors = [fhead, flist]
        rclone_bucket = self.first.get("rclone_bucket")
        if rclone_bucket:
            cmd = [*rclone_copy(s, jobs), *self.rflags, DATA, f":s3:{rclone_bucket}/{DATA}"]
            reread = w.master / DATA
            steps.append((rc_again, lambda i: Prepared(cmd, w.master, self.renv, reread=reread)))
        s.rounds(self.runs, steps)
        requests(s, w, [again, again_api, fhead, flist, aws_sync, rc_again])
        self.nothing_sent_target([again, again_api])

    def nothing_sent_target(self, rows: list[Row]) -> None:
        """The target: re-uploading unchanged files sends no write and no body byte."""
        counts = [x.reported.get("server", {}) for r in rows for x in r.series.samples]
        writes = sum(c.get("requests", {}).get(m, 0) for c in counts for m in ("PUT", "POST"))
        body = sum(sum(c.get("declared_body_bytes", {}).values()) for c in counts)
        received = sum(sum(c.get("received_body_bytes", {}).values()) for c in counts)
        self.s.target(
            "S3: re-uploading unchanged files sends zero bytes",
            "0 PUT/POST, 0 body bytes",
            f"{writes} PUT/POST requests, {body + received} body bytes, over {len(counts)} runs "
            f"(CLI and API) of {self.w.count:,} files, counted at the emulator"
            if counts
            else "not measured",
            None if not counts else writes == 0 and body == 0 and received == 0,
        )

    # ------------------------------------------------------------- no-op retrieve

    def noop_retrieve(self) -> None:
        if "retrieved" not in self.first:
            return
        s, w, env = self.s, self.w, self.env
        retrieved = Path(self.first["retrieved"])
        s.say(f"{self.label}: no-op retrieve (everything present; the store need not be asked)")
        warm = Row("s3", self.label, "warm-up", "cavorite CLI", w.count, 0)
        s.measure(warm, Prepared(s.cav("retrieve"), retrieved, env))
        noop_cli = self.row("no-op retrieve", "cavorite CLI", moves_data=False)
        s.rounds(
            self.runs,
            [
                (
                    noop_cli,
                    lambda i: Prepared(s.cav("retrieve"), retrieved, env, watch=retrieved / DATA),
                )
            ],
        )
        requests(s, w, [noop_cli])
        s.check_reads(noop_cli, w)

    # ------------------------------------------------------------- profile

    def profile(self) -> None:
        s, w, env, ep, label = self.s, self.w, self.env, self.ep, self.label
        if not (s.args.profile and self.usable):
            return
        s.profiles.mkdir(exist_ok=True)
        s.say(f"profile: {label} through the API, --jobs 1")
        b = self.bucket("profile")
        repo = s.fresh_repo(w, f"{w.name}-s3-profile-up")
        write_config(repo, "s3", f"{ep}/{b}")
        run_profile(s, f"{label}: upload to S3", "upload", repo, "s3", env=env)
        clone_repo = s.clone(repo, w, f"{w.name}-s3-profile-get", "s3", f"{ep}/{b}")
        run_profile(s, f"{label}: retrieve from S3", "retrieve", clone_repo, "s3", env=env)


def requests(s: Suite, w: Workload, rows: list[Row]) -> None:
    """Add each row's request counts (median run) to the report."""
    for r in rows:
        samples = sorted(
            (x for x in r.series.samples if "server" in x.reported), key=lambda x: x.seconds
        )
        if not samples:
            continue
        x = samples[len(samples) // 2]
        req = x.reported["server"].get("requests", {})
        declared = x.reported["server"].get("declared_body_bytes", {})
        total = sum(req.values())
        cpu = x.reported.get("server_cpu")
        s.requests.append(
            [
                r.workload,
                r.op,
                r.subject,
                *(str(req.get(m, 0)) for m in ("PUT", "POST", "GET", "HEAD")),
                f"{total / max(1, w.count):.2f}",
                fmt_bytes(declared.get("PUT", 0) + declared.get("POST", 0)),
                "-" if cpu is None else f"{cpu:.2f} s",
            ]
        )
        r.notes.append(f"{total / max(1, w.count):.2f} requests/file")
        if cpu is not None:
            r.notes.append(f"emulator CPU {cpu:.1f} s")
