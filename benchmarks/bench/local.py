"""Sections on this machine alone: start-up, the local store, no-op runs, a million files."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from . import measure, others
from .measure import ChildFailed
from .report import Row, fmt_s
from .suite import FLOOR, Prepared, Step, Suite
from .tracked import Format, FormatChanged, generate_tracked, learn
from .workloads import DATA, Workload, generate_many, git_init, write_config

LOCAL = "localstore"


def startup(s: Suite) -> None:
    s.say("startup: cavorite --version and --help against python -c pass")
    where = s.dirs.fresh("startup")
    empty = s.dirs.fresh("startup-empty-repo")
    git_init(empty)
    write_config(empty, LOCAL, s.dirs.fresh("startup-store").as_uri())
    version = s.row("startup", "-", None, "start-up", "cavorite --version")
    help_row = s.row("startup", "-", None, "start-up", "cavorite --help (printed from its record)")
    help_first = s.row(
        "startup", "-", None, "start-up", "cavorite --help, first run (loads the CLI, records it)"
    )
    nothing = s.row("startup", "-", None, "start-up", "cavorite retrieve, empty repository")
    bare = s.row("startup", "-", None, "start-up", "python -c pass", floor=True)
    version.floors = help_row.floors = help_first.floors = nothing.floors = [bare]
    # help is recorded in the user cache by its first run: one cache recorded before the
    # rounds, and a new one for each first run
    recorded = {**s.env, "XDG_CACHE_HOME": str(s.dirs.fresh("startup-help-recorded"))}
    measure.run([s.tools.cavorite, "--help"], where, recorded, s.log)

    def first_help(i: int) -> Prepared:
        fresh = {**s.env, "XDG_CACHE_HOME": str(s.dirs.fresh(f"startup-help-first-{i}"))}
        return Prepared([s.tools.cavorite, "--help"], where, fresh)

    steps: list[Step] = [
        (bare, lambda i: Prepared([s.tools.python, "-c", "pass"], where)),
        (version, lambda i: Prepared([s.tools.cavorite, "--version"], where)),
        (help_row, lambda i: Prepared([s.tools.cavorite, "--help"], where, recorded)),
        (help_first, first_help),
        (nothing, lambda i: Prepared([s.tools.cavorite, "retrieve"], empty)),
    ]
    s.rounds(s.plan.startup_runs, steps, pause=0.05)
    s.marks["startup: help"] = help_row
    s.marks["startup: empty retrieve"] = nothing
    s.ratio_target("`cavorite --version` within 2x of a bare `python -c pass`", version, 2.0)
    shim = shutil.which("python3")
    if shim and Path(shim).resolve() != Path(s.tools.python).resolve():
        s.notes.append(
            f"The start-up floor runs the interpreter of the `cavorite` script ({s.tools.python})."
            f" `python3` on PATH here is {shim}, a different program (possibly a version-manager"
            " shim with start-up costs of its own), so it is not the floor."
        )
    if s.args.profile:
        import_profile(s, empty)


def import_profile(s: Suite, where: Path) -> None:
    """The modules a real command imports: ``-X importtime`` of ``cavorite retrieve`` in an empty
    repository (nothing to do, so the time is start-up and the store's loading)."""
    code = (
        "import sys\n"
        "sys.argv = ['cavorite', 'retrieve']\n"
        "from cavorite_py.__main__ import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [s.tools.python, "-X", "importtime", "-c", code],
        cwd=where,
        capture_output=True,
        text=True,
        check=False,
        env=s.env,
    )
    entries: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+\d+\s+\|\s+(\d+)\s+\|( *)(\S+)", line)
        if m:
            entries.append((int(m.group(1)), len(m.group(2)) // 2, m.group(3)))
    total = sum(us for us, depth, _ in entries if depth == 0)
    top = sorted((e for e in entries if e[1] <= 1), reverse=True)[:20]
    lines = [
        f"`-X importtime` of `cavorite retrieve` in an empty repository (start-up only):"
        f" {total / 1000:.0f} ms of imports in all. Largest top-level and second-level imports:",
        "",
        "| cumulative | module |",
        "|---|---|",
        *[f"| {us / 1000:.1f} ms | {'&nbsp;&nbsp;' * depth}{mod} |" for us, depth, mod in top],
    ]
    s.profile_texts.append(("CLI start-up imports", "\n".join(lines)))


# one complexity point over the limit: the upload and retrieve sections share their first
# runs' outputs through closures, which a split would only pass around
def local(s: Suite, w: Workload, label: str, large: bool) -> None:  # noqa: C901
    """Upload to and retrieve from the local store, then the no-op runs."""
    jobs = s.tools.local_jobs
    pause = s.plan.large_pause if large else 0.3
    runs = s.plan.runs
    threads = sorted({1, jobs})

    def copy_floors(op: str) -> list[Row]:
        """The copy floor rows of ``op``: with 1 thread, and with ``jobs`` when that differs
        (the same script measured twice, keeping the faster median, would hold cavorite to the
        luckier of two samples of one floor). Upload's floor also writes a metadata file
        beside each copy (issue 20's floor: an upload must write one per artifact)."""
        what = "copy+sha256 + metadata file" if op == "upload" else "copy+sha256"
        names = [f"floor: {what}, {t} thread{'s' * (t > 1)}" for t in threads]
        return [s.row("local", label, w, op, name, floor=True) for name in names]

    s.say(f"{label}: upload to the local store ({w.count} files, {w.mib:.0f} MiB)")
    up_cli = s.row("local", label, w, "upload", "cavorite CLI")
    up_api = s.row("local", label, w, "upload", "cavorite API", internal=True)
    floors = copy_floors("upload")
    f1, fj = floors[0], floors[-1]
    up_cli.floors = up_api.floors = floors
    # shown, not judged against: the same copy with the writes a safe upload cannot skip
    fs_up = s.row("local", label, w, "upload", "copy+sha256, linked into place + metadata file")
    first: dict[str, Path] = {}  # the first runs' outputs, which later sections use
    discard = (lambda path: path not in first.values()) if large else None

    def upload_cli(i: int) -> Prepared:
        repo = s.fresh_repo(w, f"{w.name}-upload-cli")
        store = s.dirs.fresh(f"{w.name}-store-cli")
        write_config(repo, LOCAL, store.as_uri())
        first.setdefault("repo", repo)
        first.setdefault("store", store)
        return Prepared(s.cav("upload", DATA), repo)

    def upload_api(i: int) -> Prepared:
        repo = s.fresh_repo(w, f"{w.name}-upload-api")
        write_config(repo, LOCAL, s.dirs.fresh(f"{w.name}-store-api").as_uri())
        return Prepared(s.api("upload", repo), repo)

    def floor_copy(
        threads: int, source: Path, name: str, *safe: str, row: Row | None = None
    ) -> Step:
        def prepare(i: int) -> Prepared:
            out = s.dirs.fresh(f"{w.name}-{name}")
            cmd = s.python(FLOOR, "copy", source, out / DATA, "--threads", str(threads), *safe)
            return Prepared(cmd, out)

        return (row or (f1 if threads == 1 else fj)), prepare

    steps: list[Step] = [
        (up_cli, upload_cli),
        *(floor_copy(t, w.master / DATA, "floor-up", "--metadata") for t in threads),
        floor_copy(jobs, w.master / DATA, "safe-up", "--safe", "--metadata", row=fs_up),
    ]
    if not s.args.no_api:
        steps.append((up_api, upload_api))
    rclone_up = others.rclone_local(s, w, label, "upload", floors, lambda: w.master / DATA)
    dvc = others.dvc_local(s, w, label, floors, first)
    steps += [step for step in (rclone_up, dvc[0] if dvc else None) if step is not None]
    s.rounds(runs, steps, pause, discard)
    if "repo" not in first or up_cli.error:
        s.say(f"{label}: cavorite's upload failed; no retrieve or no-op runs")
        return
    store, source = first["store"], first["repo"]
    address = store.as_uri()

    s.say(f"{label}: retrieve (verified) from the local store")
    re_cli = s.row("local", label, w, "retrieve", "cavorite CLI")
    re_api = s.row("local", label, w, "retrieve", "cavorite API", internal=True)
    floors = copy_floors("retrieve")
    f1, fj = floors[0], floors[-1]
    re_cli.floors = re_api.floors = floors
    fs_get = s.row("local", label, w, "retrieve", "copy+sha256, linked into place")

    def retrieve_cli(i: int) -> Prepared:
        repo = s.clone(source, w, f"{w.name}-retrieve-cli", LOCAL, address)
        first.setdefault("retrieved", repo)
        return Prepared(s.cav("retrieve"), repo)

    def retrieve_api(i: int) -> Prepared:
        repo = s.clone(source, w, f"{w.name}-retrieve-api", LOCAL, address)
        return Prepared(s.api("retrieve", repo), repo)

    # the same clone again, every byte from a warm content cache (a copy, or a reflink)
    warm = s.row("local", label, w, "retrieve", "cavorite CLI, warm cache")
    warm.floors = floors
    # local-store downloads enter the cache only when a reflink makes that free: this user
    # config has them always added, so that the first (untimed) retrieve fills the cache
    warm_config = s.dirs.fresh(f"{w.name}-warm-config")
    (warm_config / "cavorite").mkdir()
    (warm_config / "cavorite" / "config.json").write_text('{"cache": {"local_store": "always"}}')
    warm_env = {
        **s.env,
        "CAVORITE_CACHE_DIR": str(s.dirs.fresh(f"{w.name}-warm-cache")),
        "XDG_CONFIG_HOME": str(warm_config),
    }

    def retrieve_warm(i: int) -> Prepared:
        repo = s.clone(source, w, f"{w.name}-retrieve-warm", LOCAL, address)
        if i == 0:
            # fills the cache: not timed
            measure.run(s.cav("retrieve"), repo, warm_env, s.log)
            repo = s.clone(source, w, f"{w.name}-retrieve-warm", LOCAL, address)
        return Prepared(s.cav("retrieve"), repo, env=warm_env)

    steps = [
        (re_cli, retrieve_cli),
        (warm, retrieve_warm),
        *(floor_copy(t, store / DATA, "floor-get") for t in threads),
        floor_copy(jobs, store / DATA, "safe-get", "--safe", row=fs_get),
    ]
    if not s.args.no_api:
        steps.append((re_api, retrieve_api))
    rclone_get = others.rclone_local(s, w, label, "retrieve", floors, lambda: store / DATA)
    dvc_get = dvc[1](floors) if dvc else None
    steps += [step for step in (rclone_get, dvc_get) if step is not None]
    s.rounds(runs, steps, pause, discard)

    if large:
        s.ratio_target("large files, local upload: within 1.25x of the floor's time", up_cli, 1.25)
        s.ratio_target(
            "large files, local retrieve (verified): within 1.25x of the floor's time", re_cli, 1.25
        )
        measured = [r for r in (up_cli, re_cli) if r.series]
        peak = max((r.series.peak_rss_mib for r in measured), default=None)
        s.target(
            "large files: peak memory of the cavorite process",
            "< 100 MiB",
            "not measured" if peak is None else f"{peak:.0f} MiB (max of upload and retrieve)",
            None if peak is None else peak < 100,
        )
    for name, r in [("upload", up_cli), ("retrieve", re_cli), ("warm", warm)]:
        s.marks[f"{label}: {name}"] = r
    if "retrieved" in first:
        noop(s, w, label, first["retrieved"], runs, judge=True)


def first_runs(s: Suite, w: Workload, label: str, repo: Path, after: str, light: bool) -> Row:
    """The first no-op retrieve (it fills the state cache), timed apart; with ``light`` (the
    files were written, not uploaded) also the first upload, which learns each object's
    version (one stat each, remembered), so that the no-op upload rows measure every later
    one."""
    first = s.row(
        "local", label, w, f"first no-op retrieve after {after}", "cavorite CLI", moves_data=False
    )
    s.measure(first, Prepared(s.cav("retrieve"), repo, watch=None if light else repo / DATA))
    if light:
        op = "first no-op upload (learns the store's objects)"
        learn = s.row("local", label, w, op, "cavorite CLI", moves_data=False)
        s.measure(learn, Prepared(s.cav("upload", DATA), repo))
    return first


def noop(
    s: Suite,
    w: Workload,
    label: str,
    repo: Path,
    runs: int,
    judge: bool,
    after: str = "retrieve",
    light: bool = False,
) -> dict[str, Row]:
    """No-op retrieve, status and upload in ``repo``, where every artifact is present. With
    ``light`` (the scale section) the CLI rows only, and the first run is not watched (it reads
    every file, and the watch's reader would compete with it for the CPU)."""
    s.say(f"{label}: no-op runs ({w.count} files present)")
    watch = repo / DATA
    first = first_runs(s, w, label, repo, after, light)
    floor = s.row(
        "local", label, w, "no-op", "floor: parse cfiles + lstat", moves_data=False, floor=True
    )
    steps: list[Step] = [(floor, lambda i: Prepared(s.python(FLOOR, "noop", repo), repo))]
    ops: list[tuple[str, list[str], str | None]] = [
        ("no-op retrieve", s.cav("retrieve"), "retrieve")
    ]
    if s.tools.has_status:
        ops.append(("status", s.cav("status", jobs=False), "status"))
        if not light:
            tracked = s.cav("status", DATA, jobs=False)
            ops.append(("status data (tracked files only)", tracked, None))
    ops.append(("no-op upload", s.cav("upload", DATA), "upload"))
    made: dict[str, Row] = {}
    for op, cmd, api_op in ops:
        r = s.row("local", label, w, op, "cavorite CLI", moves_data=False)
        r.floors = [floor]
        made[op] = r
        steps.append((r, lambda i, cmd=cmd: Prepared(cmd, repo, watch=watch)))
        if api_op is not None and not (s.args.no_api or light):
            a = s.row("local", label, w, op, "cavorite API", moves_data=False, internal=True)
            a.floors = [floor]
            made[f"{op} (API)"] = a
            steps.append((a, lambda i, op=api_op: Prepared(s.api(op, repo), repo, watch=watch)))
    s.rounds(runs, steps, pause=0.2)
    s.marks[f"{label}: floor"] = floor

    clean: dict[str, bool | None] = {}
    for name, r in [("first", first), *made.items()]:
        s.marks[f"{label}: {name}"] = r
        clean[name] = s.check_reads(r, w)
    if first.series and clean["first"] is False and after == "retrieve":
        a = s.access(first) or {}
        s.notes.append(
            f"{label}: the first no-op retrieve right after a retrieve opened "
            f"{a.get('artifacts_opened', '?')} of {w.count} artifacts: the state cache does not "
            "trust a hash taken less than RACY_NS after the file's mtime, and retrieve records "
            "each hash just after writing the file, so every retrieved file is hashed once more."
        )
    if not judge:
        return made
    for op in ("no-op retrieve", "status"):
        r = made.get(op)
        if r is None:
            s.target(f"{label}: no-op {op} under 0.3 s", "< 0.3 s", "no `status` command", None)
            continue
        secs = r.seconds()
        ok = clean.get(op)
        if r.error:
            s.target(
                f"{label}: {op} over {w.count:,} present files",
                "< 0.3 s",
                f"failed: {r.error}",
                False,
            )
            continue
        s.target(
            f"{label}: {op} over {w.count:,} present files under 0.3 s, reading no file contents",
            "< 0.3 s; no artifact opened",
            f"{fmt_s(secs)}; "
            + (
                "no artifact opened" if ok else "artifacts opened" if ok is False else "not watched"
            ),
            None if secs is None or ok is None else secs < 0.3 and ok,
        )
    r = made.get("no-op upload")
    if r is not None and r.series:
        ok = clean.get("no-op upload")
        s.target(
            f"{label}: repeated upload of unchanged files reads no file contents",
            "no artifact opened",
            f"{fmt_s(r.seconds())}; "
            + (
                "no artifact opened" if ok else "artifacts opened" if ok is False else "not watched"
            ),
            ok,
        )
    return made


def scale(s: Suite) -> None:
    """A million files (``--scale-files``): how no-op runs scale in time and memory, and how
    fast new files are uploaded into a repository that size."""
    n = s.plan.scale_files
    label = f"{n:,} files"
    s.scale_label = label
    fmt = _learn_format(s)
    if fmt is None:
        return
    repo = s.dirs.fresh("scale")
    store = s.dirs.fresh("scale-store")
    s.say(f"scale: writing {n:,} files of 64 bytes as an upload leaves them (cfiles, store)")
    started = time.monotonic()
    w = generate_tracked(repo, store, "scale", n, 64, SCALE_PER_DIR, fmt)
    git_init(repo)
    write_config(repo, LOCAL, store.as_uri())
    s.describe(w, label)
    s.notes.append(
        f"{label}: the repository was written directly, as `cavorite upload` leaves it (each "
        "file with its cfile, its `.gitignore` line and its store object, the format checked "
        "byte for byte against a real upload of three files first), in "
        f"{time.monotonic() - started:.0f} s, not uploaded: its state cache starts empty, as in "
        "a fresh clone, and the first no-op retrieve fills it (its own row)."
    )
    measure.settle(1.0)
    after = "the files were written (empty state cache: hashes every file)"
    made = noop(s, w, label, repo, s.plan.scale_runs, judge=False, after=after, light=True)
    git_row = s.row("local", label, w, "status's git query", "git ls-files", moves_data=False)
    git_row.notes.append("the untracked-file query `cavorite status` runs, alone")
    git_cmd = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."]
    s.measure(git_row, Prepared(git_cmd, repo), timeout=1800)
    status = made.get("status")
    if status is not None and status.seconds() is not None and git_row.seconds() is not None:
        s.notes.append(
            f"{label}: `cavorite status` took {fmt_s(status.seconds())}; the "
            f"`git ls-files --others --exclude-standard` it runs took {fmt_s(git_row.seconds())} "
            "on its own (in parallel with cavorite's own work)."
        )
    new_files(s, label, repo)


SCALE_PER_DIR = 1000
NEW_TOP = "new"
"""the directory of the scale repository that receives the new files"""


def new_files(s: Suite, label: str, repo: Path) -> None:
    """Upload of new files into the scale repository: ``--scale-new-files`` of 64 bytes in a
    directory of their own (uploading a million new files would take most of an hour), timed
    once; the rate is compared with the 2,000-file upload's in the targets."""
    count = s.plan.scale_new_files
    if count <= 0:
        return
    s.say(f"scale: upload of {count:,} new files into the {label} repository")
    nw = generate_many(repo.parent, repo.name, count, 64, per_dir=SCALE_PER_DIR, top=NEW_TOP)
    measure.settle(1.0)
    op = f"upload of {count:,} new files into it (1 run)"
    r = s.row("local", label, nw, op, "cavorite CLI")
    r.notes.append(f"`cavorite upload {NEW_TOP}`: {count:,} new files of 64 B, {label} tracked")
    s.marks[f"{label}: new files"] = r
    s.measure(r, Prepared(s.cav("upload", NEW_TOP), repo), timeout=3600)


def _learn_format(s: Suite) -> Format | None:
    """What a real ``cavorite upload`` writes for three files, checked against the generator."""
    repo = s.dirs.fresh("scale-template")
    store = s.dirs.fresh("scale-template-store")
    w = generate_many(repo.parent, repo.name, 3, 64)
    git_init(repo)
    write_config(repo, LOCAL, store.as_uri())
    try:
        measure.run(s.cav("upload", DATA), repo, s.cold_env(), s.log)
        return learn(repo, store, w.files)
    except (ChildFailed, FormatChanged, OSError) as exc:
        s.notes.append(f"scale section not run: {exc}")
        s.say(f"FAILED: scale: {exc}")
        return None


def profile(s: Suite, w: Workload, label: str, noop_too: bool) -> None:
    """cProfile of the API path with --jobs 1 (cProfile sees one thread)."""
    s.profiles.mkdir(exist_ok=True)
    s.say(f"profile: {label} through the API, --jobs 1")
    repo = s.fresh_repo(w, f"{w.name}-profile-up")
    store = s.dirs.fresh(f"{w.name}-profile-store")
    write_config(repo, LOCAL, store.as_uri())
    run_profile(s, f"{label}: upload to the local store", "upload", repo, w.name)
    clone = s.clone(repo, w, f"{w.name}-profile-get", LOCAL, store.as_uri())
    run_profile(s, f"{label}: retrieve from the local store", "retrieve", clone, w.name)
    if noop_too:
        measure.settle(0.3)
        run_profile(
            s, f"{label}: first no-op retrieve after retrieve", "retrieve", clone, w.name, "first"
        )
        run_profile(s, f"{label}: no-op retrieve, cache warm", "retrieve", clone, w.name, "noop")
        if s.tools.has_status:
            run_profile(s, f"{label}: status", "status", clone, w.name)


def run_profile(
    s: Suite,
    title: str,
    op: str,
    repo: Path,
    name: str,
    suffix: str = "",
    env: dict[str, str] | None = None,
) -> None:
    out = s.profiles / f"{name}-{op}{'-' + suffix if suffix else ''}"
    try:
        sample = measure.run(s.api(op, repo, profile=out), repo, env or s.env, s.log)
    except ChildFailed as exc:
        s.profile_texts.append((title, f"failed: {exc}"))
        return
    text = Path(f"{out}.txt").read_text() if Path(f"{out}.txt").exists() else ""
    seconds = sample.reported.get("seconds", 0.0)
    s.profile_texts.append(
        (
            f"{title} (API, --jobs 1, under cProfile: {seconds:.3f} s)",
            f"Raw profile: `{out.name}.prof`.\n\n```\n{_trim(text)}\n```",
        )
    )


def _trim(text: str, per_table: int = 18) -> str:
    """The headings and the first rows of each pstats table."""
    out: list[str] = []
    rows = 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("Ordered by", "List reduced", "# ")):
            continue
        if stripped.startswith(("##", "ncalls")) or "function calls" in stripped:
            rows = 0
        elif rows >= per_table:
            continue
        else:
            rows += 1
        out.append(line.rstrip())
    return "\n".join(out)
