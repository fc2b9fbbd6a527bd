"""The metadata file (cfile): a few lines of JSON committed in place of an artifact.

Compatible with the Go tool both ways: ``name``, ``checksum`` and ``date_modified`` are its
fields; ``size`` is ours and optional; any other field is kept when the file is rewritten.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import MetadataError
from .fsutil import atomic_write_bytes

MAX_CFILE_BYTES = 64 * 1024
"""A cfile is a few hundred bytes; anything this large is not one."""

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


_BAD_SEGMENTS = frozenset({"", ".", ".."})
_SEGMENT = r"(?!\.\.?(?:/|\Z))[\w.+-]+"
_PLAIN_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*", re.ASCII)
"""the usual key (ASCII letters, digits and ``_.+-``; no "." or ".." segment), which none of
:func:`check_key`'s rules refuses: checked with one match"""
_LINE_SEGMENT = r"(?!\.\.?[/\n])[\w.+-]+"
_PLAIN_KEY_LINES = re.compile(rf"(?:{_LINE_SEGMENT}(?:/{_LINE_SEGMENT})*\n)*", re.ASCII)
"""usual keys, each followed by a line break (see :func:`plain_keys`)"""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")


def check_key(name: str) -> str:
    """Refuse an object key that is empty, absolute, climbs with ``..`` or is otherwise unsafe.

    Returns the key unchanged. Raises ``MetadataError``.
    """
    if _PLAIN_KEY.fullmatch(name):
        return name
    if not name:
        raise MetadataError("object name is empty")
    if "\x00" in name:
        raise MetadataError("object name contains a NUL character")
    if "\\" in name:
        raise MetadataError(f"object name {name!r} contains a backslash; names use '/'")
    if name.startswith("/") or _DRIVE.match(name):
        raise MetadataError(f"object name {name!r} is absolute")
    if _BAD_SEGMENTS.intersection(name.split("/")):
        raise MetadataError(f"object name {name!r} has an empty, '.' or '..' segment")
    if _CONTROL.search(name):
        raise MetadataError(f"object name {name!r} contains control characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        # a file name that is not valid UTF-8 (decoded with surrogate escapes): no store key
        # and no JSON cfile can hold it
        raise MetadataError(f"object name {name!r} is not valid UTF-8") from None
    return name


def plain_keys(names: list[str]) -> bool:
    """Whether every name is a usual key (see ``_PLAIN_KEY``), which :func:`check_key` takes
    as it is: one match for all."""
    text = "".join([f"{name}\n" for name in names])
    # a name's own line break would split it in two
    return text.count("\n") == len(names) and _PLAIN_KEY_LINES.fullmatch(text) is not None


_EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def format_timestamp(mtime_ns: int) -> str:
    """RFC 3339 with nanoseconds and the local offset, as the Go tool writes it.

    A time outside the years 1 to 9999, which RFC 3339 (and so the Go tool) cannot express, is
    clamped to the nearest end of that range.
    """
    seconds, nanos = divmod(mtime_ns, 1_000_000_000)
    try:
        local = time.localtime(seconds)
        if not 1 <= local.tm_year <= 9999:
            raise ValueError(f"year {local.tm_year} is out of range")
        fields = local[:6]
        offset = local.tm_gmtoff or 0
    except (OverflowError, OSError, ValueError):
        edge, nanos = (_EARLIEST, 0) if seconds < 0 else (_LATEST, 999_999_999)
        fields, offset = edge.timetuple()[:6], 0
    base = "%04d-%02d-%02dT%02d:%02d:%02d" % fields  # noqa: UP031 - fixed widths, hot path
    frac = f".{nanos:09d}".rstrip("0").rstrip(".")
    if offset == 0:
        return f"{base}{frac}Z"
    sign = "-" if offset < 0 else "+"
    minutes = abs(offset) // 60  # RFC 3339 has no seconds in an offset
    return f"{base}{frac}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


_FIELDS = frozenset({"name", "checksum", "date_modified", "size"})


@dataclass(frozen=True)
class Metadata:
    """One cfile's content."""

    name: str
    checksum: str
    date_modified: str
    size: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "checksum": self.checksum,
            "date_modified": self.date_modified,
        }
        if self.size is not None:
            data["size"] = self.size
        data.update((k, v) for k, v in self.extra.items() if k not in data and k != "size")
        return data

    @classmethod
    def from_dict(cls, data: object) -> Metadata:
        if not isinstance(data, Mapping):
            raise MetadataError("not a JSON object")
        extra = (
            {} if data.keys() <= _FIELDS else {k: v for k, v in data.items() if k not in _FIELDS}
        )
        get = data.get
        return cls.checked(get("name"), get("checksum"), get("date_modified"), get("size"), extra)

    @classmethod
    def checked(
        cls,
        name: object,
        checksum: object,
        modified: object,
        size: object,
        extra: Mapping[str, Any],
    ) -> Metadata:
        """A Metadata from field values of any type, validated as a cfile's fields are."""
        if not isinstance(name, str):
            raise MetadataError("field 'name' is missing or not a string")
        check_key(name)
        if not isinstance(checksum, str) or not _SHA256.fullmatch(checksum):
            raise MetadataError("field 'checksum' is not a sha256 (64 hex digits)")
        if modified is None:
            modified = ""
        if not isinstance(modified, str):
            raise MetadataError("field 'date_modified' is not a string")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise MetadataError("field 'size' is not a non-negative whole number")
        return cls(name, checksum.lower(), modified, size, extra)


