"""Messages of the executable plugin protocol: JSON lines, encoded and checked here.

The protocol itself is documented in ``docs/plugins.md``. This module knows its shapes only: it
builds requests, and turns a plugin's lines into Python values, or into a ``ProtocolViolation``
when a line is not what version 1 of the protocol allows. It does no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import AccessDenied, ObjectExists, ObjectNotFound, StoreError, StoreUnavailable
from ..stores.base import ObjectInfo, StoreSettings

PROTOCOL_VERSION = 1

CLIENT_OPTIONS = frozenset(
    {"plugin_address", "plugin_timeout", "plugin_handshake_timeout", "plugin_tmpdir"}
)
"""Options that configure the client side; they are not sent to the plugin."""

ERROR_TYPES: Mapping[str, type[StoreError]] = {
    "not_found": ObjectNotFound,
    "exists": ObjectExists,
    "access_denied": AccessDenied,
    "unavailable": StoreUnavailable,
    "other": StoreError,
}

_SHA256 = re.compile(r"[0-9a-f]{64}")
_EXCERPT = 80
_MESSAGE_MAX = 500


class ProtocolViolation(Exception):
    """A plugin's line that the protocol does not allow; the text says what was wrong."""


@dataclass(frozen=True)
class Hello:
    """What a plugin says about itself in the handshake."""

    protocol: int
    name: str
    version: str | None
    capabilities: frozenset[str]


def encode(message: Mapping[str, Any]) -> bytes:
    """One JSON line: UTF-8, compact, non-ASCII kept as is (simple plugins need not decode it).

    Raises ``ValueError`` for a value that cannot travel as UTF-8, such as a file name that is not
    valid UTF-8.
    """
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """The JSON object on one line from a plugin."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolViolation(f"sent a line that is not JSON: {excerpt(line)}") from exc
    if not isinstance(value, dict) or "id" not in value:
        raise ProtocolViolation(f"sent a line that is not a protocol message: {excerpt(line)}")
    return value


def excerpt(line: bytes) -> str:
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    return repr(text if len(text) <= _EXCERPT else text[:_EXCERPT] + "...")


def plugin_settings(settings: StoreSettings) -> dict[str, Any]:
    """The part of the store settings a plugin receives: address, repository root, options.

    The options are sent last so that a plugin parsing lines with simple patterns finds the
    top-level fields first.
    """
    options = {k: v for k, v in settings.options.items() if k not in CLIENT_OPTIONS}
    return {
        "backend_address": settings.address,
        "root": str(settings.root.absolute()),
        "options": options,
    }


def hello(settings: StoreSettings, client: str) -> dict[str, Any]:
    """The fields of the handshake request."""
    return {"protocol": PROTOCOL_VERSION, "client": client, **plugin_settings(settings)}


def parse_hello(message: Mapping[str, Any]) -> Hello:
    protocol = message.get("protocol")
    if not isinstance(protocol, int) or isinstance(protocol, bool):
        raise ProtocolViolation("answered the handshake without a protocol version")
    name = message.get("name")
    if not isinstance(name, str) or not name:
        raise ProtocolViolation("answered the handshake without its name")
    version = message.get("version")
    capabilities = message.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        raise ProtocolViolation("answered the handshake with capabilities that are not strings")
    return Hello(
        protocol, name, version if isinstance(version, str) else None, frozenset(capabilities)
    )


def is_progress(message: Mapping[str, Any]) -> bool:
    """Whether a message is a progress report (which has no ``ok``) rather than a response."""
    return "progress" in message and "ok" not in message


def progress_bytes(message: Mapping[str, Any]) -> int:
    value = message["progress"]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolViolation(f"sent a progress value that is not a byte count: {value!r}")
    return value


def is_ok(message: Mapping[str, Any]) -> bool:
    """Whether a response reports success; a response that is neither ok nor an error is bad."""
    ok = message.get("ok")
    if not isinstance(ok, bool):
        raise ProtocolViolation("sent a response without a true or false 'ok'")
    return ok


def error(message: Mapping[str, Any], plugin: str) -> StoreError:
    """The exception an error response stands for; an unknown code counts as ``other``."""
    code = message.get("error")
    text = message.get("message")
    text = " ".join(str(text).split()) if text else f"error {code!r}"
    if len(text) > _MESSAGE_MAX:
        text = text[:_MESSAGE_MAX] + "..."
    cls = ERROR_TYPES.get(code, StoreError) if isinstance(code, str) else StoreError
    return cls(f"{plugin}: {text}")


def parse_stat(message: Mapping[str, Any]) -> ObjectInfo | None:
    found = message.get("found")
    if found is False:
        return None
    if found is not True:
        raise ProtocolViolation("answered stat without a true or false 'found'")
    return _info(message, "stat")


def parse_listing(message: Mapping[str, Any]) -> tuple[list[tuple[str, ObjectInfo | None]], bool]:
    """The objects of one list response (each key, with its size and times when the plugin
    answered ``objects`` rather than ``keys``), and whether more responses follow."""
    keys, objects = message.get("keys"), message.get("objects")
    listed: list[tuple[str, ObjectInfo | None]]
    if isinstance(objects, list) and keys is None:
        listed = [(_key(o), _info(o, "list")) for o in objects]
    elif isinstance(keys, list) and objects is None and all(isinstance(k, str) for k in keys):
        listed = [(k, None) for k in keys]
    else:
        raise ProtocolViolation("answered list without a list of string 'keys' or of 'objects'")
    more = message.get("more", False)
    if not isinstance(more, bool):
        raise ProtocolViolation("answered list with a 'more' that is not true or false")
    return listed, more


def _key(entry: object) -> str:
    key = entry.get("key") if isinstance(entry, dict) else None
    if not isinstance(key, str):
        raise ProtocolViolation(f"answered list with an object without a string 'key': {entry!r}")
    return key


def _info(message: Mapping[str, Any], op: str) -> ObjectInfo:
    """An object's size, recorded sha256 (optional) and last-modified time (optional, an
    RFC 3339 time; one without an offset is UTC) as a stat or list answer gives them."""
    size = message.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ProtocolViolation(f"answered {op} with a size that is not a byte count: {size!r}")
    sha256 = message.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        raise ProtocolViolation(f"answered {op} with a malformed sha256: {sha256!r}")
    modified = message.get("modified")
    if modified is None:
        return ObjectInfo(size, sha256)
    try:
        when = datetime.fromisoformat(modified) if isinstance(modified, str) else None
    except ValueError:
        when = None
    if when is None:
        raise ProtocolViolation(
            f"answered {op} with a 'modified' that is not an RFC 3339 time: {modified!r}"
        )
    return ObjectInfo(size, sha256, modified=when if when.tzinfo else when.replace(tzinfo=UTC))
