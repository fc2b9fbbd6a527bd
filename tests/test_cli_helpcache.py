"""Help printed again from its record (``cavorite_py.cli.helpcache``): byte for byte what the
application prints, on a terminal and off it, and printed the usual way whenever anything it
depends on differs."""

from __future__ import annotations

import marshal
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cavorite_py.cli import helpcache
from tests.fixtures.repos import Cavorite, CliResult, cavorite_executable
from tests.fixtures.terminal import on_a_terminal

HELP = [[], ["--help"], ["-h"], ["upload", "--help"], ["cache", "clean", "-h"]]

PLAIN: dict[str, str | None] = {"COLUMNS": "90"}
COLOUR: dict[str, str | None] = {
    "COLUMNS": "90",
    "FORCE_COLOR": "1",
    "TERM": "xterm-256color",
    "NO_COLOR": None,
}


def _full(args: list[str], cwd: Path, env: dict[str, str]) -> CliResult:
    """The help as the application prints it: Typer's whole formatter, no record."""
    code = (
        "import sys\n"
        "import typer.rich_utils\n"
        "from cavorite_py.cli import run\n"
        f"sys.exit(run({args!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def _env(cavorite: Cavorite, extra: dict[str, str | None]) -> dict[str, str]:
    full = {**cavorite.env, **extra}
    return {name: value for name, value in full.items() if value is not None}


def _record_path(env: dict[str, str], args: list[str]) -> Path:
    name = " ".join(["help", *args]).replace(" ", "_")
    return Path(env["XDG_CACHE_HOME"]) / "cavorite" / "help" / name


@pytest.mark.parametrize("extra", [PLAIN, COLOUR], ids=["plain", "colour"])
@pytest.mark.parametrize("args", HELP, ids=lambda a: " ".join(a) or "none")
def test_the_recorded_help_is_the_help(
    args: list[str], extra: dict[str, str | None], tmp_path: Path, cavorite: Cavorite
) -> None:
    env = _env(cavorite, extra)
    first = cavorite(*args, cwd=tmp_path, env=extra)
    assert _record_path(env, args).is_file()
    again = cavorite(*args, cwd=tmp_path, env=extra)
    assert first == again == _full(args, tmp_path, env)
    assert "Usage" in again.stdout + again.stderr
    assert ("\x1b[" in again.stdout) == (extra is COLOUR)


def _tamper(path: Path, text: str, stamps: tuple[tuple[str, int, int], ...] = ()) -> None:
    """Replace what the record at ``path`` prints (and add ``stamps``), keeping its key."""
    entry = list(marshal.loads(path.read_bytes()))
    entry[2] = (*entry[2], *stamps)
    entry[3] = ((1, text),)
    path.write_bytes(marshal.dumps(tuple(entry)))


def test_a_record_that_holds_is_printed(tmp_path: Path, cavorite: Cavorite) -> None:
    env = _env(cavorite, PLAIN)
    cavorite("--help", cwd=tmp_path, env=PLAIN)
    _tamper(_record_path(env, ["--help"]), "from the record\n")
    assert cavorite("--help", cwd=tmp_path, env=PLAIN).stdout == "from the record\n"


@pytest.mark.parametrize(
    "change",
    [
        {"COLUMNS": "91"},
        {"FORCE_COLOR": "1"},
        {"TERMINAL_WIDTH": "70"},
        {"NO_COLOR": None},
        {"LANGUAGE": "de"},
        {"PYTHONPATH": "/nowhere"},
    ],
)
def test_another_environment_makes_the_help_again(
    change: dict[str, str | None], tmp_path: Path, cavorite: Cavorite
) -> None:
    env = _env(cavorite, PLAIN)
    cavorite("--help", cwd=tmp_path, env=PLAIN)
    _tamper(_record_path(env, ["--help"]), "from the record\n")
    shown = cavorite("--help", cwd=tmp_path, env={**PLAIN, **change})
    assert shown == _full(["--help"], tmp_path, _env(cavorite, {**PLAIN, **change}))
    assert "from the record" not in shown.stdout


def test_a_changed_module_file_makes_the_help_again(tmp_path: Path, cavorite: Cavorite) -> None:
    env = _env(cavorite, PLAIN)
    module = tmp_path / "module.py"
    module.write_text("x = 1\n")
    found = module.stat()
    cavorite("--help", cwd=tmp_path, env=PLAIN)
    record = _record_path(env, ["--help"])
    _tamper(record, "from the record\n", ((str(module), found.st_mtime_ns, found.st_size),))
    assert cavorite("--help", cwd=tmp_path, env=PLAIN).stdout == "from the record\n"
    module.write_text("x = 22\n")
    shown = cavorite("--help", cwd=tmp_path, env=PLAIN)
    assert shown == _full(["--help"], tmp_path, env)
    assert str(module) not in {
        path for path, _mtime, _size in marshal.loads(record.read_bytes())[2]
    }


@pytest.mark.parametrize("content", [b"", b"\x00garbage", marshal.dumps((1, 2, 3)), b"\xfb" * 9])
def test_a_record_that_cannot_be_read_is_made_again(
    content: bytes, tmp_path: Path, cavorite: Cavorite
) -> None:
    env = _env(cavorite, PLAIN)
    record = _record_path(env, ["-h"])
    record.parent.mkdir(parents=True)
    record.write_bytes(content)
    assert cavorite("-h", cwd=tmp_path, env=PLAIN) == _full(["-h"], tmp_path, env)
    assert marshal.loads(record.read_bytes())[0] == helpcache.FORMAT


def test_help_without_a_writable_cache(tmp_path: Path, cavorite: Cavorite) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory\n")
    extra = {**PLAIN, "XDG_CACHE_HOME": str(blocked)}
    env = _env(cavorite, extra)
    assert cavorite("--help", cwd=tmp_path, env=extra) == _full(["--help"], tmp_path, env)


def test_the_cache_directories_are_private(tmp_path: Path, cavorite: Cavorite) -> None:
    cache = tmp_path / "new" / "cache"
    cavorite("--help", cwd=tmp_path, env={**PLAIN, "XDG_CACHE_HOME": str(cache)})
    for folder in (cache / "cavorite", cache / "cavorite" / "help"):
        assert folder.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("args", "applies"),
    [
        ([], True),
        (["--help"], True),
        (["-h"], True),
        (["upload", "-h"], True),
        (["cache", "clean", "--help"], True),
        (["-v", "--help"], False),
        (["upload", "x", "--help"], True),
        (["upload", "x.bin", "--help"], False),
        (["nosuch", "--help"], False),
        (["upload", "--help", "-v"], False),
        (["cache", "clean", "x", "--help"], False),
        (["retrieve"], False),
        (["--version"], False),
        (["--help", "--"], False),
    ],
)
def test_what_a_record_may_answer(args: list[str], applies: bool) -> None:
    assert helpcache.applies(args) is applies


