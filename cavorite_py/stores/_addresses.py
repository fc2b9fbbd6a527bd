"""What the stores read from their settings: address forms, numeric options, and the one way
an address is shown to users (:func:`redact`).

Pure parsing, no SDK imports, so it is cheap to import and easy to test. Every failure is a
``ConfigError`` whose message says which form is expected. An address that carries credentials
(``user:password@`` or a query string such as a SAS token) is refused *without* being echoed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from .. import metadata
from ..errors import ConfigError, MetadataError, StoreError

_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_AZURE_CONTAINER = re.compile(r"^(?:[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]|\$root|\$web)$")
_AZURE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")


@dataclass(frozen=True)
class BucketAddress:
    """Where a store keeps its objects: a bucket (or container) and a key prefix inside it.

    ``endpoint`` is a custom service URL (``http://127.0.0.1:9000``) or None for the provider's
    default; ``account`` is the Azure storage account, when the address names it.
    """

    scheme: str
    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    account: str | None = None

    def key(self, key: str) -> str:
        """The full object name of ``key``: the prefix joined with a checked key."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def list_prefix(self, prefix: str) -> str:
        """The full-name prefix to list for the key prefix ``prefix`` (which may be partial)."""
        return f"{self.prefix}/{prefix}" if self.prefix else prefix

    def unprefix(self, name: str) -> str:
        """The store key of the full object name ``name`` (inverse of :meth:`key`)."""
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def describe(self) -> str:
        base = (
            f"{self.endpoint}/{self.bucket}" if self.endpoint else f"{self.scheme}://{self.bucket}"
        )
        return redact(f"{base}/{self.prefix}" if self.prefix else base)


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe object key by the one rule cfile names also follow
    (:func:`cavorite_py.metadata.check_key`); otherwise raise ``StoreError``."""
    try:
        return metadata.check_key(key)
    except MetadataError as exc:
        raise StoreError(f"refusing unsafe object key: {exc}") from exc


def redact(address: str) -> str:
    """``address`` as it may be shown to users: without ``user:password@``, query or fragment.

    Every store's :meth:`~cavorite_py.stores.base.Store.describe` goes through here, since
    descriptions end up in error messages and logs. A URL (``scheme://...``) loses the user
    information of its authority (everything up to the last ``@`` before the first ``/``, so a
    password holding ``?``, ``#`` or ``@`` goes too), then its query and fragment. Anything else
    that is a local path (``/``, ``~`` or ``.`` in front) is returned as it is; other text
    (``user@host:dir``, a bare bucket name) loses the same parts as a URL would.
    """
    scheme, sep, rest = address.partition("://")
    if not sep:
        if address.startswith(("/", "~", ".")):
            return address
        scheme, rest = "", address
    authority, slash, path = rest.partition("/")
    userless = authority.rpartition("@")[2]
    host = _cut_query(userless)
    if host != userless:  # the query began before any path
        return f"{scheme}{sep}{host}"
    return f"{scheme}{sep}{host}{slash}{_cut_query(path)}"


def _cut_query(text: str) -> str:
    """``text`` up to its first ``?`` or ``#``."""
    return re.split(r"[?#]", text, maxsplit=1)[0]


def parse_s3(address: str) -> BucketAddress:
    """``s3://bucket[/prefix]`` or ``http(s)://host[:port]/bucket[/prefix]`` (path-style)."""
    forms = "s3://bucket[/prefix] or http(s)://host:port/bucket[/prefix]"
    url = _split(address, "S3", ("s3", "http", "https"), forms)
    if url.scheme == "s3":
        bucket, prefix = url.netloc, _prefix(address, url.path)
        endpoint = None
    else:
        bucket, _, rest = url.path.lstrip("/").partition("/")
        prefix, endpoint = _prefix(address, rest), f"{url.scheme}://{url.netloc}"
    if not _S3_BUCKET.match(bucket):
        raise ConfigError(
            f"S3 address {address!r} has no valid bucket name (3-63 characters: a-z, 0-9, '.', "
            "'-'); use s3://bucket[/prefix] or http(s)://host:port/bucket[/prefix]"
        )
    return BucketAddress("s3", bucket, prefix, endpoint)


def parse_gcs(address: str) -> BucketAddress:
    """``gs://bucket[/prefix]``, or ``bucket[/prefix]`` as the Go tool writes it."""
    if "://" in address or not address:
        url = _split(address, "GCS", ("gs",), "gs://bucket[/prefix] or a bucket name")
        bucket, rest = url.netloc, url.path
    else:
        bucket, _, rest = address.partition("/")
    if not _GCS_BUCKET.match(bucket) or ".." in bucket:
        raise ConfigError(
            f"GCS address {address!r} has no valid bucket name (a-z, 0-9, '-', '_', '.'); "
            "use gs://bucket[/prefix]"
        )
    return BucketAddress("gs", bucket, _prefix(address, rest))


def parse_azure(address: str) -> BucketAddress:
    """``az://container[/prefix]``, ``https://ACCOUNT.blob.core.windows.net/container[/prefix]``,
    or the emulator's path style ``http(s)://host:port/ACCOUNT/container[/prefix]``."""
    url = _split(
        address,
        "Azure",
        ("az", "http", "https"),
        "az://container[/prefix] or https://ACCOUNT.blob.core.windows.net/container[/prefix]",
    )
    account: str | None = None
    endpoint: str | None = None
    if url.scheme == "az":
        container, rest = url.netloc, url.path
    elif ".blob." in (url.hostname or ""):
        account = (url.hostname or "").split(".", 1)[0]
        endpoint = f"{url.scheme}://{url.netloc}"
        container, _, rest = url.path.lstrip("/").partition("/")
    else:
        account, _, tail = url.path.lstrip("/").partition("/")
        endpoint = f"{url.scheme}://{url.netloc}/{account}"
        container, _, rest = tail.partition("/")
    if account is not None and not _AZURE_ACCOUNT.match(account):
        raise ConfigError(
            f"Azure address {address!r} has no valid storage account name (3-24 characters: a-z, "
            "0-9); use https://ACCOUNT.blob.core.windows.net/container"
        )
    if not _AZURE_CONTAINER.match(container):
        raise ConfigError(
            f"Azure address {address!r} has no valid container name (3-63 characters: a-z, 0-9, "
            "'-'); use az://container[/prefix] or https://ACCOUNT.blob.core.windows.net/container"
        )
    return BucketAddress("az", container, _prefix(address, rest), endpoint, account)


def _split(address: str, kind: str, schemes: tuple[str, ...], forms: str) -> SplitResult:
    if not address:
        raise ConfigError(f"{kind} store needs backend_address in .cavorite/config: {forms}")
    try:
        url = urlsplit(address)
        url.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(f"{kind} address is not a valid URL; use {forms}") from exc
    if "@" in url.netloc or url.query or url.fragment:
        raise ConfigError(
            f"{kind} backend_address must not carry credentials, a query or a fragment (it is "
            f"committed to the repository); use {forms} and give credentials in the environment"
        )
    if url.scheme not in schemes:
        raise ConfigError(f"{kind} address {address!r} has an unsupported scheme; use {forms}")
    return url


def _prefix(address: str, path: str) -> str:
    parts = [p for p in unquote(path).split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ConfigError(f"address {address!r} has a '.' or '..' segment in its prefix")
    return "/".join(parts)


def int_option(options: Mapping[str, Any], name: str, default: int, minimum: int = 1) -> int:
    """An integer option of ``.cavorite/config`` (a JSON number or a string of digits), for every
    store. (``Config.int_option`` reads the engine's own options, such as ``jobs``.)"""
    value = options.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"option {name!r} must be an integer >= {minimum}, not {value!r}")
    return value


def seconds_option(options: Mapping[str, Any], name: str, default: float) -> float:
    """A duration option of ``.cavorite/config``: a positive, finite number of seconds (a JSON
    number or a string holding one), for every store."""
    value = options.get(name, default)
    try:
        number = -1.0 if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 < number < float("inf"):  # NaN fails too
        raise ConfigError(f"option {name!r} must be a positive number of seconds, not {value!r}")
    return number
