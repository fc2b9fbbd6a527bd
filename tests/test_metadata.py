"""The cfile: key checks, timestamps, validation, reading and atomic writing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cavorite_py import metadata
from cavorite_py.errors import MetadataError
from cavorite_py.fsutil import TMP_MARK
from cavorite_py.metadata import Metadata, check_key, format_timestamp

SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ZONEINFO = Path("/usr/share/zoneinfo")


@pytest.fixture
def timezone(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Set the process time zone for one test: ``timezone.set("America/Los_Angeles")``."""

    class Zone:
        def set(self, name: str) -> None:
            if not (ZONEINFO / name).exists():
                pytest.fail(f"time zone data for {name} is missing (install tzdata)")
            monkeypatch.setenv("TZ", name)
            time.tzset()

    yield Zone()
    monkeypatch.undo()
    time.tzset()


# --------------------------------------------------------------------- check_key


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "big.dmg",
        "chrome/googlechromebeta.dmg",
        "team-a/assets/logo v2 (final).png",
        "ünïcødé/文件.bin",
        "a..b/c...d",
        ".hidden/.x",
        "ab:cd",
    ],
)
def test_check_key_accepts_ordinary_keys(name: str) -> None:
    assert check_key(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/x", "absolute"),
        ("c:x", "absolute"),
        ("..", "'..' segment"),
        ("../x", "'..' segment"),
        ("a/../../x", "'..' segment"),
        ("a/..", "'..' segment"),
        ("./a", "'.' or '..' segment"),
        ("a//b", "empty, '.' or '..' segment"),
        ("a/", "empty, '.' or '..' segment"),
        ("a\\b", "backslash"),
        ("..\\..\\x", "backslash"),
        ("a\x00b", "NUL"),
        ("a\nb", "control characters"),
        ("a\x7fb", "control characters"),
        ("bad-\udcff.bin", "not valid UTF-8"),
        ("lone-\ud800", "not valid UTF-8"),
    ],
)
def test_check_key_refuses_unsafe_names(name: str, why: str) -> None:
    with pytest.raises(MetadataError, match=re.escape(why)):
        check_key(name)


# --------------------------------------------------------------------- timestamps

RFC3339_NANO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")


def test_timestamp_utc_keeps_nanoseconds(timezone: object) -> None:
    timezone.set("UTC")  # type: ignore[attr-defined]
    assert format_timestamp(1664992577051936728) == "2022-10-05T17:56:17.051936728Z"


def test_timestamp_trims_trailing_zeros_like_go(timezone: object) -> None:
    timezone.set("UTC")  # type: ignore[attr-defined]
    assert format_timestamp(1664992577500000000) == "2022-10-05T17:56:17.5Z"
    assert format_timestamp(1664992577000000000) == "2022-10-05T17:56:17Z"
    assert format_timestamp(1664992577000000001) == "2022-10-05T17:56:17.000000001Z"


def test_timestamp_carries_the_local_offset(timezone: object) -> None:
    timezone.set("America/Los_Angeles")  # type: ignore[attr-defined]
    assert format_timestamp(1664992577051936728) == "2022-10-05T10:56:17.051936728-07:00"
    assert format_timestamp(1670000000000000000) == "2022-12-02T08:53:20-08:00"
    timezone.set("Asia/Kolkata")  # type: ignore[attr-defined]
    assert format_timestamp(1664992577051936728) == "2022-10-05T23:26:17.051936728+05:30"


def test_timestamp_before_the_epoch(timezone: object) -> None:
    timezone.set("UTC")  # type: ignore[attr-defined]
    assert format_timestamp(-1) == "1969-12-31T23:59:59.999999999Z"


