"""Compatibility with Cavorite, the Go tool, both ways: its config and cfiles load and retrieve;
the cfiles we write are ones it reads (the same fields, an RFC 3339 nanosecond timestamp)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

import cavorite_py
from cavorite_py import config as configmod
from cavorite_py import metadata
from cavorite_py.results import Outcome

ZONEINFO = Path("/usr/share/zoneinfo")

# json.MarshalIndent(v, "", " ") as the Go tool writes both files: one-space indent, no newline
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

RFC3339_NANO = re.compile(
    r"(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d{1,9}))?(?P<zone>Z|[+-]\d\d:\d\d)"
)


def go_json(data: dict[str, object]) -> str:
    return json.dumps(data, indent=1)


def go_config(store_type: str, **options: str) -> str:
    full = {
        "backend_address": "",
        "metadata_file_extension": "cfile",
        "region": "us-east-1",
        "object_key_prefix": "",
        "plugin_address": "",
    }
    full.update(options)
    return go_json({"store_type": store_type, "options": full})


def parse_rfc3339_ns(stamp: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp with up to nine fraction digits."""
    m = RFC3339_NANO.fullmatch(stamp)
    assert m, stamp
    zone = "+00:00" if m["zone"] == "Z" else m["zone"]
    seconds = int(datetime.fromisoformat(m["base"] + zone).timestamp())
    return seconds * 1_000_000_000 + int((m["frac"] or "0").ljust(9, "0"))


