"""A third-party Python store, the way its author ships it: a package directory whose pyproject
registers a Store class in the ``cavorite_py.stores`` entry-point group, installed with pip, then
found by ``cavorite stores`` and used end to end by the installed command.

pip installs it with ``--target`` into a directory of its own that the commands get on
PYTHONPATH, rather than into the shared virtualenv: other test runs using that environment at
the same time never see it, and removing the directory uninstalls it. The discovery path is the
same (entry points are read from every directory on ``sys.path``). The package builds with a
small in-tree PEP 517 backend, so the install needs neither the network nor the ``wheel``
package.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.repos import Cavorite

STORE_MODULE = '''
"""FlatStore: every object as one file, named by its quoted key, in a single directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import quote, unquote

from cavorite_py.errors import ObjectExists, ObjectNotFound
from cavorite_py.stores.base import ObjectInfo, Store, StoreSettings


class FlatStore(Store):
    default_jobs = 2

    def __init__(self, settings: StoreSettings) -> None:
        super().__init__(settings)
        self.directory = settings.root / settings.address
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.directory / quote(key, safe="")

    def put(self, key, path, info, overwrite=False, progress=None):
        target = self._path(key)
        if target.exists() and not overwrite:
            raise ObjectExists(f"{key!r} is already in {self.directory}")
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
        target.with_name(target.name + ".sha256").write_text(info.sha256 or "")
        if progress is not None:
            progress(info.size)

    def get(self, key, fileobj):
        try:
            with open(self._path(key), "rb") as f:
                shutil.copyfileobj(f, fileobj)
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"{key!r} is not in {self.directory}") from exc

    def stat(self, key):
        path = self._path(key)
        if not path.is_file():
            return None
        sha = path.with_name(path.name + ".sha256").read_text() or None
        return ObjectInfo(path.stat().st_size, sha)

    def list(self, prefix=""):
        for name in os.listdir(self.directory):
            key = unquote(name)
            if not name.endswith((".sha256", ".tmp")) and key.startswith(prefix):
                yield key

    def delete(self, key):
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(f"{key!r} is not in {self.directory}")
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        path.unlink()
'''

BACKEND = '''
"""Just enough of a PEP 517 backend to build this pure-Python package into a wheel."""

import base64
import hashlib
import tomllib
import zipfile
from pathlib import Path


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    dist = project["name"].replace("-", "_")
    info = f"{dist}-{project['version']}.dist-info"
    files = {p.name: p.read_bytes() for p in Path(".").glob("*.py") if p.name != "backend.py"}
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\\nName: {project['name']}\\nVersion: {project['version']}\\n"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: backend.py\\nRoot-Is-Purelib: true\\n"
        b"Tag: py3-none-any\\n"
    )
    files[f"{info}/entry_points.txt"] = "".join(
        f"[{group}]\\n" + "".join(f"{k} = {v}\\n" for k, v in items.items())
        for group, items in project["entry-points"].items()
    ).encode()
    record = [
        f"{name},sha256="
        f"{base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
        f"{len(data)}"
        for name, data in files.items()
    ]
    files[f"{info}/RECORD"] = ("\\n".join([*record, f"{info}/RECORD,,"]) + "\\n").encode()
    wheel = f"{dist}-{project['version']}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel
'''


@pytest.fixture
def store_name() -> str:
    return f"flat{uuid.uuid4().hex[:8]}"


@pytest.fixture
def installed(tmp_path: Path, store_name: str) -> Iterator[Path]:
    """The package built and pip-installed into its own directory; removed afterwards."""
    package = tmp_path / "cavorite-flatstore"
    package.mkdir()
    module = f"cavorite_{store_name}"
    (package / f"{module}.py").write_text(STORE_MODULE)
    (package / "backend.py").write_text(BACKEND)
    (package / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = []
            build-backend = "backend"
            backend-path = ["."]

            [project]
            name = "cavorite-{store_name}"
            version = "1.2.3"

            [project.entry-points."cavorite_py.stores"]
            {store_name} = "{module}:FlatStore"
            """
        )
    )
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site), package],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert (site / f"{module}.py").is_file()
    yield site
    shutil.rmtree(site, ignore_errors=True)


def test_discovered_and_used_end_to_end(
    installed: Path, store_name: str, git_repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    cli_env["PYTHONPATH"] = str(installed)

    listed = cavorite("stores", "--json", cwd=git_repo)
    assert listed.code == 0, listed.stderr
    entries = {e["name"]: e for e in json.loads(listed.stdout)["stores"]}
    assert entries[store_name]["origin"] == f"cavorite-{store_name} 1.2.3"
    assert entries[store_name]["target"] == f"cavorite_{store_name}:FlatStore"
    assert store_name in cavorite("stores", cwd=git_repo).stdout

    init = cavorite(
        "init",
        "--store-type",
        store_name,
        "--backend-address",
        "../flat-objects",
        "--key-scheme",
        "path",
        cwd=git_repo,
    )
    assert init.code == 0, init.stderr
    data = b"\0entry point payload\0" * 1000
    (git_repo / "assets").mkdir()
    (git_repo / "assets" / "model.bin").write_bytes(data)
    uploaded = cavorite("upload", "assets/model.bin", cwd=git_repo)
    assert uploaded.code == 0, uploaded.stderr
    stored = git_repo.parent / "flat-objects" / "assets%2Fmodel.bin"
    assert stored.read_bytes() == data

    (git_repo / "assets" / "model.bin").unlink()
    retrieved = cavorite("retrieve", cwd=git_repo)
    assert retrieved.code == 0, retrieved.stderr
    assert (git_repo / "assets" / "model.bin").read_bytes() == data

    shutil.rmtree(installed)  # uninstalled: the name is unknown again, and said to be
    assert store_name not in cavorite("stores", cwd=git_repo).stdout
    (git_repo / "assets" / "model.bin").unlink()  # a retrieve that needs the store
    assert cavorite("cache", "clean", "--all", cwd=git_repo).code == 0
    gone = cavorite("retrieve", cwd=git_repo)
    assert gone.code == 2
    assert f"unknown store type {store_name!r}" in gone.stderr
    assert not (git_repo / "assets" / "model.bin").exists()
