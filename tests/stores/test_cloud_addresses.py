"""Address and option parsing shared by the stores, and the redaction of addresses in their
descriptions (no SDK, no emulator)."""

from __future__ import annotations

import pytest

from cavorite_py import metadata
from cavorite_py.errors import ConfigError, StoreError
from cavorite_py.stores._addresses import (
    BucketAddress,
    check_key,
    int_option,
    parse_azure,
    parse_gcs,
    parse_s3,
    redact,
    seconds_option,
)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("s3://bucket", BucketAddress("s3", "bucket")),
        ("s3://my.bucket-1/team/a/", BucketAddress("s3", "my.bucket-1", "team/a")),
        ("http://127.0.0.1:9000/test", BucketAddress("s3", "test", "", "http://127.0.0.1:9000")),
        (
            "https://minio.example.com/bkt/p",
            BucketAddress("s3", "bkt", "p", "https://minio.example.com"),
        ),
        ("s3://bucket//double//slash", BucketAddress("s3", "bucket", "double/slash")),
    ],
)
def test_parse_s3(address: str, expected: BucketAddress) -> None:
    assert parse_s3(address) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("gs://bucket", BucketAddress("gs", "bucket")),
        ("gs://bucket_1/team/", BucketAddress("gs", "bucket_1", "team")),
        ("my-bucket", BucketAddress("gs", "my-bucket")),  # as the Go tool writes it
        ("my-bucket/prefix/x", BucketAddress("gs", "my-bucket", "prefix/x")),
    ],
)
def test_parse_gcs(address: str, expected: BucketAddress) -> None:
    assert parse_gcs(address) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("az://container", BucketAddress("az", "container")),
        ("az://container/team/a", BucketAddress("az", "container", "team/a")),
        (
            "https://acct1.blob.core.windows.net/cont/p",
            BucketAddress("az", "cont", "p", "https://acct1.blob.core.windows.net", "acct1"),
        ),
        (
            "http://127.0.0.1:10000/devstoreaccount1/cont",
            BucketAddress(
                "az", "cont", "", "http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1"
            ),
        ),
        ("az://$web/site", BucketAddress("az", "$web", "site")),
    ],
)
def test_parse_azure(address: str, expected: BucketAddress) -> None:
    assert parse_azure(address) == expected