def test_not_while_completing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_CAVORITE_COMPLETE", "complete_bash")
    assert not helpcache.applies(["--help"])


NOT_HELP = {
    "COMP_CWORD": "shell completion",
    "COMP_WORDS": "shell completion",
    "SETUPTOOLS_USE_DISTUTILS": "setuptools' distutils shim, loaded as Python starts",
    "SHELL": "shellingham, for installing completion",
    "XDG_CONFIG_HOME": "Click's get_app_dir",
    "_TYPER_COMPLETE_ARGS": "shell completion",
    "_TYPER_COMPLETE_FISH_ACTION": "shell completion",
    "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "shell completion",
    "_TYPER_COMPLETE_WORD_TO_COMPLETE": "shell completion",
}
"""environment variables that the help's libraries read for something other than help"""

READ = re.compile(
    r"""(?:getenv|environ\.get|environ\[|environ\.pop)\(?\s*[rb]?["']([A-Za-z_][A-Za-z0-9_]*)["']"""
    r"""|["']([A-Z_][A-Z0-9_]*)["']\s+(?:not\s+)?in\s+(?:os\.|self\._)?environ"""
)


def test_every_environment_variable_the_help_reads_is_in_the_key(
    tmp_path: Path, cavorite: Cavorite
) -> None:
    env = _env(cavorite, PLAIN)
    cavorite("--help", cwd=tmp_path, env=PLAIN)
    stamps = marshal.loads(_record_path(env, ["--help"]).read_bytes())[2]
    libraries = [Path(path) for path, _mtime, _size in stamps if "site-packages" in path]
    sources = [path for path in libraries if path.suffix == ".py"]
    assert any(path.parent.name == "rich" for path in sources)
    assert any(path.parent.name == "typer" for path in sources)
    found = {
        match.group(1) or match.group(2)
        for path in sources
        for match in READ.finditer(path.read_text(errors="replace"))
    }
    assert "COLUMNS" in found
    assert found - set(helpcache.ENVIRONMENT) - set(NOT_HELP) == set()


def _on_a_terminal(argv: list[str], env: dict[str, str], cwd: Path, columns: int) -> bytes:
    """What ``argv`` prints on a terminal of ``columns`` x 30 (stdin, stdout and stderr)."""
    out, code = on_a_terminal(argv, cwd, env, 30, columns)
    return out + f"\nexit {code}".encode()


@pytest.mark.parametrize("args", [["--help"], []], ids=["help", "none"])
def test_on_a_terminal_the_recorded_help_is_the_help(
    args: list[str], tmp_path: Path, cavorite: Cavorite
) -> None:
    env = _env(cavorite, {"TERM": "xterm-256color", "NO_COLOR": None, "COLUMNS": None})
    full = [
        sys.executable,
        "-c",
        f"import sys\nfrom cavorite_py.cli import run\nsys.exit(run({args!r}))",
    ]
    command = [cavorite_executable(), *args]
    for columns in (100, 64):
        first = _on_a_terminal(command, env, tmp_path, columns)
        again = _on_a_terminal(command, env, tmp_path, columns)
        expected = _on_a_terminal(full, env, tmp_path, columns)
        assert first == again == expected
        assert b"\x1b[" in again
        shown = re.sub(r"\x1b\[[0-9;]*m", "", again.decode()).replace("\r", "")
        widths = {len(line) for line in shown.splitlines()}
        assert max(widths) == columns