def describes(old: Metadata | None, key: str, checksum: str, size: int | None) -> bool:
    """Whether the cfile ``old`` already says what an upload of ``key`` with ``checksum`` (and
    ``size``) would write, so that the file is left byte for byte as it is.

    The name and the checksum decide; ``size`` only when the cfile has one (the Go tool writes
    none, and rewriting its cfiles to add one would show every one of them as changed in git).
    """
    if old is None or (old.name, old.checksum.lower()) != (key, checksum.lower()):
        return False
    return old.size is None or old.size == size


def read(path: Path) -> Metadata:
    """Read and validate the cfile at ``path``. Raises ``MetadataError`` naming the file.

    Only a regular file is read: a symbolic link (which could lead anywhere, e.g. to a FIFO
    that blocks forever) or any other kind of file is refused without waiting on it.
    """
    return read_with_stat(path)[0]


def read_with_stat(path: Path) -> tuple[Metadata, os.stat_result]:
    """:func:`read`, and the stat of the file that was read."""
    raw, st = _read_head(path)
    # the name as shown is worked out only for an error (it costs a getcwd per cfile)
    return parse(raw, functools.partial(shown_path, path)), st


def shown_path(path: Path) -> str:
    """``path`` as every other message shows it: relative to the current directory when it
    is below it, else as given."""
    try:
        rel = os.path.relpath(path)
    except (OSError, ValueError):
        return str(path)
    return str(path) if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def parse(raw: bytes, path: str | Callable[[], str]) -> Metadata:
    """Validate a cfile's bytes; ``path`` names it in errors (or, called, returns that name:
    worked out only for an error)."""
    if len(raw) > MAX_CFILE_BYTES:
        raise MetadataError(f"{_name(path)}: too large to be a metadata file")
    try:
        data = json.loads(raw.decode("utf-8"))
        return Metadata.from_dict(data)
    except UnicodeDecodeError:
        raise MetadataError(f"{_name(path)}: not UTF-8 text; is it a metadata file?") from None
    except json.JSONDecodeError as exc:
        what = "empty" if not raw.strip() else f"not valid JSON ({exc.msg})"
        raise MetadataError(f"{_name(path)}: {what}; restore it from version control") from None
    except RecursionError:
        raise MetadataError(
            f"{_name(path)}: nested too deeply to be a metadata file; restore it from version "
            "control"
        ) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit for conversions
        raise MetadataError(
            f"{_name(path)}: not a metadata file ({str(exc).partition(':')[0]}); "
            "restore it from version control"
        ) from None
    except MetadataError as exc:
        raise MetadataError(f"{_name(path)}: {exc}; restore it from version control") from None


def _name(path: str | Callable[[], str]) -> str:
    return path if isinstance(path, str) else path()


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def _read_head(path: Path) -> tuple[bytes, os.stat_result]:
    """At most ``MAX_CFILE_BYTES + 1`` bytes of the regular file at ``path``, and its stat."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise MetadataError(f"{shown_path(path)}: no such metadata file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MetadataError(
                f"{shown_path(path)}: is a symbolic link; a metadata file must be a regular file"
            ) from None
        raise MetadataError(f"{shown_path(path)}: cannot read: {exc.strerror or exc}") from exc
    st = os.fstat(fd)
    mode = st.st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise MetadataError(f"{shown_path(path)}: is a directory, not a metadata file")
        raise MetadataError(f"{shown_path(path)}: not a regular file, so not a metadata file")
    try:
        chunks: list[bytes] = []
        left = MAX_CFILE_BYTES + 1
        while left > 0 and (chunk := os.read(fd, left)):
            chunks.append(chunk)
            left -= len(chunk)
            if len(chunk) == st.st_size:  # the whole file at once, as usual: no read for EOF
                break
        return b"".join(chunks), st
    except OSError as exc:
        raise MetadataError(f"{shown_path(path)}: cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def write(path: Path, meta: Metadata) -> None:
    """Write ``meta`` to ``path`` atomically (temporary file, then rename)."""
    data = meta.to_dict()
    try:
        raw = (_dumps(data, ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:  # a lone surrogate kept from a \u escape: write escapes instead
        raw = (_dumps(data, ensure_ascii=True) + "\n").encode()
    atomic_write_bytes(path, raw)


_ENCODERS = {flag: json.JSONEncoder(ensure_ascii=flag).encode for flag in (False, True)}


def _dumps(data: dict[str, Any], ensure_ascii: bool) -> str:
    """``json.dumps(data, indent=2)``, byte for byte; a flat object (every cfile the tools
    write) is built from the C encoder's scalars, several times faster than indented dumps."""
    if not data or not all(v is None or isinstance(v, str | int | float) for v in data.values()):
        return json.dumps(data, indent=2, ensure_ascii=ensure_ascii)
    encode = _ENCODERS[ensure_ascii]
    return "{\n" + ",\n".join(f"  {encode(k)}: {encode(v)}" for k, v in data.items()) + "\n}"
