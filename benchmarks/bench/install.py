"""The other tools the report compares with: found, or installed by the suite's own set-up.

- rclone: from PATH, else Debian's package (``apt-get update; apt-get install -y rclone``), which
  needs root and apt-get.
- DVC: from PATH, else PyPI into a virtual environment of its own under the tools directory
  (``--tools-dir``, default ``~/.cache/cavorite-bench``), made once and reused by later runs.

``--no-install`` skips both installs: a tool not on PATH (nor in the tools directory) is then
reported as missing, with the reason.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

INSTALL_TIMEOUT = 900.0
"""seconds one install command may take (pip resolving DVC's dependencies is the slowest)"""


@dataclass
class Found:
    """Where a tool is, or why it is not there, and how it was obtained."""

    path: str | None
    how: str


def default_tools_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cavorite-bench"


def _run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[bool, str]:
    """Run an install command, its output appended to ``log``; (succeeded, last line)."""
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                cmd,
                check=False,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=INSTALL_TIMEOUT,
                env=env,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"{type(exc).__name__}: {exc}"
    if done.returncode == 0:
        return True, ""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return False, f"exited {done.returncode}: {lines[-1][:200] if lines else 'no output'}"


def _debian_package(path: str) -> str | None:
    """The Debian package that installed ``path``, with its version, if dpkg knows it."""
    if shutil.which("dpkg-query") is None:
        return None
    real = str(Path(path).resolve())
    done = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True, check=False)
    if done.returncode != 0 or ":" not in done.stdout:
        return None
    package = done.stdout.split(":", 1)[0].strip()
    version = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"Debian package {package} {version}".strip()


def _on_path(name: str, version_arg: str) -> str | None:
    """``name`` on PATH if it runs (a version manager's shim for a version not selected is on
    PATH but runs nothing)."""
    found = shutil.which(name)
    if found is None:
        return None
    try:
        done = subprocess.run(
            [found, version_arg], capture_output=True, timeout=120, check=False, cwd="/"
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found if done.returncode == 0 else None


def rclone(install: bool, log: Path, say: Callable[[str], None] = print) -> Found:
    found = _on_path("rclone", "version")
    if found:
        package = _debian_package(found)
        return Found(found, f"found on PATH ({package or found})")
    if not install:
        return Found(None, "not on PATH (--no-install)")
    if os.geteuid() != 0:
        return Found(None, "not on PATH, and not installed: apt-get needs root")
    if shutil.which("apt-get") is None:
        return Found(None, "not on PATH, and not installed: no apt-get on this machine")
    say("set-up: installing rclone from Debian's packages (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    ok, why = _run(["apt-get", "update", "-q"], log, env)
    if ok:
        ok, why = _run(["apt-get", "install", "-y", "-q", "rclone"], log, env)
    found = shutil.which("rclone")
    if not ok or not found:
        return Found(None, f"apt-get install rclone failed ({why or 'no rclone on PATH after'})")
    package = _debian_package(found)
    return Found(found, f"installed by this run's set-up with apt-get ({package or found})")


def dvc(install: bool, tools_dir: Path, log: Path, say: Callable[[str], None] = print) -> Found:
    found = _on_path("dvc", "--version")
    if found:
        return Found(found, f"found on PATH ({found})")
    venv = tools_dir / "dvc-venv"
    exe = venv / "bin" / "dvc"
    marker = venv / ".installed"
    if exe.exists() and marker.exists():
        return Found(str(exe), f"from PyPI, {marker.read_text().strip()}, reused ({venv})")
    if not install:
        return Found(None, f"not on PATH nor in {venv} (--no-install)")
    say(f"set-up: installing DVC from PyPI into {venv} (once; later runs reuse it)")
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    ok, why = _run([sys.executable, "-m", "venv", str(venv)], log)
    if ok:
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        ok, why = _run([*pip, "--disable-pip-version-check", "dvc"], log)
    if not ok or not exe.exists():
        return Found(None, f"pip install dvc into {venv} failed ({why or 'no dvc after'})")
    marker.write_text(f"installed {dt.date.today().isoformat()} with pip install dvc\n")
    return Found(str(exe), f"installed from PyPI by this run's set-up into {venv}")