@pytest.mark.parametrize(
    ("mtime_ns", "expected"),
    [
        (253402300800 * 10**9, "9999-12-31T23:59:59.999999999Z"),  # year 10000
        (10**30, "9999-12-31T23:59:59.999999999Z"),
        (-62135596801 * 10**9, "0001-01-01T00:00:00Z"),  # before year 1
        (-(10**30), "0001-01-01T00:00:00Z"),
        (-50000000000 * 10**9, "0385-07-25T07:06:40Z"),  # four-digit years, zero padded
    ],
)
def test_timestamps_rfc3339_cannot_express_are_clamped(
    timezone: object, mtime_ns: int, expected: str
) -> None:
    timezone.set("UTC")  # type: ignore[attr-defined]
    assert format_timestamp(mtime_ns) == expected
    assert RFC3339_NANO.fullmatch(expected)


# --------------------------------------------------------------------- from_dict / to_dict


def good(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "dir/a.bin",
        "checksum": SHA,
        "date_modified": "2022-10-05T10:56:17.051936728-07:00",
        "size": 0,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def test_from_dict_reads_every_field() -> None:
    meta = Metadata.from_dict(good())
    assert meta == Metadata("dir/a.bin", SHA, "2022-10-05T10:56:17.051936728-07:00", 0, {})


def test_from_dict_without_size_or_date_as_the_go_tool_may_write() -> None:
    meta = Metadata.from_dict(good(size=..., date_modified=...))
    assert (meta.size, meta.date_modified) == (None, "")
    assert meta.to_dict() == {"name": "dir/a.bin", "checksum": SHA, "date_modified": ""}


def test_from_dict_lowercases_the_checksum() -> None:
    assert Metadata.from_dict(good(checksum=SHA.upper())).checksum == SHA


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ...}, "'name' is missing"),
        ({"name": 5}, "'name' is missing or not a string"),
        ({"name": "../etc/passwd"}, "'..' segment"),
        ({"name": "/abs"}, "absolute"),
        ({"checksum": ...}, "'checksum' is not a sha256"),
        ({"checksum": SHA[:-1]}, "'checksum' is not a sha256"),
        ({"checksum": SHA[:-1] + "g"}, "'checksum' is not a sha256"),
        ({"checksum": SHA + "0"}, "'checksum' is not a sha256"),
        ({"checksum": 12}, "'checksum' is not a sha256"),
        ({"date_modified": 1664992577}, "'date_modified' is not a string"),
        ({"size": -1}, "'size'"),
        ({"size": True}, "'size'"),
        ({"size": 1.5}, "'size'"),
        ({"size": "10"}, "'size'"),
    ],
)
def test_from_dict_refuses(changes: dict[str, object], message: str) -> None:
    with pytest.raises(MetadataError, match=re.escape(message)):
        Metadata.from_dict(good(**changes))


@pytest.mark.parametrize("data", [[], "x", 3, None])
def test_from_dict_refuses_non_objects(data: object) -> None:
    with pytest.raises(MetadataError, match="not a JSON object"):
        Metadata.from_dict(data)


def test_unknown_fields_are_kept_in_order_after_ours() -> None:
    data = good(comment="keep me", nested={"a": [1, 2]})
    meta = Metadata.from_dict(data)
    assert dict(meta.extra) == {"comment": "keep me", "nested": {"a": [1, 2]}}
    assert list(meta.to_dict()) == [
        "name",
        "checksum",
        "date_modified",
        "size",
        "comment",
        "nested",
    ]
    assert meta.to_dict() == data


def test_extra_cannot_override_known_fields() -> None:
    meta = Metadata("a", SHA, "", None, {"name": "../x", "size": 9, "checksum": "0" * 64})
    assert meta.to_dict() == {"name": "a", "checksum": SHA, "date_modified": ""}


# --------------------------------------------------------------------- read


