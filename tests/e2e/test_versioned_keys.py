"""Versioned object keys with the installed ``cavorite`` in real git repositories, on every
backend: each content of a path gets its own key, so every commit keeps retrieving its own bytes;
a renamed artifact is copied inside the store, not sent again."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cloud_cli import (
    Backend,
    azure_backend,
    fsspec_backend,
    gcs_backend,
    s3_backend,
)
from tests.fixtures.plugins import DIRSTORE_PY
from tests.fixtures.repos import Cavorite, git

VERSIONS = [b"v1 " * 1000, b"version two " * 700, b"\0three\0" * 900]


@dataclass
class Setup:
    init: list[str]
    env: dict[str, str | None] = field(default_factory=dict)
    copies: bool = True
    """whether the store copies inside itself (a plugin has no copy: the file is uploaded)"""


@pytest.fixture(params=["local", "s3", "gcs", "azure", "fsspec", "plugin"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, git_repo: Path) -> Setup:
    name = request.param
    if name == "local":
        return Setup(["--backend-address", str(tmp_path / "objects")])
    if name == "plugin":
        (git_repo / "tools").mkdir()
        plugin = Path(shutil.copy2(DIRSTORE_PY, git_repo / "tools" / "store-plugin"))
        init = [
            "--store-type",
            "plugin",
            "--plugin-address",
            "tools/store-plugin",
            "--backend-address",
            str(tmp_path / "plugin-objects"),
        ]
        return Setup(init, {"CAVORITE_ALLOW_PLUGIN": str(plugin)}, copies=False)
    if name == "fsspec":
        backend = fsspec_backend(tmp_path / "fsspec-objects")
    else:
        emulator = request.getfixturevalue(f"{name}_emulator")
        makers: dict[str, Callable[[Any], Backend]] = {
            "s3": s3_backend,
            "gcs": gcs_backend,
            "azure": azure_backend,
        }
        backend = makers[name](emulator)
    init = ["--store-type", backend.store_type, "--backend-address", backend.address]
    return Setup(init, dict(backend.env))


def runner(setup: Setup, repo: Path, cavorite: Cavorite):
    def run(*args: str, ok: bool = True) -> str:
        code, out, err = cavorite(*args, cwd=repo, env=setup.env, timeout=300)
        assert (code == 0) == ok, out + err
        return out + err

    return run


def test_every_commit_retrieves_its_own_bytes(
    setup: Setup, git_repo: Path, cavorite: Cavorite
) -> None:
    run = runner(setup, git_repo, cavorite)
    run("init", *setup.init)
    assert (
        json.loads((git_repo / ".cavorite" / "config").read_text())["options"]["key_scheme"]
        == "versioned"
    )
    artifact = git_repo / "models" / "model.bin"
    artifact.parent.mkdir()
    names = []
    for number, data in enumerate(VERSIONS, 1):
        artifact.write_bytes(data)
        # changed content is a new object: no --force
        run("upload", "models/model.bin")
        # the same content again sends nothing
        assert "already stored" in run("upload", "models/model.bin")
        names.append(json.loads((git_repo / "models" / "model.bin.cfile").read_text())["name"])
        git(git_repo, "add", "-A")
        git(git_repo, "commit", "-q", "-m", f"model v{number}")
        git(git_repo, "tag", f"v{number}")
    assert len(set(names)) == 3
    assert all(name.startswith("models/model.bin@") for name in names), names

    for number in (1, 3, 2, 1):
        git(git_repo, "checkout", "-q", f"v{number}")
        run("retrieve", "--force")
        assert artifact.read_bytes() == VERSIONS[number - 1]
        # nothing left to do at this commit
        assert "up to date" in run("retrieve")


def test_a_renamed_artifact_is_copied_inside_the_store(
    setup: Setup, git_repo: Path, cavorite: Cavorite
) -> None:
    run = runner(setup, git_repo, cavorite)
    run("init", *setup.init)
    (git_repo / "old.bin").write_bytes(VERSIONS[0])
    run("upload", "old.bin")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "old")
    git(git_repo, "mv", "old.bin.cfile", "new.bin.cfile")
    os.rename(git_repo / "old.bin", git_repo / "new.bin")

    report = json.loads(run("upload", "--json", "new.bin"))
    [result] = report["files"]
    assert result["outcome"] == "uploaded"
    assert result["key"].startswith("new.bin@")
    assert result.get("detail") == ("copied" if setup.copies else None)
    # the copy is the content: retrieved and verified from its own key
    (git_repo / "new.bin").unlink()
    run("retrieve", "new.bin")
    assert (git_repo / "new.bin").read_bytes() == VERSIONS[0]


def test_a_local_copy_sends_no_bytes(git_repo: Path, cavorite: Cavorite, tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    setup = Setup(["--backend-address", str(objects)])
    run = runner(setup, git_repo, cavorite)
    run("init", *setup.init)
    (git_repo / "a.bin").write_bytes(VERSIONS[1])
    run("upload", "a.bin")
    shutil.copy2(git_repo / "a.bin", git_repo / "b.bin")
    run("upload", "b.bin")
    [a, b] = sorted(objects.iterdir())
    # one file under two names: a hard link, no byte written
    assert a.stat().st_ino == b.stat().st_ino
    assert a.stat().st_nlink == 2


def test_a_key_over_the_limit_is_refused_before_anything_is_stored(
    git_repo: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    objects = tmp_path / "objects"
    run = runner(Setup([]), git_repo, cavorite)
    run("init", "--backend-address", str(objects))
    # 1,000 bytes of path: with "@" and the sha256, 1,065 bytes of key
    deep = git_repo.joinpath(*["d" * 199] * 4)
    deep.mkdir(parents=True)
    artifact = deep / ("f" * (1000 - len(deep.relative_to(git_repo).as_posix()) - 1))
    artifact.write_bytes(b"data")
    output = run("upload", str(artifact), ok=False)
    assert "its object key would be 1065 bytes, over the 1024" in output
    assert "Traceback" not in output
    assert not Path(f"{artifact}.cfile").exists()
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_a_config_without_key_scheme_keeps_path_keys_and_the_force_rule(
    git_repo: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    run = runner(Setup([]), git_repo, cavorite)
    run("init", "--backend-address", str(tmp_path / "objects"))
    config_file = git_repo / ".cavorite" / "config"
    config = json.loads(config_file.read_text())
    # a configuration written by the Go tool has no key_scheme
    del config["options"]["key_scheme"]
    config_file.write_text(json.dumps(config))
    artifact = git_repo / "a.bin"
    artifact.write_bytes(VERSIONS[0])
    run("upload", "a.bin")
    assert json.loads((git_repo / "a.bin.cfile").read_text())["name"] == "a.bin"
    artifact.write_bytes(VERSIONS[1])
    refused = run("upload", "a.bin", ok=False)
    # the message says what --force costs, and how to keep every version instead
    assert "--force would overwrite it and break them" in refused
    assert '"key_scheme": "versioned"' in refused
    run("upload", "--force", "a.bin")
    assert (tmp_path / "objects" / "a.bin").read_bytes() == VERSIONS[1]
