"""The consent rule: a repository's configuration cannot run a program the user did not allow."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from cavorite_py import consent
from cavorite_py.cli import app, run
from cavorite_py.cli.plugins import register
from cavorite_py.errors import ConfigError, ConsentError
from cavorite_py.stores.plugin import PluginStore
from tests.fixtures.plugins import DIRSTORE_PY, open_plugin_store

from .conftest import write_executable


@pytest.fixture
def plugin(tmp_path: Path, consent_config: Path) -> Path:
    """A copy of the example plugin, as a cloned repository might ship it."""
    repo_tools = tmp_path / "repo" / "tools"
    repo_tools.mkdir(parents=True)
    return Path(shutil.copy2(DIRSTORE_PY, repo_tools / "store-plugin"))


def open_store(plugin: Path | str) -> PluginStore:
    root = Path(plugin).parent
    return open_plugin_store(plugin, str(root / "objects"), root)


def test_refused_without_consent_saying_how_to_give_it(plugin: Path) -> None:
    assert not consent.is_allowed(plugin)
    with pytest.raises(ConsentError) as exc:
        open_store(plugin)
    text = str(exc.value)
    assert "\n" not in text
    assert f"plugin {plugin} is not allowed to run" in text
    assert f"run: cavorite allow-plugin {plugin}" in text
    assert f"{consent.ENV_VAR}={plugin}" in text
    assert exc.value.exit_code == 2


def test_allowed_through_the_user_config(plugin: Path, consent_config: Path) -> None:
    allowance = consent.allow(plugin)
    assert allowance.path == str(plugin)
    assert allowance.sha256 == consent.file_sha256(plugin)
    assert consent.is_allowed(plugin)
    saved = json.loads(consent_config.read_text())
    assert saved == {"allowed_plugins": [{"path": str(plugin), "sha256": allowance.sha256}]}
    with open_store(plugin) as store:
        assert store.stat("a") is None


def test_allowed_through_the_environment(
    plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(consent.ENV_VAR, os.pathsep.join(["/opt/other", str(plugin)]))
    assert consent.is_allowed(plugin)
    with open_store(plugin) as store:
        assert store.stat("a") is None


def test_relative_entries_in_the_environment_are_ignored(
    plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(plugin.parent)
    monkeypatch.setenv(consent.ENV_VAR, plugin.name)
    assert not consent.is_allowed(plugin)


def test_another_path_is_refused(plugin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    consent.allow(plugin)
    twin = Path(shutil.copy2(plugin, plugin.with_name("twin")))  # same content, other path
    monkeypatch.setenv(consent.ENV_VAR, str(plugin))
    assert not consent.is_allowed(twin)
    with pytest.raises(ConsentError, match=f"plugin {twin} is not allowed"):
        open_store(twin)


def test_symlinks_are_resolved_both_ways(plugin: Path, tmp_path: Path) -> None:
    link = tmp_path / "link-to-plugin"
    link.symlink_to(plugin)
    assert consent.allow(link).path == str(plugin)
    assert consent.is_allowed(plugin)
    assert open_store(link).executable == plugin
    # a repository cannot point an allowed name at another program
    other = write_executable(tmp_path / "other", "#!/bin/sh\n")
    link.unlink()
    link.symlink_to(other)
    with pytest.raises(ConsentError, match=f"plugin {other} is not allowed"):
        open_store(link)


def test_changed_content_is_refused(plugin: Path) -> None:
    consent.allow(plugin)
    with plugin.open("a") as f:
        f.write("# a repository's update\n")
    assert not consent.is_allowed(plugin)
    with pytest.raises(ConsentError) as exc:
        open_store(plugin)
    assert f"plugin {plugin} changed since you allowed it" in str(exc.value)
    assert f"cavorite allow-plugin {plugin}" in str(exc.value)
    consent.allow(plugin)
    assert consent.is_allowed(plugin)


def test_content_changed_after_the_store_was_opened(plugin: Path) -> None:
    consent.allow(plugin)
    store = open_store(plugin)
    with plugin.open("a") as f:
        f.write("# swapped before the first request\n")
    with pytest.raises(ConsentError, match="changed since you allowed it"):
        store.stat("a")
    assert store.pid is None


def test_unpinned_consent_allows_any_content(plugin: Path, consent_config: Path) -> None:
    assert consent.allow(plugin, pin=False).sha256 is None
    with plugin.open("a") as f:
        f.write("# upgraded in place\n")
    assert consent.is_allowed(plugin)
    consent_config.write_text(json.dumps({"allowed_plugins": [str(plugin)]}))
    assert consent.is_allowed(plugin)


def test_allow_keeps_other_settings_and_replaces_its_own_entry(
    plugin: Path, consent_config: Path
) -> None:
    consent_config.parent.mkdir(parents=True)
    consent_config.write_text(json.dumps({"theme": "dark", "allowed_plugins": ["/opt/x"]}))
    consent.allow(plugin, pin=False)
    consent.allow(plugin)
    saved = json.loads(consent_config.read_text())
    assert saved["theme"] == "dark"
    assert [e if isinstance(e, str) else e["path"] for e in saved["allowed_plugins"]] == [
        "/opt/x",
        str(plugin),
    ]
    assert saved["allowed_plugins"][1]["sha256"] == consent.file_sha256(plugin)


@pytest.mark.parametrize(
    "content", ["{not json", "[]", '{"allowed_plugins": "/x"}', '{"allowed_plugins": ["rel"]}']
)
def test_broken_user_config_is_named(plugin: Path, consent_config: Path, content: str) -> None:
    consent_config.parent.mkdir(parents=True)
    consent_config.write_text(content)
    with pytest.raises(ConfigError, match=str(consent_config)):
        consent.is_allowed(plugin)


def test_allowing_a_missing_file(tmp_path: Path, consent_config: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        consent.allow(tmp_path / "nothing")


def test_default_config_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert consent.user_config_path() == tmp_path / ".config" / "cavorite" / "config.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/is/ignored")
    assert consent.user_config_path() == tmp_path / ".config" / "cavorite" / "config.json"


def test_allow_plugin_command(
    plugin: Path, consent_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register(app)
    register(app)  # harmless twice
    assert [c.name for c in app.registered_commands].count("allow-plugin") == 1
    assert run(["allow-plugin", str(plugin)]) == 0
    out = capsys.readouterr().out
    assert f"allowed plugin {plugin} (sha256 {consent.file_sha256(plugin)})" in out
    assert str(consent_config) in out
    assert consent.is_allowed(plugin)
    assert run(["allow-plugin", "--any-content", str(plugin)]) == 0
    assert "(any content)" in capsys.readouterr().out
    assert run(["allow-plugin", str(plugin.with_name("missing"))]) == 2
    assert "cannot allow plugin" in capsys.readouterr().err


def refuse_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading any program for its sha256 fails, as for a file without read permission (a test
    run as root could read it even then)."""

    def unreadable(path: Path) -> tuple[str, int]:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(consent, "hash_file", unreadable)


def test_allowing_an_unreadable_program_is_a_one_line_error(
    plugin: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refuse_reading(monkeypatch)
    with pytest.raises(ConfigError, match=f"cannot read plugin {plugin} .*: Permission denied$"):
        consent.allow(plugin)
    register(app)
    assert run(["allow-plugin", str(plugin)]) == 2  # not a traceback (exit 3)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"cannot read plugin {plugin}" in err
    assert consent.allow(plugin, pin=False).sha256 is None  # nothing to read without a pin


def test_a_pinned_program_that_became_unreadable(
    plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    consent.allow(plugin)
    refuse_reading(monkeypatch)
    with pytest.raises(ConfigError, match="cannot read plugin"):
        open_store(plugin)


def test_allowing_a_program_that_cannot_be_read(
    plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_reading(monkeypatch)  # as chmod 0111 would for anyone but root
    with pytest.raises(ConfigError, match="cannot read plugin"):
        consent.allow(plugin)


def test_the_pin_is_the_sha256_of_the_content(plugin: Path) -> None:
    assert consent.file_sha256(plugin) == hashlib.sha256(plugin.read_bytes()).hexdigest()
