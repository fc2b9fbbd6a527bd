"""The progress display, as a terminal shows it: captured from a real pseudo-terminal while the
real command (with a slowed-down local store, ``tests/hardening/slowcli.py``) transfers many
files, then one large file."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pyte

from tests.e2e.support import binary, write
from tests.fixtures.consent import forwarded
from tests.fixtures.repos import Cavorite
from tests.fixtures.terminal import on_a_terminal

SLOWCLI = Path(__file__).parents[1] / "hardening" / "slowcli.py"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]")
SIZE = r"([\d.]+ (?:B|KiB|MiB|GiB))"
OVERALL = re.compile(rf"(\d+)/(\d+) files\b.*?{SIZE} / {SIZE}")
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
ROWS, COLUMNS = 40, 160


def in_terminal(args: list[str], cwd: Path, env: dict[str, str], delay: float) -> list[str]:
    """Run the slowed command with a pseudo-terminal as stdout and stderr; every screen line
    it drew, in order (escape sequences removed, each redraw a line of its own)."""
    out = terminal_output(args, cwd, env, delay)
    text = ANSI.sub("\n", out.decode("utf-8", "replace")).replace("\r", "\n")
    return [line.strip() for line in text.split("\n") if line.strip()]


def terminal_output(args: list[str], cwd: Path, env: dict[str, str], delay: float) -> bytes:
    """What the slowed command wrote to a pseudo-terminal (40 rows of 160 columns) as its
    stdout and stderr, escape sequences included."""
    full = {**env, **forwarded(), "TERM": "xterm-256color", "COLUMNS": str(COLUMNS)}
    full.update(CAVORITE_SLOW_DELAY=str(delay), CAVORITE_SLOW_CHUNK="65536")
    argv = [sys.executable, str(SLOWCLI), *args]
    out, _ = on_a_terminal(argv, cwd, full, ROWS, COLUMNS, stdin=False, wait=10)
    return out


def screen(out: bytes) -> list[str]:
    """The lines a terminal of :data:`COLUMNS` columns shows once ``out`` is drawn (tall enough
    that nothing scrolls away), without trailing blank lines."""
    shown = pyte.Screen(COLUMNS, 1000)
    pyte.ByteStream(shown).feed(out.replace(b"\n", b"\r\n"))
    lines = [line.rstrip() for line in shown.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _bytes(text: str) -> int:
    number, unit = text.split()
    return int(float(number) * UNITS[unit])


def _overall(lines: list[str]) -> list[tuple[int, int, int, int]]:
    """Every overall line drawn: (files done, files, bytes done, bytes total)."""
    found = []
    for line in lines:
        m = OVERALL.search(line)
        if m:
            found.append((int(m[1]), int(m[2]), _bytes(m[3]), _bytes(m[4])))
    return found


def _clone(repo: Path) -> None:
    """The artifacts gone, as in a fresh clone."""
    for path in repo.rglob("*.bin"):
        path.unlink()


def _uploaded_then_gone(repo: Path, cavorite: Cavorite, count: int) -> None:
    """``count`` files of 64 KiB in ``data/``, uploaded, then gone as in a fresh clone."""
    for i in range(count):
        write(repo, f"data/f{i:02}.bin", binary(f"f{i}", 64 * 1024))
    assert cavorite("upload", "data", cwd=repo).code == 0
    _clone(repo)


def test_many_files_total_known_bytes_move_results_as_they_finish(
    cavorite_repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    count = 48
    _uploaded_then_gone(cavorite_repo, cavorite, count)

    lines = in_terminal(["retrieve", "-j", "4"], cavorite_repo, cli_env, delay=0.1)

    assert not any("0/?" in line or "/ ?" in line for line in lines), lines
    overall = _overall(lines)
    assert overall, lines
    # the totals are known from the first line drawn: every file, every byte
    assert {(files, total) for _, files, _, total in overall} == {(count, count * 64 * 1024)}
    moved = sorted({done for _, _, done, _ in overall})
    assert len([m for m in moved if 0 < m < count * 64 * 1024]) >= 2, moved
    # a file's result line comes as it finishes: the display goes on after the first one
    first = next(i for i, line in enumerate(lines) if line.startswith("retrieved"))
    assert any(OVERALL.search(line) for line in lines[first + 1 :]), lines
    # and only once
    results = [line for line in lines if line.startswith("retrieved")]
    assert len(results) == count, results
    assert lines[-1] == f"{count} files: {count} retrieved"


def test_a_large_file_moves_the_overall_bytes(
    cavorite_repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    size = 3 * 1024 * 1024
    write(cavorite_repo, "big.bin", binary("big", size))
    assert cavorite("upload", "big.bin", cwd=cavorite_repo).code == 0
    _clone(cavorite_repo)

    lines = in_terminal(["retrieve"], cavorite_repo, cli_env, delay=0.04)

    overall = _overall(lines)
    assert overall and {total for *_, total in overall} == {size}, lines
    assert len({done for _, _, done, _ in overall if 0 < done < size}) >= 3, overall
    # the file's own line, with its name, in binary units
    assert any(line.startswith("big.bin") and "MiB" in line for line in lines), lines
    assert "MB" not in " ".join(lines).replace("MiB", "")
    assert lines[-1] == "1 file: 1 retrieved"


def test_nothing_animated_without_a_terminal(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo, "a.bin", binary("a", 1000))
    assert cavorite("upload", "a.bin", cwd=cavorite_repo).code == 0
    _clone(cavorite_repo)
    result = cavorite("retrieve", cwd=cavorite_repo)
    assert result.code == 0
    assert result.stderr == ""
    assert result.stdout.splitlines() == ["retrieved       a.bin  (1000 B)", "1 file: 1 retrieved"]


def test_log_lines_print_above_the_display(
    cavorite_repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    count = 24
    _uploaded_then_gone(cavorite_repo, cavorite, count)

    out = terminal_output(["-vv", "retrieve", "-j", "4"], cavorite_repo, cli_env, delay=0.05)

    # what the terminal shows in the end: every log line and result line whole, each once, and
    # nothing left of the display (drawn below them and removed at the end; two threads
    # printing at once used to leave pieces of it and lose lines)
    lines = screen(out)
    logged = [line for line in lines if " retrieved in " in line]
    assert len(logged) == count, lines
    assert all(
        re.fullmatch(r"cavorite: cavorite_py\.run: data/f\d\d\.bin: retrieved in .* s", line)
        for line in logged
    ), logged
    results = {line for line in lines if line.startswith("retrieved ")}
    assert len(results) == count, lines
    assert not [line for line in lines if OVERALL.search(line) or "━" in line], lines
    assert lines[-2:] == [f"{count} files: {count} retrieved", lines[-1]]
    assert re.fullmatch(r"cavorite: retrieve took .* s", lines[-1]), lines
