"""The protocol's messages, without a process."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cavorite_py.errors import ObjectExists, StoreError
from cavorite_py.plugin_protocol import messages
from cavorite_py.plugin_protocol.messages import ProtocolViolation
from cavorite_py.stores.base import ObjectInfo, StoreSettings


def test_encode_is_one_compact_utf8_line() -> None:
    line = messages.encode({"id": 1, "op": "stat", "key": 'ünï "q" \\ x\ny'})
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert "ünï".encode() in line
    assert b", " not in line
    assert b'"key":"\xc3\xbcn\xc3\xaf \\"q\\" \\\\ x\\ny"' in line
    assert json.loads(line) == {"id": 1, "op": "stat", "key": 'ünï "q" \\ x\ny'}


def test_a_name_that_is_not_utf8_cannot_be_sent() -> None:
    with pytest.raises(ValueError):
        messages.encode({"path": "bad-\udcff.bin"})


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"not json\n", "not JSON: 'not json'"),
        (b"\xff\xfe\n", "not JSON"),
        (b"[1]\n", "not a protocol message"),
        (b'{"ok": true}\n', "not a protocol message"),
        (b"x" * 500, "..."),
    ],
)
def test_decode_refuses(line: bytes, error: str) -> None:
    with pytest.raises(ProtocolViolation, match=error):
        messages.decode(line)


def test_hello_leaves_out_client_options_and_puts_options_last(tmp_path: Path) -> None:
    settings = StoreSettings(
        "gs://b",
        {"plugin_address": "/x", "plugin_timeout": 3, "plugin_handshake_timeout": 1, "k": "v"},
        tmp_path,
    )
    hello = messages.hello(settings, "cavorite-py 9")
    assert hello == {
        "protocol": messages.PROTOCOL_VERSION,
        "client": "cavorite-py 9",
        "backend_address": "gs://b",
        "root": str(tmp_path),
        "options": {"k": "v"},
    }
    assert list(hello)[-1] == "options"


def test_parse_hello() -> None:
    hello = messages.parse_hello({"protocol": 1, "name": "n", "capabilities": ["sha256"]})
    assert hello == messages.Hello(1, "n", None, frozenset({"sha256"}))
    for bad in (
        {"name": "n"},
        {"protocol": True, "name": "n"},
        {"protocol": 1},
        {"protocol": 1, "name": "n", "capabilities": [1]},
    ):
        with pytest.raises(ProtocolViolation):
            messages.parse_hello(bad)


def test_progress_and_ok() -> None:
    assert messages.is_progress({"id": 1, "progress": 5})
    assert not messages.is_progress({"id": 1, "ok": True, "progress": 5})
    assert messages.progress_bytes({"progress": 5}) == 5
    with pytest.raises(ProtocolViolation):
        messages.progress_bytes({"progress": -1})
    assert messages.is_ok({"ok": True}) is True
    assert messages.is_ok({"ok": False}) is False
    with pytest.raises(ProtocolViolation):
        messages.is_ok({"ok": "yes"})


def test_error_types_and_messages() -> None:
    exc = messages.error({"error": "exists", "message": "already\n  there"}, "plugin p")
    assert type(exc) is ObjectExists
    assert str(exc) == "plugin p: already there"
    assert type(messages.error({"error": 7}, "plugin p")) is StoreError
    assert str(messages.error({"error": "other"}, "plugin p")) == "plugin p: error 'other'"
    long = messages.error({"error": "other", "message": "x" * 2000}, "p")
    assert len(str(long)) < 600


def test_parse_stat() -> None:
    sha = "a" * 64
    assert messages.parse_stat({"found": False}) is None
    assert messages.parse_stat({"found": True, "size": 3, "sha256": sha}) == ObjectInfo(3, sha)
    assert messages.parse_stat({"found": True, "size": 3, "sha256": None}) == ObjectInfo(3)
    assert messages.parse_stat({"found": True, "size": 0}) == ObjectInfo(0)
    for bad in (
        {},
        {"found": True},
        {"found": True, "size": 1.5},
        {"found": True, "size": 1, "sha256": "A" * 64},
    ):
        with pytest.raises(ProtocolViolation):
            messages.parse_stat(bad)


def test_parse_listing_of_keys_or_of_objects() -> None:
    assert messages.parse_listing({"keys": ["a"], "more": True}) == ([("a", None)], True)
    assert messages.parse_listing({"keys": []}) == ([], False)
    sha = "a" * 64
    listed, more = messages.parse_listing(
        {
            "objects": [
                {"key": "a", "size": 3, "modified": "2026-01-02T03:04:05Z"},
                {"key": "b", "size": 0, "sha256": sha, "modified": "2026-01-02T03:04:05"},
                {"key": "c", "size": 1},
            ]
        }
    )
    assert more is False
    assert [key for key, _ in listed] == ["a", "b", "c"]
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [(i.size, i.sha256, i.modified) for _, i in listed if i is not None] == [
        (3, None, when),
        (0, sha, when),  # a time without an offset is UTC
        (1, None, None),
    ]
    bads: list[dict[str, object]] = [
        {},
        {"keys": [1]},
        {"keys": "a"},
        {"keys": [], "more": 1},
        {"keys": [], "objects": []},
        {"objects": ["a"]},
        {"objects": [{"size": 1}]},
        {"objects": [{"key": "a"}]},
        {"objects": [{"key": "a", "size": 1, "modified": "yesterday"}]},
        {"objects": [{"key": "a", "size": 1, "modified": 1700000000}]},
    ]
    for bad in bads:
        with pytest.raises(ProtocolViolation):
            messages.parse_listing(bad)


def test_parse_stat_with_a_written_time() -> None:
    found = messages.parse_stat({"found": True, "size": 1, "modified": "2026-01-02T04:04:05+01:00"})
    assert found is not None and found.modified == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
