"""Issue 20's targets, judged once every section has run, from the rows they measured.

Each target names the rows it compares; a target whose rows were not measured (section not run,
tool missing, a failure) is reported n/a with the reason, never dropped.
"""

from __future__ import annotations

from .report import Row, fmt_ratio, fmt_s
from .suite import Suite

SMALL = "small"
S3_LARGE = "S3 large"
MEMORY_MIB = 300.0


def judge(s: Suite) -> None:
    small_local(s)
    s3_large(s)
    scale(s)
    fixed_cost(s)
    warm_cache(s)
    others_measured(s)


def find(s: Suite, section: str, workload: str, op: str, prefix: str) -> Row | None:
    """The first row of ``section``/``workload``/``op`` whose subject starts with ``prefix``."""
    for r in s.rows:
        if (r.section, r.workload, r.op) == (section, workload, op) and r.subject.startswith(
            prefix
        ):
            return r
    return None


def _missing(r: Row | None, what: str) -> str | None:
    """Why ``r`` gives no figure, or None when it has one."""
    if r is None:
        return f"{what}: not run"
    if r.error:
        return f"{what} failed: {r.error}"
    if r.seconds() is None:
        return f"{what}: not measured"
    return None


def versus(s: Suite, name: str, mine: Row | None, other: Row | None, limit: float) -> None:
    """``mine``'s time at most ``limit`` times ``other``'s, both wall times of the same rounds."""
    why = _missing(mine, "cavorite") or _missing(other, "the tool compared with")
    threshold = f"<= {limit:.2f}x"
    if why is not None or mine is None or other is None:
        s.goal(name, threshold, why or "not measured", None)
        return
    a, b = mine.seconds(), other.seconds()
    assert a is not None and b is not None
    ratio = a / b
    s.goal(
        name,
        threshold,
        f"{fmt_s(a)} vs {fmt_s(b)} ({other.subject}): {fmt_ratio(ratio)}",
        ratio <= limit,
    )


def floor_ratio(s: Suite, name: str, r: Row | None, limit: float, floor_kind: str) -> None:
    threshold = f"<= {limit:.2f}x {floor_kind}"
    why = _missing(r, "cavorite")
    if why is not None or r is None:
        s.goal(name, threshold, why or "not measured", None)
        return
    ratio = r.ratio()
    s.goal(name, threshold, s.vs_floor(r), None if ratio is None else ratio <= limit)


def _small(s: Suite) -> str:
    return f"{s.plan.small_files:,} x {s.plan.small_size // 1024} KiB"


def small_local(s: Suite) -> None:
    for op in ("upload", "retrieve"):
        mine = s.marks.get(f"{SMALL}: {op}")
        rclone = find(s, "local", SMALL, op, "rclone copy")
        what = "upload" if op == "upload" else "retrieve (verified)"
        name = f"{_small(s)}, local store: {what}"
        versus(s, f"{name} at most rclone's time", mine, rclone, 1.0)
        floor_ratio(s, f"{name} within 1.5x of the floor", mine, 1.5, "floor")


def s3_large(s: Suite) -> None:
    for op in ("upload", "retrieve"):
        mine = find(s, "s3", S3_LARGE, op, "cavorite CLI")
        rclone = find(s, "s3", S3_LARGE, op, "rclone copy")
        versus(s, f"large files on the S3 emulator: {op} within 1.1x of rclone", mine, rclone, 1.1)


