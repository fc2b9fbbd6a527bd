"""Each extra (``s3``, ``gcs``, ``azure``, ``fsspec``) installed alone in a clean virtual
environment loads its store and runs a round trip against its emulator (fsspec: a directory),
and a store whose SDK is missing names what to install.

One wheel of the project is built once per run (shared by the xdist workers); each extra is one
test, so that the workers make the environments at the same time, while other tests run (``pip``
takes its downloads from its cache after the first run). Marked ``packaging``:
``pytest -m packaging`` runs these alone, ``-m "not packaging"`` everything else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.e2e.test_cloud_cli import (
    Backend,
    azure_backend,
    fsspec_backend,
    gcs_backend,
    s3_backend,
)
from tests.fixtures.repos import CliResult
from tests.fixtures.shared import made_once

pytestmark = [pytest.mark.packaging, pytest.mark.emulator, pytest.mark.timeout(900)]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXTRAS = ("s3", "gcs", "azure", "fsspec")
SDK_PACKAGES = {
    "s3": "boto3",
    "gcs": "google-cloud-storage",
    "azure": "azure-storage-blob",
    "fsspec": "fsspec",
}
PIP = ("-m", "pip", "--disable-pip-version-check", "--no-input", "-q")


def run(argv: list[str], cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run ``argv``; fail the test with its output if it fails."""
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def build_wheel(top: Path) -> None:
    """The project's wheel in ``top / "dist"``, built from a copy of the sources (nothing is
    written into the checkout)."""
    source = top / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO_ROOT / "cavorite_py", source / "cavorite_py", ignore=ignore)
    run([sys.executable, *PIP, "wheel", "--no-deps", "-w", str(top / "dist"), str(source)])


def make_venv(where: Path, wheel: Path, extra: str) -> Path:
    """A new virtual environment with ``cavorite-py[extra]`` and nothing else; its bin dir.
    Made without pip of its own (this pip installs into it) and without compiling bytecode."""
    run([sys.executable, "-m", "venv", "--without-pip", str(where)])
    python = where / "bin" / "python"
    run(
        [
            sys.executable,
            *PIP,
            "--python",
            str(python),
            "install",
            "--no-compile",
            f"{wheel}[{extra}]",
        ]
    )
    return where / "bin"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    [built] = (made_once(tmp_path_factory, "wheel", build_wheel) / "dist").glob("*.whl")
    return built


def backend_for(extra: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if extra == "s3":
        return s3_backend(request.getfixturevalue("s3_emulator"))
    if extra == "gcs":
        return gcs_backend(request.getfixturevalue("gcs_emulator"))
    if extra == "azure":
        return azure_backend(request.getfixturevalue("azure_emulator"))
    return fsspec_backend(tmp_path / "fsspec-objects")


class CavoriteIn:
    """The ``cavorite`` command of one environment, run with ``cli_env`` and ``extra_env``."""

    def __init__(
        self, bin_dir: Path, cli_env: dict[str, str], extra_env: Mapping[str, str]
    ) -> None:
        self.executable = str(bin_dir / "cavorite")
        self.env = {**cli_env, **extra_env, "PATH": f"{bin_dir}:/usr/bin:/bin"}

    def __call__(self, *args: str, cwd: Path) -> CliResult:
        proc = subprocess.run(
            [self.executable, *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize("extra", EXTRAS)
def test_an_extra_alone_loads_its_store_and_names_what_others_need(
    extra: str,
    wheel: Path,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_git_repo: Callable[..., Path],
    cli_env: dict[str, str],
) -> None:
    bin_dir = make_venv(tmp_path / "venv", wheel, extra)
    round_trip(
        CavoriteIn(bin_dir, cli_env, {}),
        backend_for(extra, request, tmp_path),
        make_git_repo("round-trip"),
    )
    # the next store type of the list lacks its SDK here
    other = EXTRAS[(EXTRAS.index(extra) + 1) % len(EXTRAS)]
    missing_sdk_named(CavoriteIn(bin_dir, cli_env, {}), other, make_git_repo("missing"))


def round_trip(cavorite: CavoriteIn, backend: Backend, repo: Path) -> None:
    cavorite.env.update(backend.env)
    result = cavorite(
        "init", "--store-type", backend.store_type, "--backend-address", backend.address, cwd=repo
    )
    assert result.code == 0, result.stdout + result.stderr
    data = os.urandom(100_000)
    (repo / "a.bin").write_bytes(data)
    result = cavorite("upload", "a.bin", cwd=repo)
    assert result.code == 0, result.stdout + result.stderr
    (repo / "a.bin").unlink()
    result = cavorite("retrieve", "a.bin.cfile", cwd=repo)
    assert result.code == 0, result.stdout + result.stderr
    assert (repo / "a.bin").read_bytes() == data


def missing_sdk_named(cavorite: CavoriteIn, other: str, repo: Path) -> None:
    address = {
        "s3": "s3://bucket",
        "gcs": "gs://bucket",
        "azure": "az://container",
        "fsspec": "memory://bucket",
    }[other]
    result = cavorite("init", "--store-type", other, "--backend-address", address, cwd=repo)
    (repo / "a.bin").write_bytes(b"data")
    if result.code == 0:
        result = cavorite("upload", "a.bin", cwd=repo)
    assert result.code != 0
    message = result.stdout + result.stderr
    assert f"needs {SDK_PACKAGES[other]};" in message, message
    assert f'pip install "cavorite-py[{other}]"' in message, message
    assert "Traceback" not in message
