"""Rows, targets and the markdown report."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .measure import Series

MB = 1_000_000


@dataclass
class Row:
    """One subject (a tool, or a floor) doing one operation on one workload, run several times."""

    section: str
    workload: str
    op: str
    subject: str
    files: int
    nbytes: int
    """bytes the operation moves (0 for a no-op)"""
    series: Series = field(default_factory=Series)
    floor: bool = False
    internal: bool = False
    """time is what the child reported for its work alone (API rows, and floors compared to
    them), not the wall time of the whole process"""
    floors: list[Row] = field(default_factory=list)
    """the floor rows this row is compared with; the fastest of them is its floor"""
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def seconds(self, internal: bool | None = None) -> float | None:
        if not self.series:
            return None
        use_internal = self.internal if internal is None else internal
        if use_internal:
            return self.series.reported_median("seconds")
        return self.series.seconds

    def best_floor(self) -> tuple[Row, float] | None:
        """The fastest floor, timed the same way as this row (wall or internal)."""
        timed = [(f, f.seconds(self.internal)) for f in self.floors]
        measured = [(f, s) for f, s in timed if s is not None and s > 0]
        return min(measured, key=lambda fs: fs[1]) if measured else None

    def ratio(self) -> float | None:
        mine = self.seconds()
        best = self.best_floor()
        if mine is None or best is None:
            return None
        return mine / best[1]

    def mb_per_s(self) -> float | None:
        s = self.seconds()
        return self.nbytes / MB / s if s and self.nbytes else None

    def files_per_s(self) -> float | None:
        s = self.seconds()
        return self.files / s if s and self.files else None


@dataclass
class Target:
    name: str
    threshold: str
    measured: str
    verdict: str
    """PASS, MISS, or n/a (with the reason in ``measured``)"""


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "PASS" if ok else "MISS"


def fmt_s(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def fmt_rate(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.1f} {unit}"


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows)
    return "\n".join(lines)


def results_table(rows: Sequence[Row]) -> str:
    """Every measured subject with its floor beside it."""
    out = []
    for r in rows:
        if r.error is not None:
            out.append([r.workload, r.op, r.subject, "failed", "", "", "", "", "", "", r.error])
            continue
        if not r.series:
            continue
        best = r.best_floor()
        spread = r.series.spread
        runs = len(r.series.samples)
        time_cell = fmt_s(r.seconds())
        if runs > 1 and not r.internal:
            time_cell += f" ({fmt_s(spread[0])}-{fmt_s(spread[1])})"
        out.append(
            [
                r.workload,
                r.op,
                r.subject + (" [work only]" if r.internal else ""),
                time_cell,
                fmt_rate(r.mb_per_s(), "MB/s"),
                fmt_rate(r.files_per_s(), "files/s"),
                f"{r.series.peak_rss_mib:.0f} MiB",
                fmt_s(r.series.median("cpu_seconds")),
                f"{fmt_s(best[1])} {best[0].subject}" if best else "-",
                fmt_ratio(r.ratio()),
                "; ".join(r.notes),
            ]
        )
    return table(
        [
            "workload",
            "operation",
            "subject",
            "median time (min-max)",
            "MB/s",
            "files/s",
            "peak RSS",
            "CPU",
            "floor (median)",
            "ratio",
            "notes",
        ],
        out,
    )


def floors_table(rows: Sequence[Row]) -> str:
    out = []
    for r in rows:
        if not r.series:
            continue
        wall = r.series.seconds
        work = r.series.reported_median("seconds")
        out.append(
            [
                r.workload,
                r.op,
                r.subject,
                fmt_s(wall),
                fmt_s(work),
                fmt_rate(r.nbytes / MB / wall if r.nbytes else None, "MB/s"),
                fmt_rate(r.files / wall if r.files else None, "files/s"),
                f"{r.series.peak_rss_mib:.0f} MiB",
                fmt_s(r.series.median("cpu_seconds")),
                str(len(r.series.samples)),
            ]
        )
    return table(
        [
            "workload",
            "operation",
            "floor",
            "wall (median)",
            "work only (median)",
            "MB/s (wall)",
            "files/s (wall)",
            "peak RSS",
            "CPU",
            "runs",
        ],
        out,
    )


def targets_table(targets: Sequence[Target]) -> str:
    return table(
        ["target", "threshold", "measured", "verdict"],
        [[t.name, t.threshold, t.measured, t.verdict] for t in targets],
    )


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))
