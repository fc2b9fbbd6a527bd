"""Places the user approved: where a repository may send credentials and bytes.

A repository's ``.cavorite/config`` comes with the clone. It may name a bucket, a container, a key
prefix and a store type, but not, on its own, anything that decides where credentials or bytes
go. Following git-lfs's host scoping, a store refuses (a :class:`~cavorite_py.errors.ConsentError`,
before any request) unless the user approved:

* a custom endpoint: any origin other than the providers' own over https (``*.amazonaws.com``,
  ``*.amazonaws.com.cn``, ``storage.googleapis.com``, ``*.blob.core.windows.net`` and the sovereign
  clouds' ``*.blob.core.chinacloudapi.cn``, ``*.blob.core.usgovcloudapi.net``,
  ``*.blob.core.cloudapi.de``). Approved as an origin, ``http://127.0.0.1:9000``;
* a local directory outside the repository (its ``.git`` counts as outside) and outside
  cavorite's data directory (``$XDG_DATA_HOME/cavorite``), symlinks resolved. Approved as
  ``file:///abs/dir`` or a path; approving a directory approves everything below it;
* an fsspec address that is not a plain one: a chain (``a::b``), any ``fsspec_options``, or a
  protocol other than ``memory``, a local path, or a cloud bucket (``s3``, ``gs``, ``az``...).
  Approved as ``fsspec:ADDRESS``, followed by ``#options-sha256=HEX`` (the sha256 of the options
  as canonical JSON) when it has options, exactly as the refusal prints it.

Consent lives where no repository can write: the user's config file (:mod:`cavorite_py.userconfig`,
key ``allowed_endpoints``, written by ``cavorite allow-endpoint ADDRESS`` and by ``cavorite init``
for the address the user typed) and the environment variable ``CAVORITE_ALLOW_ENDPOINT`` (the same
forms, comma-separated, for CI and tests). Settings from the user's own environment (a connection
string, ``AWS_ENDPOINT_URL``, ``STORAGE_EMULATOR_HOST``) are the user's, and trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shlex
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from . import userconfig
from .errors import ConfigError, ConsentError

__all__ = [
    "CONFIG_KEY",
    "ENV_VAR",
    "allow",
    "approved",
    "data_directory",
    "fsspec_entry",
    "is_loopback",
    "normalise",
    "origin",
    "recording",
    "require",
    "require_directory",
    "require_endpoint",
]

ENV_VAR = "CAVORITE_ALLOW_ENDPOINT"
CONFIG_KEY = "allowed_endpoints"
FSSPEC = "fsspec:"
OPTIONS_MARK = "#options-sha256="

_OFFICIAL_SUFFIXES = (
    ".amazonaws.com",
    ".amazonaws.com.cn",
    ".blob.core.windows.net",
    ".blob.core.chinacloudapi.cn",
    ".blob.core.usgovcloudapi.net",
    ".blob.core.cloudapi.de",
)
_OFFICIAL_HOSTS = frozenset({"storage.googleapis.com"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

_recording: ContextVar[list[str] | None] = ContextVar("cavorite_places_recording", default=None)


def origin(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL, lower case, without a default port."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{url!r} is not a valid http(s) URL") from exc
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise ConfigError(f"{url!r} is not an http(s) URL with a host")
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        shown = f"{shown}:{port}"
    return f"{scheme}://{shown}"


def is_official(url: str) -> bool:
    """Whether ``url`` is one of the providers' own endpoints, over https."""
    parts = urlsplit(origin(url))
    host = parts.hostname or ""
    official = host in _OFFICIAL_HOSTS or host.endswith(_OFFICIAL_SUFFIXES)
    return parts.scheme == "https" and parts.port is None and official


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    host = urlsplit(origin(url)).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def data_directory() -> Path:
    """cavorite's own data directory, ``$XDG_DATA_HOME/cavorite`` (``~/.local/share/cavorite``)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "cavorite"


def fsspec_entry(address: str, options: Mapping[str, Any]) -> str:
    """What approves the fsspec ``address`` opened with ``options``: the address, and the
    sha256 of the options as canonical JSON when there are any."""
    if not options:
        return f"{FSSPEC}{address}"
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)
    return f"{FSSPEC}{address}{OPTIONS_MARK}{hashlib.sha256(canonical.encode()).hexdigest()}"


def normalise(address: str, cwd: Path | None = None) -> str:
    """The approval entry for ``address``: an http(s) origin, ``file:///real/dir`` for a
    directory (``file://`` URL or path, relative to ``cwd``), or an ``fsspec:`` entry as is."""
    address = address.strip()
    if address.startswith(FSSPEC) and len(address) > len(FSSPEC):
        return address
    scheme = urlsplit(address).scheme.lower() if "://" in address else ""
    if scheme in _DEFAULT_PORTS:
        return origin(address)
    if scheme == "file":
        return _directory_entry(_file_url_path(address))
    if scheme or address in ("", FSSPEC):
        raise ConfigError(
            f"cannot approve {address!r}: give an origin (http://127.0.0.1:9000), a directory "
            "(file:///abs/dir or a path) or an fsspec address (fsspec:ADDRESS)"
        )
    return _directory_entry(Path(cwd or Path.cwd(), os.path.expanduser(address)))


def approved(entry: str) -> bool:
    """Whether the normalised ``entry`` is approved, in the environment or the user config; a
    directory is approved by an approved directory at or above it."""
    allowed = set(_approvals())
    if entry in allowed:
        return True
    if not entry.startswith("file://"):
        return False
    directory = _file_url_path(entry)
    return any(_file_url_path(a) in (directory, *directory.parents) for a in _directories(allowed))


def require(entry: str, what: str, shown: str | None = None) -> None:
    """Raise ``ConsentError`` naming ``what`` and how to approve ``entry`` (written as ``shown``
    when the entry holds a secret), unless approved.

    Inside :func:`recording`, the entry is noted instead (``init`` approves what the user typed).
    """
    if approved(entry):
        return
    noted = _recording.get()
    if noted is not None:
        noted.append(entry)
        return
    quoted = shlex.quote(entry) if shown is None else shown
    raise ConsentError(
        f"{what} is not approved: a repository's configuration cannot choose where your "
        f"credentials and files go; if you trust it, run: cavorite allow-endpoint {quoted}  "
        f"(or set {ENV_VAR}={quoted})"
    )


def require_endpoint(url: str, kind: str) -> None:
    """Refuse the ``kind`` store's endpoint ``url`` unless official or approved."""
    if not is_official(url):
        found = origin(url)
        require(found, f"the {kind} endpoint {found}")


def require_directory(directory: Path, root: Path) -> None:
    """Refuse the local store ``directory`` of the repository at ``root`` unless it is inside
    the repository (not its ``.git``), inside :func:`data_directory`, or approved."""
    real, top = _real(directory), _real(root)
    if _within(real, top) and not _within(real, top / ".git"):
        return
    if _within(real, _real(data_directory())):
        return
    require(real.as_uri(), f"the local store directory {real} (outside the repository)")


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    """While inside, :func:`require` notes what it would refuse in the list it yields."""
    noted: list[str] = []
    token = _recording.set(noted)
    try:
        yield noted
    finally:
        _recording.reset(token)


def allow(entries: Iterable[str]) -> Path:
    """Approve the (normalised) ``entries`` in the user's config file; return its path."""
    wanted = list(dict.fromkeys(entries))

    def add(raw: list[Any]) -> list[Any]:
        return [*raw, *(e for e in wanted if e not in raw)]

    return userconfig.update(CONFIG_KEY, add)


def _approvals() -> Iterator[str]:
    for item in os.environ.get(ENV_VAR, "").split(","):
        if item.strip():
            try:
                yield normalise(item)
            except ConfigError as exc:
                raise ConfigError(f"{ENV_VAR} holds an entry that is unusable: {exc}") from None
    config_path = userconfig.path()
    for item in userconfig.entries(CONFIG_KEY):
        relative = isinstance(item, str) and "://" not in item and not os.path.isabs(item)
        if not isinstance(item, str) or (relative and not item.startswith(FSSPEC)):
            raise ConfigError(
                f"{CONFIG_KEY!r} in {config_path} holds {item!r}; each entry must be an origin, "
                "an absolute directory or an fsspec: address"
            )
        yield normalise(item)


def _directories(entries: Iterable[str]) -> Iterator[str]:
    return (e for e in entries if e.startswith("file://"))


def _directory_entry(path: Path) -> str:
    return _real(path).as_uri()


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ConfigError(f"{url!r} is not a local directory; use file:///abs/dir")
    return Path(unquote(parts.path))


def _real(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(path)))


def _within(path: Path, top: Path) -> bool:
    return path == top or top in path.parents
