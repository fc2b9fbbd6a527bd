"""``.cavorite/config``: finding the root, loading, validating, saving; the Go tool's format."""

from __future__ import annotations

import json
import os
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from cavorite_py import config as configmod
from cavorite_py.config import Config
from cavorite_py.errors import ConfigError
from cavorite_py.fsutil import TMP_MARK
from cavorite_py.keys import KeyScheme
from tests.fixtures.repos import git

# exactly what the Go tool writes: json.MarshalIndent(config, "", " "), no final newline
GO_CONFIG = """{
 "store_type": "s3",
 "options": {
  "backend_address": "http://127.0.0.1:9000/test",
  "metadata_file_extension": "cfile",
  "region": "us-east-1",
  "object_key_prefix": "team-a",
  "plugin_address": "/opt/bin/my-store-plugin"
 }
}"""


def write_config(root: Path, text: str | bytes) -> Path:
    path = configmod.config_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def config_dict(**options: Any) -> dict[str, Any]:
    return {"store_type": "localstore", "options": options}


# --------------------------------------------------------------------- Go compatibility


def test_go_written_config_loads_unchanged(tmp_path: Path) -> None:
    write_config(tmp_path, GO_CONFIG)
    cfg = configmod.load(tmp_path)
    assert cfg.store_type == "s3"
    assert cfg.backend_address == "http://127.0.0.1:9000/test"
    assert cfg.extension == "cfile"
    assert cfg.option("region") == "us-east-1"
    assert cfg.key_prefix == "team-a"
    assert cfg.option("plugin_address") == "/opt/bin/my-store-plugin"
    assert cfg.extra == {}
    assert cfg.to_dict() == json.loads(GO_CONFIG)
    assert list(cfg.to_dict()["options"]) == list(json.loads(GO_CONFIG)["options"])


def test_go_config_survives_a_save_and_reload(tmp_path: Path) -> None:
    write_config(tmp_path, GO_CONFIG)
    configmod.save(tmp_path, configmod.load(tmp_path))
    assert json.loads(configmod.config_path(tmp_path).read_text()) == json.loads(GO_CONFIG)


def test_go_config_with_empty_options_gets_defaults(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        '{\n "store_type": "gcs",\n "options": {\n  "backend_address": "my-bucket",\n'
        '  "metadata_file_extension": "",\n  "region": "",\n  "object_key_prefix": "",\n'
        '  "plugin_address": ""\n }\n}',
    )
    cfg = configmod.load(tmp_path)
    assert (cfg.store_type, cfg.backend_address, cfg.extension, cfg.key_prefix) == (
        "gcs",
        "my-bucket",
        "cfile",
        "",
    )


# --------------------------------------------------------------------- unknown keys


def test_unknown_keys_are_kept_top_level_and_in_options(tmp_path: Path) -> None:
    data = {
        "store_type": "localstore",
        "options": {"backend_address": "objects", "jobs": 3, "future_option": {"a": [1]}},
        "version": 2,
        "comment": "written by a newer tool",
    }
    write_config(tmp_path, json.dumps(data))
    cfg = configmod.load(tmp_path)
    assert cfg.extra == {"version": 2, "comment": "written by a newer tool"}
    configmod.save(tmp_path, cfg)
    assert json.loads(configmod.config_path(tmp_path).read_text()) == data
    assert list(json.loads(configmod.config_path(tmp_path).read_text()))[:2] == [
        "store_type",
        "options",
    ]


def test_save_writes_atomically_with_a_final_newline(tmp_path: Path) -> None:
    path = configmod.save(tmp_path, Config("localstore", {"backend_address": "x"}))
    assert path == tmp_path / ".cavorite" / "config"
    assert path.read_text().endswith("}\n")
    assert not [p for p in path.parent.iterdir() if TMP_MARK in p.name]


# --------------------------------------------------------------------- find_root


def test_find_root_from_the_root_and_from_below(tmp_path: Path) -> None:
    write_config(tmp_path, json.dumps(config_dict()))
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert configmod.find_root(tmp_path) == tmp_path
    assert configmod.find_root(deep) == tmp_path


