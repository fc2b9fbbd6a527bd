"""Start-up: a run imports only the module of the command it names, and says the same as the
application with every command added."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cavorite_py.cli import app
from cavorite_py.cli.names import COMMAND_MODULES
from tests.fixtures.repos import Cavorite


def _added_by() -> dict[str, str]:
    """Every command and group of the full application, and the module that adds it."""
    added = {}
    for info in app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.replace("_", "-")
        added[name] = info.callback.__module__
    for group in app.registered_groups:
        assert group.typer_instance is not None
        callback = group.typer_instance.registered_callback
        assert callback is not None and callback.callback is not None
        added[str(group.typer_instance.info.name)] = callback.callback.__module__
    return added


def test_the_table_names_the_module_of_every_command() -> None:
    modules = {name: f"cavorite_py.cli.{module}" for name, module in COMMAND_MODULES.items()}
    assert _added_by() == modules


def _in_process(code: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_a_command_imports_only_its_module(tmp_path: Path, cli_env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from cavorite_py.cli import run\n"
        "run(['-q', 'retrieve', '--help'])\n"
        "print(' '.join(m for m in sys.modules if m.startswith('cavorite_py.cli.')))\n"
    )
    loaded = set(_in_process(code, tmp_path, cli_env).splitlines()[-1].split())
    assert "cavorite_py.cli.transfer" in loaded
    others = {f"cavorite_py.cli.{m}" for m in COMMAND_MODULES.values()} - {
        "cavorite_py.cli.transfer"
    }
    assert not loaded & others


@pytest.mark.parametrize(
    "args",
    [
        ["retrieve", "--help"],
        ["cache", "clean", "-h"],
        ["--json", "init", "--bogus"],
        ["retrieve", "--jobs", "0", "-q"],
        ["nosuchcommand"],
    ],
)
def test_one_module_says_what_every_module_says(
    args: list[str], tmp_path: Path, cli_env: dict[str, str], cavorite: Cavorite
) -> None:
    env = {**cli_env, "COLUMNS": "120"}
    alone = cavorite(*args, cwd=tmp_path, env={"COLUMNS": "120"})
    code = f"import sys\nfrom cavorite_py.cli import app, run\nsys.exit(run({args!r}))\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (alone.code, alone.stdout, alone.stderr) == (done.returncode, done.stdout, done.stderr)
    assert alone.stdout + alone.stderr


FAST = [
    ["retrieve"],
    ["-q", "retrieve"],
    ["retrieve", "-f", "--json"],
    ["--json", "--jobs", "2", "retrieve", "big.bin.cfile", "-v"],
    ["retrieve", "nothere.cfile"],
    ["status"],
    ["status", "sub", "-q", "-vv"],
    ["--json", "status", "big.bin"],
    ["upload", "big.bin", "--json"],
    ["upload", "-I", "*.bin", "-X", "none", "sub", "-f", "--no-gitignore"],
    ["upload", "--no-push", "nothere.bin"],
    ["push", "-j", "3"],
    ["retrieve", "--verbose", "--quiet"],
]
"""command lines the fast path runs"""

SLOW = [
    ["retrieve", "-h"],
    ["retrieve", "--", "x"],
    ["retrieve", "-j", "0"],
    ["retrieve", "-j", "02"],
    ["retrieve", "--jobs=2"],
    ["--force", "retrieve"],
    ["status", "--jobs", "2"],
    ["push", "x"],
    ["upload"],
    ["upload", "-I"],
    ["upload", "--include", "-x", "sub"],
    ["-vq", "retrieve"],
    ["--version", "retrieve"],
    ["retrieve", "--bogus"],
    ["--store_type", "s3", "retrieve"],
    ["verify"],
]
"""command lines left to Typer: help, `--`, values Typer checks, options in the wrong place"""


@pytest.mark.parametrize("args", SLOW)
def test_the_fast_path_leaves_to_typer_what_typer_checks(args: list[str]) -> None:
    from cavorite_py.cli import fast

    assert fast.parse(args) is None


def test_the_fast_path_says_what_typer_says(
    cavorite_repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    from cavorite_py.cli import fast

    (cavorite_repo / "sub").mkdir()
    (cavorite_repo / "sub" / "a.bin").write_bytes(b"a\0" * 100)
    (cavorite_repo / "big.bin").write_bytes(b"b\0" * 1000)
    assert cavorite("upload", "big.bin", "sub", cwd=cavorite_repo).code == 0
    for args in [*FAST, *SLOW]:
        assert (fast.parse(args) is not None) == (args in FAST)
        code = f"import sys\nfrom cavorite_py.cli import run\nsys.exit(run({args!r}))\n"
        typer_run = subprocess.run(
            [sys.executable, "-c", code],
            cwd=cavorite_repo,
            env={**cli_env, **cavorite.env},
            capture_output=True,
            text=True,
            check=False,
        )
        fast_run = cavorite(*args, cwd=cavorite_repo)
        expected = (typer_run.returncode, typer_run.stdout, _untimed(typer_run.stderr))
        assert (fast_run.code, fast_run.stdout, _untimed(fast_run.stderr)) == expected, args


def _untimed(text: str) -> str:
    return re.sub(r"took [0-9.]+ s", "took", text)


@pytest.mark.parametrize(
    ("args", "colour"),
    [(["--help"], False), (["-h"], True), ([], False), (["upload", "--help"], True)],
)
def test_help_is_the_one_the_full_formatter_prints(
    args: list[str], colour: bool, tmp_path: Path, cli_env: dict[str, str], cavorite: Cavorite
) -> None:
    extra = {"COLUMNS": "90", **({"FORCE_COLOR": "1", "TERM": "xterm-256color"} if colour else {})}
    shown = cavorite(*args, cwd=tmp_path, env=extra)
    code = (
        "import sys\n"
        "import typer.rich_utils\n"
        "from cavorite_py.cli import run\n"
        f"sys.exit(run({args!r}))\n"
    )
    full = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**cli_env, **extra},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Usage" in shown.stdout + shown.stderr
    assert (shown.code, shown.stdout, shown.stderr) == (full.returncode, full.stdout, full.stderr)
    assert ("\x1b[" in shown.stdout + shown.stderr) == colour


def test_the_modules_left_out_of_help_load_in_full_afterwards() -> None:
    code = (
        "from cavorite_py.cli import richhelp\n"
        "richhelp.import_formatter()\n"
        "from rich.markdown import Markdown\n"
        "from rich.traceback import Traceback\n"
        "print(Markdown('x').markup, Traceback.__module__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["x", "rich.traceback"]
