"""A pinned Python plugin runs only the file the user allowed: a module planted beside it later
(as a pull can add ``tools/json.py`` next to an allowed ``tools/store.py``) is not imported."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cavorite_py import consent
from cavorite_py.errors import ConfigError
from cavorite_py.stores.base import ObjectInfo
from tests.fixtures.plugins import DIRSTORE_PY, open_plugin_store

PLANTED = """import pathlib
pathlib.Path({marker!r}).write_text("planted module ran")
"""


@pytest.mark.parametrize("module", ["json", "uuid"])
def test_a_module_planted_beside_an_allowed_plugin_is_not_imported(
    tmp_path: Path, consent_config: Path, module: str
) -> None:
    tools = tmp_path / "repo" / "tools"
    tools.mkdir(parents=True)
    plugin = Path(shutil.copy2(DIRSTORE_PY, tools / "store.py"))
    consent.allow(plugin, pin=True)
    # after consent: the pin still matches, the plugin file is unchanged
    marker = tmp_path / "planted-module-ran"
    (tools / f"{module}.py").write_text(PLANTED.format(marker=str(marker)))
    source = write_source(tmp_path, b"bytes through the plugin\n")

    with open_plugin_store(plugin, str(tmp_path / "objects"), tmp_path / "repo") as store:
        store.put("k", source, ObjectInfo(source.stat().st_size, None), overwrite=False)
        info = store.stat("k")

    assert not marker.exists(), "the plugin imported a module from its own directory"
    assert info is not None
    assert info.size == source.stat().st_size


def write_source(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    return path


def test_a_bare_plugin_name_is_not_found_through_a_relative_path_entry(
    tmp_path: Path, consent_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    plugin = Path(shutil.copy2(DIRSTORE_PY, repo / "store-plugin"))
    consent.allow(plugin, pin=True)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("PATH", os.pathsep.join([".", "", str(tmp_path / "empty")]))

    with pytest.raises(ConfigError, match="no such program on PATH"):
        open_plugin_store("store-plugin", str(tmp_path / "objects"), repo)