def test_find_root_prefers_the_nearest(tmp_path: Path) -> None:
    write_config(tmp_path, json.dumps(config_dict()))
    inner = tmp_path / "vendor" / "other"
    write_config(inner, json.dumps(config_dict()))
    assert configmod.find_root(inner / ".") == inner


def test_find_root_ignores_a_directory_named_config(tmp_path: Path) -> None:
    (tmp_path / ".cavorite" / "config").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"no \.cavorite/config found"):
        configmod.find_root(tmp_path)


def test_find_root_outside_any_repository_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        configmod.find_root(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert "cavorite init" in str(info.value)
    assert info.value.exit_code == 2


# --------------------------------------------------------------------- load errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not valid JSON"),
        ('{"store_type": "s3",', "is not valid JSON (line 1"),
        ("[]", "must be a JSON object"),
        ('"s3"', "must be a JSON object"),
        ("{}", "has no store_type"),
        ('{"store_type": ""}', "has no store_type"),
        ('{"store_type": 3}', "has no store_type"),
        ('{"store_type": "s3", "options": []}', "options must be a JSON object"),
        ('{"store_type": "s3", "options": "x"}', "options must be a JSON object"),
        (b"\xff\xfe", "cannot read"),
    ],
)
def test_load_refuses_broken_configs(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        configmod.load(tmp_path)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


def test_load_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; run `cavorite init` first"):
        configmod.load(tmp_path)


def test_null_options_mean_none(tmp_path: Path) -> None:
    # (a store type the Go tool cannot open: for s3 and plugin the extension must be given)
    write_config(tmp_path, '{"store_type": "gcs", "options": null}')
    cfg = configmod.load(tmp_path)
    assert cfg.options == {}
    assert cfg.extension == "cfile"


@pytest.mark.parametrize("ext", [".cfile", "a/b", "a\\b", ".", "c\x00f", "c\nf"])
def test_unusable_extensions_are_refused(ext: str) -> None:
    with pytest.raises(ConfigError, match="metadata_file_extension"):
        Config.from_dict(config_dict(metadata_file_extension=ext))


def test_extension_must_be_a_string() -> None:
    with pytest.raises(ConfigError, match=r"'metadata_file_extension'.*must be a string"):
        Config.from_dict(config_dict(metadata_file_extension=5))


@pytest.mark.parametrize("ext", ["cfile", "meta", "pantri", "c.file"])
def test_usable_extensions(ext: str) -> None:
    assert Config.from_dict(config_dict(metadata_file_extension=ext)).extension == ext


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("", ""), ("team-a", "team-a"), ("/team-a/", "team-a"), ("a/b", "a/b")],
)
def test_key_prefix_is_stripped_of_slashes(prefix: str, expected: str) -> None:
    assert Config.from_dict(config_dict(object_key_prefix=prefix)).key_prefix == expected


@pytest.mark.parametrize("prefix", ["..", "a/../b", "a//b", "a\\b", "./a", "t\x00"])
def test_unusable_key_prefix_is_a_config_error(prefix: str) -> None:
    with pytest.raises(ConfigError, match="object_key_prefix"):
        Config.from_dict(config_dict(object_key_prefix=prefix), "the config")


# --------------------------------------------------------------------- typed options


def test_option_defaults_and_types() -> None:
    cfg = Config("s3", {"region": None, "n": 3})
    assert cfg.option("region", "us-east-1") == "us-east-1"
    assert cfg.option("missing") == ""
    with pytest.raises(ConfigError, match=r"'n'.*must be a string, not int"):
        cfg.option("n")


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), (4, 4), ("12", 12), ("0", 0)]
)
def test_int_option(value: object, expected: int | None) -> None:
    assert Config("s3", {"jobs": value}).int_option("jobs") == expected


def test_int_option_below_its_minimum_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'jobs' must be at least 1, not 0"):
        Config("s3", {"jobs": 0}).int_option("jobs", minimum=1)
    with pytest.raises(ConfigError, match=r"must be at least 0, not -1"):
        Config("s3", {"large_file_threshold": "-1"}).int_option("large_file_threshold")


