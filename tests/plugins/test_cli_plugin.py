"""An executable plugin end to end, with the installed command in a real git repository: the
repository ships the plugin, and nothing runs until the user consents."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.fixtures.plugins import DIRSTORE_PY, DIRSTORE_SH
from tests.fixtures.repos import Cavorite

DATA = b"\0binary payload\0" * 5000


@pytest.fixture(params=[DIRSTORE_PY, DIRSTORE_SH], ids=["python", "sh"])
def shipped(request: pytest.FixtureRequest, git_repo: Path) -> Path:
    """The example plugin, shipped inside the repository as tools/store-plugin."""
    (git_repo / "tools").mkdir()
    return Path(shutil.copy2(request.param, git_repo / "tools" / "store-plugin"))


@pytest.fixture
def plugin_repo(git_repo: Path, shipped: Path, cavorite: Cavorite, tmp_path: Path) -> Path:
    result = cavorite(
        "init",
        "--store-type",
        "plugin",
        "--plugin-address",
        "tools/store-plugin",
        "--backend-address",
        tmp_path / "plugin-objects",
        "--key-scheme",
        "path",
        cwd=git_repo,
    )
    assert result.code == 0, result.stderr
    (git_repo / "big.bin").write_bytes(DATA)
    return git_repo


def allow_env(plugin: Path) -> dict[str, str | None]:
    return {"CAVORITE_ALLOW_PLUGIN": str(plugin)}


def test_refused_until_allowed_then_upload_and_retrieve(
    plugin_repo: Path, shipped: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    refused = cavorite("upload", "big.bin", cwd=plugin_repo)
    assert refused.code == 2
    assert f"plugin {shipped} is not allowed to run" in refused.stderr
    assert f"cavorite allow-plugin {shipped}" in refused.stderr
    assert f"CAVORITE_ALLOW_PLUGIN={shipped}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (plugin_repo / "big.bin.cfile").exists()
    assert not (tmp_path / "plugin-objects").exists()  # the plugin never ran

    uploaded = cavorite("upload", "big.bin", cwd=plugin_repo, env=allow_env(shipped))
    assert uploaded.code == 0, uploaded.stderr
    cfile = json.loads((plugin_repo / "big.bin.cfile").read_text())
    assert (tmp_path / "plugin-objects" / "objects" / cfile["name"]).read_bytes() == DATA

    (plugin_repo / "big.bin").unlink()
    assert cavorite("retrieve", cwd=plugin_repo).code == 2
    retrieved = cavorite("retrieve", cwd=plugin_repo, env=allow_env(shipped))
    assert retrieved.code == 0, retrieved.stderr
    assert (plugin_repo / "big.bin").read_bytes() == DATA


def test_wrong_bytes_from_a_plugin_are_deleted_and_reported(
    plugin_repo: Path, shipped: Path, cavorite: Cavorite, tmp_path: Path
) -> None:
    """Verification stays in cavorite: the plugin's answer is hash-checked like any store's."""
    assert cavorite("upload", "big.bin", cwd=plugin_repo, env=allow_env(shipped)).code == 0
    stored = tmp_path / "plugin-objects" / "objects" / "big.bin"
    stored.write_bytes(DATA[:-1] + b"!")
    (plugin_repo / "big.bin").unlink()
    result = cavorite("retrieve", cwd=plugin_repo, env=allow_env(shipped))
    assert result.code == 1
    assert "does not match its cfile" in result.stdout + result.stderr
    assert sorted(os.listdir(plugin_repo)) == [
        ".cavorite",
        ".git",
        ".gitignore",
        "big.bin.cfile",
        "tools",
    ]


def test_crashing_plugin_is_one_clear_line_per_file(
    plugin_repo: Path, shipped: Path, cavorite: Cavorite
) -> None:
    shipped.write_text("#!/bin/sh\necho 'store-plugin: cannot reach the backend' >&2\nexit 7\n")
    result = cavorite("upload", "big.bin", cwd=plugin_repo, env=allow_env(shipped))
    assert result.code == 1
    assert (
        f"plugin {shipped} exited with code 7 during the handshake; its last stderr lines: "
        "store-plugin: cannot reach the backend"
    ) in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_allow_plugin_command_pins_the_content(
    plugin_repo: Path, shipped: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    allowed = cavorite("allow-plugin", "tools/store-plugin", cwd=plugin_repo)
    assert allowed.code == 0, allowed.stderr
    config = Path(cli_env["XDG_CONFIG_HOME"]) / "cavorite" / "config.json"
    assert f"allowed plugin {shipped}" in allowed.stdout
    assert str(shipped) in config.read_text()
    assert cavorite("upload", "big.bin", cwd=plugin_repo).code == 0

    with shipped.open("a") as f:
        f.write("\n# changed by a later commit\n")
    (plugin_repo / "big.bin").unlink()  # so that retrieve needs the store, hence the plugin
    changed = cavorite("retrieve", cwd=plugin_repo)
    assert changed.code == 2
    assert f"plugin {shipped} changed since you allowed it" in changed.stderr
    assert not (plugin_repo / "big.bin").exists()