def write_raw(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_read_a_valid_cfile(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "a.bin.cfile", json.dumps(good()).encode())
    assert metadata.read(path) == Metadata.from_dict(good())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"{", "not valid JSON"),
        (b"<<<<<<< HEAD\n{}\n=======\n", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"name": "a"}', "'checksum' is not a sha256"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 60_000, "nested too deeply"),
    ],
)
def test_read_refuses_malformed_files_naming_them(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = write_raw(tmp_path / "a.bin.cfile", content)
    with pytest.raises(MetadataError, match=re.escape(message)) as info:
        metadata.read(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_read_refuses_a_huge_file_without_reading_it_all(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "a.bin.cfile", b" " * (metadata.MAX_CFILE_BYTES + 1))
    with pytest.raises(MetadataError, match="too large"):
        metadata.read(path)


def test_read_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="no such metadata file"):
        metadata.read(tmp_path / "missing.cfile")
    (tmp_path / "d.cfile").mkdir()
    with pytest.raises(MetadataError, match="is a directory"):
        metadata.read(tmp_path / "d.cfile")


def test_read_unreadable(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(MetadataError, match="cannot read"):  # even for root: ENOTDIR
        metadata.read(tmp_path / "file" / "a.cfile")


# --------------------------------------------------------------------- write


def test_write_is_indented_json_with_a_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "a.bin.cfile"
    meta = Metadata("dir/ü.bin", SHA, "2022-10-05T10:56:17Z", 3, {"x": 1})
    metadata.write(path, meta)
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert '"name": "dir/ü.bin"' in text  # readable, not \u escaped
    assert json.loads(text) == meta.to_dict()
    assert metadata.read(path) == meta


def test_write_replaces_atomically_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "a.bin.cfile"
    path.write_text("old")
    metadata.write(path, Metadata("a.bin", SHA, "", None))
    assert metadata.read(path).name == "a.bin"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin.cfile"]


def test_write_into_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        metadata.write(tmp_path / "nope" / "a.cfile", Metadata("a", SHA, "", None))
    assert list(tmp_path.iterdir()) == []


def test_write_keeps_an_extra_field_holding_a_lone_surrogate(tmp_path: Path) -> None:
    # a JSON \u escape can carry a lone surrogate; rewriting such a cfile must not crash
    path = write_raw(tmp_path / "a.cfile", json.dumps(good(note="\udc80")).encode())
    meta = metadata.read(path)
    metadata.write(path, meta)
    assert metadata.read(path).extra == {"note": "\udc80"}
    assert not [p for p in tmp_path.iterdir() if TMP_MARK in p.name]


segments = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))


# hypothesis takes any change of the global random state while it draws for the strategies'
# doing (they use none): another thread of the process (an SDK's retry jitter) can make one
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
@settings(max_examples=60, deadline=None)
@given(
    # a name starting with a drive letter ("A:") is absolute on Windows: refused by design
    name=st.lists(segments, min_size=1, max_size=4)
    .map("/".join)
    .filter(lambda n: not (len(n) >= 2 and n[0].isascii() and n[0].isalpha() and n[1] == ":")),
    checksum=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    size=st.none() | st.integers(min_value=0, max_value=2**63),
)
def test_write_then_read_round_trips(
    tmp_path_factory: pytest.TempPathFactory, name: str, checksum: str, size: int | None
) -> None:
    path = tmp_path_factory.mktemp("rt") / "x.cfile"
    meta = Metadata(name, checksum, "2022-10-05T10:56:17.051936728-07:00", size)
    metadata.write(path, meta)
    assert metadata.read(path) == meta


def test_the_usual_keys_checked_at_once_are_keys_the_full_rules_accept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every key of up to 5 of these characters that the one-match check accepts passes every
    rule of check_key, and each rule's example is refused either way."""
    import itertools

    plain = metadata._PLAIN_KEY
    accepted = [
        "".join(chars)
        for length in range(1, 6)
        for chars in itertools.product("a./:_\\é-", repeat=length)
        if plain.fullmatch("".join(chars))
    ]
    assert "a/_.a" in accepted and "a/.." not in accepted and "a/..." in accepted
    monkeypatch.setattr(metadata, "_PLAIN_KEY", re.compile("(?!)"))
    for key in accepted:
        assert metadata.check_key(key) == key
    for bad in ("", "/a", "a//b", ".", "a/..", "./a", "C:x", "a\\b", "a\x00", "a\n"):
        assert plain.fullmatch(bad) is None