@pytest.mark.parametrize(
    ("parse", "address", "fragment"),
    [
        (parse_s3, "", "backend_address"),
        (parse_s3, "s3://", "bucket name"),
        (parse_s3, "s3://UPPER", "bucket name"),
        (parse_s3, "s3://ab", "bucket name"),
        (parse_s3, "gs://bucket", "unsupported scheme"),
        (parse_s3, "http://host:notaport/b", "not a valid URL"),
        (parse_s3, "http://127.0.0.1:9000", "bucket name"),
        (parse_s3, "s3://bucket/../x", "'..'"),
        (parse_gcs, "gs://Bad_Bucket", "bucket name"),
        (parse_gcs, "s3://bucket", "unsupported scheme"),
        (parse_gcs, "", "backend_address"),
        (parse_azure, "az://Upper", "container name"),
        (parse_azure, "az://a--b", "container name"),
        (parse_azure, "https://bad_account.blob.core.windows.net/c0n", "storage account"),
        (parse_azure, "http://127.0.0.1:10000/devstoreaccount1", "container name"),
        (parse_azure, "s3://bucket", "unsupported scheme"),
    ],
)
def test_malformed_addresses_are_config_errors(parse: object, address: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(address)  # type: ignore[operator]
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("parse", "address"),
    [
        (parse_s3, "http://AKIAEXAMPLE:s3cr3t@127.0.0.1:9000/bucket"),
        (parse_azure, "https://acct1.blob.core.windows.net/cont?sv=2024&sig=s3cr3t"),
        (parse_gcs, "gs://bucket/p?token=s3cr3t"),
        (parse_azure, "https://acct1.blob.core.windows.net/cont#s3cr3t"),
    ],
)
def test_credentials_in_address_are_refused_without_echo(parse: object, address: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(address)  # type: ignore[operator]
    assert "s3cr3t" not in str(info.value)
    assert "environment" in str(info.value)


def test_keys_join_and_strip_the_prefix() -> None:
    address = BucketAddress("s3", "bucket", "team/a")
    assert address.key("x/y.bin") == "team/a/x/y.bin"
    assert address.unprefix("team/a/x/y.bin") == "x/y.bin"
    assert address.list_prefix("x/") == "team/a/x/"
    assert address.list_prefix("") == "team/a/"
    bare = BucketAddress("s3", "bucket")
    assert bare.key("x.bin") == "x.bin"
    assert bare.list_prefix("") == ""


@pytest.mark.parametrize(
    "key", ["", "/abs", "a/../b", "a//b", "./a", "a/.", "a\\b", "C:/x", "a\x00b", "a\nb"]
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(StoreError, match="refusing unsafe object key"):
        check_key(key)


@pytest.mark.parametrize("key", ["a.bin", "team/x/y.bin", "ünïcødé/日本語.bin", "with space/f"])
def test_safe_keys_pass_by_the_cfile_rule(key: str) -> None:
    assert check_key(key) == key == metadata.check_key(key)


SECRETS = ("s3cr3t", "sig=", "SIGNATURE", "token", "frag", "alice")


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("http://127.0.0.1:9000/bucket", "http://127.0.0.1:9000/bucket"),
        ("sftp://alice:s3cr3t@host:22/dir", "sftp://host:22/dir"),
        (
            "https://acct.blob.core.windows.net/c/p?sv=1&sig=SIGNATURE",
            "https://acct.blob.core.windows.net/c/p",
        ),
        ("https://host/c#frag", "https://host/c"),
        ("https://host?token=1", "https://host"),
        ("sftp://alice:s3?cr#3t@host/dir", "sftp://host/dir"),  # unencoded ? # in a password
        ("alice:s3cr3t@host:/dir?token=1", "host:/dir"),  # scp style, for a plugin
        ("bucket/prefix", "bucket/prefix"),
        ("/srv/objects", "/srv/objects"),
        ("/srv/odd#dir", "/srv/odd#dir"),  # a local path is no URL: nothing to redact
        ("", ""),
    ],
)
def test_redact(address: str, shown: str) -> None:
    assert redact(address) == shown
    if address.startswith("/"):
        return
    for secret in SECRETS:
        assert secret not in redact(address)


def test_describe_never_needs_credentials() -> None:
    assert parse_s3("s3://bucket/p").describe() == "s3://bucket/p"
    assert parse_s3("http://127.0.0.1:9000/b0b").describe() == "http://127.0.0.1:9000/b0b"
    assert parse_gcs("bucket").describe() == "gs://bucket"
    assert parse_azure("az://cont/p").describe() == "az://cont/p"


def test_options() -> None:
    assert int_option({"n": 5}, "n", 1) == 5
    assert int_option({"n": "5"}, "n", 1) == 5
    assert int_option({}, "n", 7) == 7
    assert seconds_option({"t": "2.5"}, "t", 1) == 2.5
    assert seconds_option({}, "t", 7) == 7
    for bad in ({"n": 0}, {"n": "x"}, {"n": True}, {"n": 1.5}):
        with pytest.raises(ConfigError, match="'n'"):
            int_option(bad, "n", 1)
    for bad_float in (
        {"t": 0},
        {"t": -1},
        {"t": "soon"},
        {"t": float("inf")},
        {"t": float("nan")},
        {"t": False},
        {"t": None},
        {"t": [1]},
    ):
        with pytest.raises(ConfigError, match="'t' must be a positive number of seconds"):
            seconds_option(bad_float, "t", 1)