@pytest.fixture
def pacific(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not (ZONEINFO / "America/Los_Angeles").exists():
        pytest.fail("time zone data is missing (install tzdata)")
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --------------------------------------------------------------------- their config


def test_go_config_loads_unchanged_through_the_repo_api(tmp_path: Path) -> None:
    (tmp_path / ".cavorite").mkdir()
    (tmp_path / ".cavorite" / "config").write_text(GO_CONFIG)
    (tmp_path / "sub").mkdir()
    with cavorite_py.Repo.find(tmp_path / "sub") as repo:
        assert repo.root == tmp_path
        assert repo.config.store_type == "s3"
        assert repo.config.to_dict() == json.loads(GO_CONFIG)
        assert repo.workspace.extension == "cfile"
        assert repo.workspace.key_prefix == "team-a"
        assert repo.workspace.key_for(tmp_path / "d" / "x.bin") == "team-a/d/x.bin"
    # loading never rewrites it
    assert (tmp_path / ".cavorite" / "config").read_text() == GO_CONFIG


def test_go_config_with_an_other_extension(tmp_path: Path) -> None:
    (tmp_path / ".cavorite").mkdir()
    (tmp_path / ".cavorite" / "config").write_text(
        go_config("gcs", backend_address="my-bucket", metadata_file_extension="pfile")
    )
    cfg = configmod.load(tmp_path)
    assert (cfg.store_type, cfg.backend_address, cfg.extension) == ("gcs", "my-bucket", "pfile")


# --------------------------------------------------------------------- their cfiles


@pytest.fixture
def go_repo(tmp_path: Path) -> Path:
    """A repository configured in the Go tool's format, over a local object directory."""
    root = tmp_path / "repo"
    (root / ".cavorite").mkdir(parents=True)
    (root / ".cavorite" / "config").write_text(
        go_config(
            "localstore",
            backend_address=(tmp_path / "objects").as_uri(),
            object_key_prefix="team-a",
        )
    )
    return root


def store_object(tmp_path: Path, key: str, data: bytes) -> None:
    """Put an object where the Go tool (or anyone) left it: a plain file, no sha256 recorded."""
    path = tmp_path / "objects" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_go_cfile_without_size_with_nanoseconds_and_a_prefixed_name_retrieves(
    go_repo: Path, tmp_path: Path
) -> None:
    data = os.urandom(5000)
    store_object(tmp_path, "team-a/installers/chrome.dmg", data)
    cfile = go_repo / "installers" / "chrome.dmg.cfile"
    cfile.parent.mkdir()
    go_cfile = go_json(
        {
            "name": "team-a/installers/chrome.dmg",
            "checksum": hashlib.sha256(data).hexdigest(),
            "date_modified": "2022-10-05T10:56:17.051936728-07:00",
        }
    )
    cfile.write_text(go_cfile)

    with cavorite_py.Repo.find(go_repo) as repo:
        result = repo.retrieve(["installers/chrome.dmg"], cwd=go_repo).results
    assert [(r.outcome, r.key, r.size) for r in result] == [
        (Outcome.RETRIEVED, "team-a/installers/chrome.dmg", None)
    ]
    assert (go_repo / "installers" / "chrome.dmg").read_bytes() == data
    assert cfile.read_text() == go_cfile  # retrieve never rewrites a cfile


def test_the_name_is_the_key_whatever_the_path(go_repo: Path, tmp_path: Path) -> None:
    # early Go versions recorded only the base name; the key is the name, the place is the path
    data = b"base name only"
    store_object(tmp_path, "tool.pkg", data)
    cfile = go_repo / "deep" / "dir" / "tool.pkg.cfile"
    cfile.parent.mkdir(parents=True)
    cfile.write_text(
        go_json(
            {
                "name": "tool.pkg",
                "checksum": hashlib.sha256(data).hexdigest(),
                "date_modified": "2022-10-05T10:56:17.051936728-07:00",
            }
        )
    )
    with cavorite_py.Repo.find(go_repo) as repo:
        assert repo.retrieve(cwd=go_repo).ok
    assert (go_repo / "deep" / "dir" / "tool.pkg").read_bytes() == data
    assert not (go_repo / "tool.pkg").exists()


def test_go_zero_time_and_uppercase_checksum_load(tmp_path: Path) -> None:
    path = tmp_path / "a.cfile"
    path.write_text(
        go_json({"name": "a", "checksum": "AB" * 32, "date_modified": "0001-01-01T00:00:00Z"})
    )
    meta = metadata.read(path)
    assert (meta.checksum, meta.date_modified, meta.size) == (
        "ab" * 32,
        "0001-01-01T00:00:00Z",
        None,
    )


def test_reuploading_a_go_file_leaves_its_cfile_byte_for_byte(
    go_repo: Path, tmp_path: Path
) -> None:
    data = b"uploaded by the Go tool"
    store_object(tmp_path, "team-a/a.bin", data)
    (go_repo / "a.bin").write_bytes(data)
    go_cfile = go_json(
        {
            "name": "team-a/a.bin",
            "checksum": hashlib.sha256(data).hexdigest(),
            "date_modified": "2022-10-05T10:56:17.051936728-07:00",
        }
    )
    (go_repo / "a.bin.cfile").write_text(go_cfile)
    with cavorite_py.Repo.find(go_repo) as repo:
        result = repo.upload(["a.bin"], cwd=go_repo).results
    assert [r.outcome for r in result] == [Outcome.ALREADY_STORED]
    assert (go_repo / "a.bin.cfile").read_text() == go_cfile


def test_a_cfile_with_a_wrong_size_is_rewritten(go_repo: Path, tmp_path: Path) -> None:
    data = b"uploaded by the Go tool"
    store_object(tmp_path, "team-a/a.bin", data)
    (go_repo / "a.bin").write_bytes(data)
    checksum = hashlib.sha256(data).hexdigest()
    wrong = {"name": "team-a/a.bin", "checksum": checksum, "date_modified": "", "size": 1}
    (go_repo / "a.bin.cfile").write_text(go_json(wrong))
    with cavorite_py.Repo.find(go_repo) as repo:
        repo.upload(["a.bin"], cwd=go_repo)
    assert json.loads((go_repo / "a.bin.cfile").read_text())["size"] == len(data)


# --------------------------------------------------------------------- our cfiles


def test_our_cfile_has_exactly_the_go_fields_plus_size(
    pacific: None, go_repo: Path, tmp_path: Path
) -> None:
    data = os.urandom(1234)
    artifact = go_repo / "d" / "a.bin"
    artifact.parent.mkdir()
    artifact.write_bytes(data)
    mtime_ns = 1664992577051936728  # 2022-10-05T10:56:17.051936728-07:00
    os.utime(artifact, ns=(mtime_ns, mtime_ns))
    with cavorite_py.Repo.find(go_repo) as repo:
        assert repo.upload(["d/a.bin"], cwd=go_repo).ok

    written = json.loads((go_repo / "d" / "a.bin.cfile").read_text())
    assert list(written) == ["name", "checksum", "date_modified", "size"]
    assert written["name"] == "team-a/d/a.bin"
    assert written["checksum"] == hashlib.sha256(data).hexdigest()
    assert written["size"] == 1234
    assert written["date_modified"] == "2022-10-05T10:56:17.051936728-07:00"
    assert parse_rfc3339_ns(written["date_modified"]) == mtime_ns
    assert (tmp_path / "objects" / "team-a" / "d" / "a.bin").read_bytes() == data


def test_our_timestamp_is_the_files_mtime_to_the_nanosecond(go_repo: Path) -> None:
    artifact = go_repo / "a.bin"
    artifact.write_bytes(b"x")
    mtime_ns = artifact.stat().st_mtime_ns
    with cavorite_py.Repo.find(go_repo) as repo:
        assert repo.upload(["a.bin"], cwd=go_repo).ok
    stamp = json.loads((go_repo / "a.bin.cfile").read_text())["date_modified"]
    assert RFC3339_NANO.fullmatch(stamp), stamp
    assert parse_rfc3339_ns(stamp) == mtime_ns
