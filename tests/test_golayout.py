"""The Go tool's layout (no ``key_scheme``, or ``"path"``): options read as the Go tool reads
them. What the Go tool does was measured with its binaries (see tests/interop)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

import cavorite_py
from cavorite_py import golayout, metadata
from cavorite_py.config import Config
from cavorite_py.errors import ConfigError
from cavorite_py.metadata import Metadata
from cavorite_py.stores._addresses import parse_s3


def config(store_type: str = "s3", **options: object) -> Config:
    return Config.from_dict(
        {"store_type": store_type, "options": {"metadata_file_extension": "cfile", **options}}
    )


# --------------------------------------------------------------------- key_scheme


@pytest.mark.parametrize(
    ("options", "scheme"),
    [
        ({}, "path"),
        ({"key_scheme": None}, "path"),
        ({"key_scheme": "path"}, "path"),
        ({"key_scheme": "versioned"}, "versioned"),
    ],
)
def test_key_scheme(options: dict[str, object], scheme: str) -> None:
    cfg = config("s3", **options)
    assert cfg.key_scheme == scheme
    assert cfg.go_layout == (scheme == "path")


@pytest.mark.parametrize("value", ["Path", "sha256", 1])
def test_an_unknown_key_scheme_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="key_scheme"):
        _ = config(key_scheme=value).key_scheme


# --------------------------------------------------------------------- backend_address


@pytest.mark.parametrize(
    ("address", "bucket", "prefix"),
    [
        ("s3://bkt", "bkt", ""),
        ("s3://bkt/", "bkt", ""),
        ("s3://bkt/team/a", "bkt", ""),
        ("http://127.0.0.1:9000/bkt", "bkt", ""),
        # measured: the Go tool sends /bkt/bkt/KEY, /bkt/a/bkt/KEY
        ("http://127.0.0.1:9000/bkt/", "bkt", "bkt"),
        ("http://127.0.0.1:9000/bkt/sub", "bkt", "bkt"),
        ("https://minio.example:9000/bkt/a/b", "bkt", "a/bkt"),
    ],
)
def test_s3_addresses_mean_what_they_mean_to_go(address: str, bucket: str, prefix: str) -> None:
    read = parse_s3(config(backend_address=address).store_address.address)
    assert (read.bucket, read.prefix) == (bucket, prefix)


@pytest.mark.parametrize("address", ["s3://bkt/team", "http://127.0.0.1:9000/bkt/team"])
def test_a_path_after_the_bucket_is_read_as_before_with_versioned_keys(address: str) -> None:
    read = config(backend_address=address, key_scheme="versioned").store_address
    assert read == golayout.Address(address)
    assert parse_s3(read.address).prefix == "team"


def test_other_stores_keep_their_prefix() -> None:
    assert config("gcs", backend_address="gs://b/team").store_address == golayout.Address(
        "gs://b/team"
    )


@pytest.mark.parametrize("address", ["s3://bkt", "http://127.0.0.1:9000/bkt", "s3://bkt/"])
def test_no_warning_without_a_path(address: str) -> None:
    assert config(backend_address=address).store_address.warning is None


def test_the_warning_says_what_to_write_instead() -> None:
    warning = config(backend_address="s3://bkt/team").store_address.warning
    assert warning is not None
    assert "ignores a path after the bucket" in warning
    assert "'s3://bkt'" in warning
    assert "object_key_prefix" in warning


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_warning_is_said_once_when_the_store_opens(tmp_path: Path) -> None:
    (tmp_path / ".cavorite").mkdir()
    cfg = config(backend_address="s3://bkt/team")
    collect = Collect()
    logger = logging.getLogger("cavorite_py.repo")
    logger.addHandler(collect)
    try:
        with cavorite_py.Repo(tmp_path, cfg) as repo:
            repo.store.describe()
            repo.store.describe()
    finally:
        logger.removeHandler(collect)
    assert collect.messages == [cfg.store_address.warning]
    assert repo.config.backend_address == "s3://bkt/team"


# --------------------------------------------------------------------- init


@pytest.mark.parametrize(
    ("address", "prefix", "written"),
    [
        ("s3://bkt", "", ("s3://bkt", "", None)),
        ("s3://bkt/", "p", ("s3://bkt", "p", None)),
        ("s3://bkt/team/a", "", ("s3://bkt", "team/a", "note")),
        ("s3://bkt/team", "/x/", ("s3://bkt", "team/x", "note")),
        ("http://h:9/bkt/", "", ("http://h:9/bkt", "", None)),
        ("http://h:9/bkt/team", "", ("http://h:9/bkt", "team", "note")),
    ],
)
def test_init_writes_the_bucket_alone(
    address: str, prefix: str, written: tuple[str, str, str | None]
) -> None:
    plain, moved, note = golayout.init_address("s3", address, prefix)
    assert (plain, moved, note and "note") == written


@pytest.mark.parametrize(
    "address",
    [
        "s3://bkt/team?X-Amz-Signature=abc",
        "s3://bkt/team#x",
        "http://k:s@h:9/bkt/team",
    ],
)
def test_an_address_with_secrets_is_never_cut_into_one_the_store_accepts(address: str) -> None:
    assert golayout.init_address("s3", address, "") == (address, "", None)
    assert config(backend_address=address).store_address == golayout.Address(address)
    with pytest.raises(ConfigError, match="must not carry credentials"):
        parse_s3(address)


def test_init_leaves_other_stores_alone() -> None:
    assert golayout.init_address("gcs", "gs://b/team", "") == ("gs://b/team", "", None)


# --------------------------------------------------------------------- extension


@pytest.mark.parametrize("store_type", ["s3", "plugin"])
@pytest.mark.parametrize("extension", [None, ""])
def test_a_missing_extension_is_refused_where_go_works_too(
    store_type: str, extension: str | None
) -> None:
    options = {} if extension is None else {"metadata_file_extension": extension}
    with pytest.raises(
        ConfigError, match=r"metadata_file_extension is missing or empty.*'x\.bin\.'"
    ):
        Config.from_dict({"store_type": store_type, "options": options})


@pytest.mark.parametrize(
    ("store_type", "options"),
    [("localstore", {}), ("gcs", {}), ("s3", {"key_scheme": "versioned"})],
)
def test_a_missing_extension_is_cfile_elsewhere(store_type: str, options: dict[str, str]) -> None:
    assert Config.from_dict({"store_type": store_type, "options": options}).extension == "cfile"


# --------------------------------------------------------------------- cfiles


SHA = hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize(
    ("old", "describes"),
    [
        (None, False),
        (Metadata("a.bin", SHA, "2022-10-05T10:56:17.051936728-07:00"), True),
        (Metadata("a.bin", SHA, "", 1), True),
        (Metadata("a.bin", SHA.upper(), ""), True),
        (Metadata("a.bin", SHA, "", 2), False),
        (Metadata("b.bin", SHA, ""), False),
        (Metadata("a.bin", "0" * 64, ""), False),
    ],
)
def test_describes(old: Metadata | None, describes: bool) -> None:
    assert metadata.describes(old, "a.bin", SHA, 1) is describes