@pytest.mark.parametrize("value", ["four", 1.5, True, [1]])
def test_int_option_refuses(value: object) -> None:
    with pytest.raises(ConfigError, match="'jobs' must be a whole number"):
        Config("s3", {"jobs": value}).int_option("jobs")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True),
        ("", True),
        (True, True),
        (False, False),
        ("false", False),
        ("No", False),
        ("0", False),
        ("YES", True),
        ("1", True),
    ],
)
def test_bool_option(value: object, expected: bool) -> None:
    assert Config("s3", {"gitignore": value}).bool_option("gitignore", True) is expected


@pytest.mark.parametrize("value", ["maybe", 1, [True]])
def test_bool_option_refuses(value: object) -> None:
    with pytest.raises(ConfigError, match="'gitignore' must be true or false"):
        Config("s3", {"gitignore": value}).bool_option("gitignore", True)


def test_save_where_the_config_directory_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / ".cavorite").write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot write") as info:
        configmod.save(tmp_path, Config("localstore", {"backend_address": "x"}))
    assert info.value.exit_code == 2
    assert (tmp_path / ".cavorite").read_text() == "not a directory"


# --------------------------------------------------------------------- bounds


def test_a_config_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    path = write_config(tmp_path, json.dumps(config_dict()))
    # a sparse file of 2 GB: read whole, it would take that much memory
    with open(path, "r+b") as f:
        f.truncate(2 * 1024**3)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"larger than 1048576 bytes, so not a config"):
            configmod.load(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * configmod.MAX_CONFIG_BYTES


def test_a_config_at_the_cap_loads(tmp_path: Path) -> None:
    text = json.dumps(config_dict())
    write_config(tmp_path, text + " " * (configmod.MAX_CONFIG_BYTES - len(text)))
    assert configmod.load(tmp_path).store_type == "localstore"


def test_a_fifo_in_place_of_the_config_is_refused_without_blocking(tmp_path: Path) -> None:
    path = configmod.config_path(tmp_path)
    path.parent.mkdir()
    os.mkfifo(path)
    with pytest.raises(ConfigError, match="is not a regular file"):
        configmod.load(tmp_path)


# --------------------------------------------------------------------- one config per repository


def test_a_nested_config_in_a_git_work_tree_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    git(tmp_path, "init", "-q")
    write_config(tmp_path, json.dumps(config_dict()))
    inner = tmp_path / "vendor" / "other"
    write_config(inner, json.dumps(config_dict()))
    with caplog.at_level("WARNING", logger="cavorite_py.config"):
        assert configmod.find_root(inner / "deeper") == tmp_path
        assert configmod.find_root(inner) == tmp_path
    warnings = [r.getMessage() for r in caplog.records]
    # once per process, naming the ignored file and the one used
    assert warnings == [
        f"ignoring {configmod.config_path(inner)}: only the repository's own configuration, "
        f"{configmod.config_path(tmp_path)}, is used"
    ]


def test_a_config_above_the_git_work_tree_does_not_govern_it(tmp_path: Path) -> None:
    write_config(tmp_path, json.dumps(config_dict()))
    repo = tmp_path / "checkout"
    repo.mkdir()
    git(repo, "init", "-q")
    write_config(repo / "sub", json.dumps(config_dict()))
    assert configmod.find_root(repo / "sub") == repo / "sub"


def test_key_scheme_absent_means_path_keys() -> None:
    assert Config.from_dict(config_dict()).key_scheme is KeyScheme.PATH
    assert Config.from_dict(config_dict(key_scheme="")).key_scheme is KeyScheme.PATH


def test_key_scheme_versioned() -> None:
    assert Config.from_dict(config_dict(key_scheme="versioned")).key_scheme is KeyScheme.VERSIONED


def test_unknown_key_scheme_names_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match="'key_scheme' must be one of 'path', 'versioned'"):
        _ = Config.from_dict(config_dict(key_scheme="sha")).key_scheme
