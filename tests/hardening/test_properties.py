"""Property-based tests: cfile parsing and key derivation, against anything hypothesis makes.

- A cfile's content survives ``to_dict`` / ``from_dict`` and a write and read, extra fields too.
- No JSON value and no sequence of bytes makes ``metadata.read`` raise anything but
  ``MetadataError``; whatever it accepts has a safe name and a lowercase sha256.
- ``check_key`` accepts exactly the keys an independent definition calls safe.
- ``Workspace.key_for`` never yields an unsafe key, whatever the path's components, and a key
  never leads outside the directory it is joined to.
- Temporary names are always recognised, and nothing else is taken for one.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import string
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cavorite_py import metadata
from cavorite_py.config import Config
from cavorite_py.errors import ConfigError, MetadataError
from cavorite_py.fsutil import _OUR_TEMP, is_temp_name, temp_path_for
from cavorite_py.metadata import Metadata, check_key
from cavorite_py.workspace import Workspace

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KNOWN = ("name", "checksum", "date_modified", "size")


def is_safe_key(name: str) -> bool:
    """What a safe object key is, written independently of ``check_key``."""
    if not name or name.startswith("/") or "\\" in name:
        return False
    if len(name) >= 2 and name[0] in string.ascii_letters and name[1] == ":":
        return False  # a Windows drive
    if any(part in ("", ".", "..") for part in name.split("/")):
        return False
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
tricky_chars = st.sampled_from(["/", "\\", ".", "..", "\x00", "\n", "\x7f", ":", "\udc80", " "])
name_text = st.lists(
    st.one_of(st.text(max_size=6), tricky_chars, st.sampled_from(["C:", "a", "b"])), max_size=6
).map("".join)
safe_segments = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=10,
).filter(lambda s: s not in (".", ".."))
safe_names = st.lists(safe_segments, min_size=1, max_size=4).map("/".join).filter(is_safe_key)
checksums = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
extras = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k not in KNOWN), json_values, max_size=4
)
metadatas = st.builds(
    Metadata,
    name=safe_names,
    checksum=checksums,
    date_modified=st.text(max_size=40),
    size=st.none() | st.integers(min_value=0, max_value=2**64),
    extra=extras,
)


def cfile_dicts() -> st.SearchStrategy[dict[str, Any]]:
    """Dictionaries near a valid cfile: each field valid, of another type, or missing."""
    field = {
        "name": safe_names | name_text | json_values,
        "checksum": checksums | checksums.map(str.upper) | st.text(max_size=70) | json_values,
        "date_modified": st.text(max_size=10) | json_values,
        "size": st.integers(min_value=-5, max_value=2**64) | json_values,
    }
    return st.fixed_dictionaries({}, optional=field).flatmap(
        lambda d: extras.map(lambda e: {**e, **d})
    )


# --------------------------------------------------------------------- cfile parsing


@SETTINGS
@given(meta=metadatas)
def test_to_dict_from_dict_round_trips(meta: Metadata) -> None:
    data = meta.to_dict()
    assert Metadata.from_dict(data) == meta
    assert Metadata.from_dict(json.loads(json.dumps(data))) == meta
    assert list(data)[:3] == ["name", "checksum", "date_modified"]


@SETTINGS
@given(meta=metadatas)
def test_write_read_round_trips(tmp_path: Path, meta: Metadata) -> None:
    path = tmp_path / "x.bin.cfile"
    metadata.write(path, meta)
    assert metadata.read(path) == meta
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin.cfile"]


def _check_outcome(path: Path) -> None:
    try:
        meta = metadata.read(path)
    except MetadataError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ")
        assert "\n" not in message and len(message) < 2000
        return
    assert check_key(meta.name) == meta.name
    assert re.fullmatch(r"[0-9a-f]{64}", meta.checksum)
    assert meta.size is None or (type(meta.size) is int and meta.size >= 0)
    assert isinstance(meta.date_modified, str)


@SETTINGS
@given(data=json_values)
def test_any_json_value_is_a_cfile_or_a_metadata_error(tmp_path: Path, data: object) -> None:
    path = tmp_path / "x.bin.cfile"
    path.write_text(json.dumps(data))
    _check_outcome(path)


@SETTINGS
@given(data=cfile_dicts())
@example(data={"name": "a", "checksum": "A" * 64})
@example(data={"name": "a", "checksum": "a" * 64, "size": True})
def test_any_near_cfile_is_a_cfile_or_a_metadata_error(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    path = tmp_path / "x.bin.cfile"
    path.write_text(json.dumps(data))
    _check_outcome(path)
    accepted = (
        isinstance(data.get("name"), str)
        and is_safe_key(data["name"])
        and isinstance(data.get("checksum"), str)
        and re.fullmatch(r"[0-9a-fA-F]{64}", data["checksum"]) is not None
        and isinstance(data.get("date_modified", ""), str | None)
        and (data.get("size") is None or (type(data["size"]) is int and data["size"] >= 0))
    )
    try:
        metadata.read(path)
    except MetadataError:
        assert not accepted
    else:
        assert accepted


@SETTINGS
@given(raw=st.binary(max_size=400))
@example(raw=b"\xef\xbb\xbf{}")
@example(raw=b'{"name": "a", "checksum": "' + b"a" * 64 + b'", "size": 1e999}')
@example(raw=b"[" * 5000)
@example(raw=b'{"size": ' + b"9" * 5000 + b"}")
def test_any_bytes_are_a_cfile_or_a_metadata_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "x.bin.cfile"
    path.write_bytes(raw)
    _check_outcome(path)


@SETTINGS
@given(text=st.text(max_size=200))
def test_any_text_is_a_cfile_or_a_metadata_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.bin.cfile"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _check_outcome(path)


# --------------------------------------------------------------------- keys


@SETTINGS
@given(name=name_text | safe_names | st.text(max_size=30))
@example(name="C:x")
@example(name="c:/")
@example(name="a/./b")
@example(name="\udcff")
@example(name="1:/a")
def test_check_key_accepts_exactly_safe_keys(name: str) -> None:
    try:
        assert check_key(name) == name
    except MetadataError as exc:
        assert not is_safe_key(name), f"refused a safe key {name!r}: {exc}"
        assert "\n" not in str(exc)
    else:
        assert is_safe_key(name), f"accepted an unsafe key {name!r}"


@SETTINGS
@given(names=st.lists(name_text | safe_names | st.text(max_size=30), max_size=4))
@example(names=["a\nb"])
@example(names=["a", "..\n"])
@example(names=["./a"])
def test_plain_keys_are_only_keys_check_key_takes_as_they_are(names: list[str]) -> None:
    """The state cache's check of many keys in one match accepts none that ``check_key``
    would refuse."""
    if metadata.plain_keys(names):
        assert all(check_key(name) == name for name in names)


@SETTINGS
@given(name=safe_names)
def test_a_safe_key_stays_inside_what_it_is_joined_to(name: str) -> None:
    assert not PurePosixPath(name).is_absolute()
    assert posixpath.normpath(name) == name
    root = PurePosixPath("/store/bucket")
    joined = PurePosixPath(posixpath.normpath(str(root / name)))
    assert joined.is_relative_to(root) and joined != root


path_segments = st.one_of(
    st.text(max_size=12).filter(lambda s: "/" not in s and s),
    st.binary(min_size=1, max_size=12)
    .filter(lambda b: b"/" not in b and b"\0" not in b)
    .map(os.fsdecode),
    st.sampled_from([".", "..", "a\\b", "C:", "x\ny", ".cavorite-tmp-0"]),
)
prefixes = st.none() | st.lists(safe_segments, min_size=1, max_size=3).map("/".join)


@SETTINGS
@given(parts=st.lists(path_segments, min_size=1, max_size=5), prefix=prefixes)
def test_key_for_never_yields_an_unsafe_key(parts: list[str], prefix: str | None) -> None:
    if prefix is not None:
        assume(is_safe_key(prefix))
    root = Path("/repo/root")
    ws = Workspace(root, key_prefix=prefix or "")
    artifact = root.joinpath(*parts)
    try:
        key = ws.key_for(artifact)
    except MetadataError:
        return
    except ValueError:  # ".." made the path leave the root: relative_to refuses
        return
    assert is_safe_key(key)
    assert check_key(key) == key
    rel = artifact.relative_to(root).as_posix()
    assert key == (f"{prefix}/{rel}" if prefix else rel)


@SETTINGS
@given(prefix=name_text | st.text(max_size=20))
def test_a_config_prefix_is_usable_or_refused(prefix: str) -> None:
    options = {"backend_address": "/x", "object_key_prefix": prefix}
    try:
        config = Config.from_dict({"store_type": "localstore", "options": options})
    except ConfigError:
        return
    if config.key_prefix:
        assert is_safe_key(config.key_prefix)
        ws = Workspace(Path("/r"), key_prefix=config.key_prefix)
        assert is_safe_key(ws.key_for(Path("/r/a.bin")))


@SETTINGS
@given(data=json_values)
def test_any_config_json_is_a_config_or_a_config_error(data: object) -> None:
    try:
        config = Config.from_dict(data, "config")
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    for attribute in ("backend_address", "extension", "key_prefix"):
        with contextlib.suppress(ConfigError):  # a type error is reported when used
            getattr(config, attribute)


# --------------------------------------------------------------------- temporary names


@SETTINGS
@given(name=st.text(min_size=1, max_size=300).filter(lambda s: "/" not in s and "\0" not in s))
def test_every_temporary_name_is_recognised(name: str) -> None:
    assume(name not in (".", ".."))
    tmp = temp_path_for(Path("/d") / name)
    assert tmp.parent == Path("/d")
    assert is_temp_name(tmp.name)
    assert _OUR_TEMP.fullmatch(tmp.name)
    assert len(os.fsencode(tmp.name)) <= 255


@SETTINGS
@given(name=st.text(max_size=60))
def test_no_ordinary_name_is_taken_for_a_temporary_file(name: str) -> None:
    assume(".cavorite-tmp-" not in name)
    assert not is_temp_name(name)
    assert not _OUR_TEMP.fullmatch(name)


@pytest.mark.parametrize("name", [".a.cavorite-tmp-0123456789ab", ".x\n.cavorite-tmp-abcdef012345"])
def test_stale_temp_pattern_examples(name: str) -> None:
    assert _OUR_TEMP.fullmatch(name)