def scale(s: Suite) -> None:
    label = s.scale_label or f"{s.plan.scale_files:,} files"
    if s.scale_label == "":
        for name, threshold in _scale_names(label, s.plan.small_files):
            s.goal(name, threshold, "the scale section did not run (--scale)", None)
        return
    names = iter(_scale_names(label, s.plan.small_files))
    for op in ("status", "no-op retrieve", "no-op upload"):
        name, threshold = next(names)
        r = s.marks.get(f"{label}: {op}")
        why = _missing(r, op)
        if why is not None or r is None:
            s.goal(name, threshold, why or "not measured", None)
            continue
        peak = r.series.peak_rss_mib
        s.goal(name, threshold, f"{peak:.0f} MiB", peak < MEMORY_MIB)
    name, threshold = next(names)
    status = s.marks.get(f"{label}: status")
    secs = status.seconds() if status is not None and not status.error else None
    missing = _missing(status, "status")
    s.goal(name, threshold, missing or fmt_s(secs), None if secs is None else secs < 30)
    name, _ = next(names)
    floor_ratio(s, name, s.marks.get(f"{label}: no-op upload"), 1.5, "parse+lstat floor")
    name, threshold = next(names)
    new_rate(s, name, threshold, s.marks.get(f"{label}: new files"))


def _scale_names(label: str, small: int) -> list[tuple[str, str]]:
    return [
        (f"{label}: peak memory of no-op status", f"< {MEMORY_MIB:.0f} MiB"),
        (f"{label}: peak memory of no-op retrieve", f"< {MEMORY_MIB:.0f} MiB"),
        (f"{label}: peak memory of no-op upload", f"< {MEMORY_MIB:.0f} MiB"),
        (f"{label}: no-op status under 30 s", "< 30 s"),
        (f"{label}: no-op upload within 1.5x of the parse+lstat floor", "<= 1.50x"),
        (f"{label}: upload of new files at >= 80% of the {small:,}-file rate (files/s)", ">= 80%"),
    ]


def new_rate(s: Suite, name: str, threshold: str, r: Row | None) -> None:
    small = s.marks.get(f"{SMALL}: upload")
    why = _missing(r, "new-file upload") or _missing(small, "the small-file upload")
    if why is not None or r is None or small is None:
        s.goal(name, threshold, why or "not measured", None)
        return
    fps, base = r.files_per_s() or 0.0, small.files_per_s() or 0.0
    if not base:
        s.goal(name, threshold, "no small-file rate", None)
        return
    s.goal(
        name,
        threshold,
        f"{fps:,.0f} files/s ({r.files:,} new files) vs {base:,.0f} files/s: {fps / base:.0%}",
        fps / base >= 0.8,
    )


def fixed_cost(s: Suite) -> None:
    for key, name, limit in (
        ("startup: empty retrieve", "fixed cost: `cavorite retrieve` in an empty repository", 0.06),
        ("startup: help", "`cavorite --help`", 0.1),
    ):
        r = s.marks.get(key)
        threshold = f"< {fmt_s(limit)}"
        why = _missing(r, "start-up")
        if why is not None or r is None:
            s.goal(f"{name} under {fmt_s(limit)}", threshold, why or "not measured", None)
            continue
        secs = r.seconds()
        assert secs is not None
        best = r.best_floor()
        floor = f" (python -c pass {fmt_s(best[1])})" if best else ""
        s.goal(f"{name} under {fmt_s(limit)}", threshold, f"{fmt_s(secs)}{floor}", secs < limit)


def warm_cache(s: Suite) -> None:
    floor_ratio(
        s,
        f"{_small(s)}: warm-cache retrieve within 1.2x of the copy floor",
        s.marks.get(f"{SMALL}: warm"),
        1.2,
        "copy floor",
    )


def others_measured(s: Suite) -> None:
    """rclone and DVC measured on the same workloads in this run."""
    for tool, prefix in (("rclone", "rclone copy"), ("DVC", "dvc")):
        rows = [
            r
            for r in s.rows
            if r.section == "local" and r.subject.startswith(prefix) and r.series and not r.error
        ]
        name = tool.lower()
        how = s.tools.origins.get(name, "")
        workloads = sorted({f"{r.workload} {r.op}" for r in rows})
        s.goal(
            f"{tool} measured in this run on the local workloads",
            "measured",
            ", ".join(workloads) + (f" ({how})" if how else "")
            if rows
            else f"not measured: {how or 'not installed'}",
            bool(rows) if s.tools.versions.get(name) or rows else False,
        )
