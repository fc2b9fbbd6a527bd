"""The Go tool's layout (``key_scheme: "path"``): its configuration read as the Go tool reads it,
so that a repository shared with Cavorite (Go) means the same thing to both tools.

Only the S3 store is shared (the Go tool's CLI rejects GCS and Azure, and has no local or fsspec
store), and only its ``backend_address`` is read differently from cavorite's own reading:

- ``s3://bucket/path``: the bucket is the URL's host; the Go tool ignores the path.
- ``http(s)://host:port/bucket/path``: the Go tool uses the address up to its last ``/`` as the
  endpoint and the first segment as the bucket, so its requests go to
  ``/bucket/path/bucket/KEY`` (everything between the bucket and the last ``/``, then the bucket
  again): on a path-style service, keys under ``path/bucket/`` in ``bucket``. Its upload and
  retrieve agree with each other, so objects a team stored that way are where it put them; we
  read them there too, and say how to write the address plainly.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from .stores._addresses import redact

SHARED_STORE = "s3"
"""the one store whose address both tools read"""
GO_STORES = (SHARED_STORE, "plugin")
"""the store types the Go tool's CLI opens: where both tools may work in one repository"""


def _instead(plain: str) -> str:
    return (
        f"write {redact(plain)!r} and put a key prefix in object_key_prefix, or set key_scheme to "
        '"versioned" to keep objects under the path (a repository the Go tool cannot use)'
    )


@dataclass(frozen=True)
class Address:
    """A ``backend_address`` as cavorite's S3 store must be given it to reach what the Go tool
    reaches, and the warning to show when that differs from what the address seems to say."""

    address: str
    warning: str | None = None


def _plain_url(address: str) -> SplitResult | None:
    """``address`` split, if it is a URL the store may accept: one with credentials, a query or
    a fragment is left as it is for the store to refuse (never cut down into one it accepts)."""
    try:
        url = urlsplit(address)
    except ValueError:
        return None
    if "@" in url.netloc or url.query or url.fragment or "?" in address or "#" in address:
        return None
    return url


def s3_address(address: str) -> Address:
    """The Go tool's reading of the S3 ``address``, as an address in cavorite's own forms."""
    url = _plain_url(address)
    if url is None:
        # the store refuses it, with the message for its forms
        return Address(address)
    if url.scheme == "s3":
        return _bucket_host(address, url.netloc, url.path)
    if url.scheme in ("http", "https"):
        return _bucket_path(address, f"{url.scheme}://{url.netloc}", url.path)
    return Address(address)


def _bucket_host(address: str, bucket: str, path: str) -> Address:
    if not path.strip("/"):
        return Address(f"s3://{bucket}" if bucket else address)
    plain = f"s3://{bucket}"
    return Address(
        plain,
        f"backend_address {redact(address)!r}: the Go tool ignores a path after the bucket, and so "
        f"does cavorite in its layout (no key_scheme): objects are at {plain}/KEY; "
        + _instead(plain),
    )


def _bucket_path(address: str, endpoint: str, path: str) -> Address:
    bucket = path.lstrip("/").partition("/")[0]
    folder = path[: path.rfind("/") + 1]
    if not bucket or folder == "/":
        return Address(address)
    plain = f"{endpoint}/{bucket}"
    seen = f"{endpoint}{folder}{bucket}"
    return Address(
        seen,
        f"backend_address {redact(address)!r} has a path after the bucket: the Go tool sends its "
        f"requests to {redact(seen)}/KEY, and so does cavorite in its layout (no key_scheme); "
        f"{_instead(plain)}",
    )


def init_address(store_type: str, address: str, prefix: str) -> tuple[str, str, str | None]:
    """What ``cavorite init`` writes for a Go-layout config asked for with ``address`` and
    ``prefix``: the address with nothing after the bucket, so the Go tool reads it as we do,
    and the path that was after the bucket moved to the front of ``object_key_prefix``, so the
    objects go where the address asked. Returns ``(address, prefix, note)``."""
    url = _plain_url(address) if store_type == SHARED_STORE else None
    if url is None:
        return address, prefix, None
    if url.scheme == "s3":
        plain, rest = f"s3://{url.netloc}", url.path
    elif url.scheme in ("http", "https"):
        bucket, _, rest = url.path.lstrip("/").partition("/")
        plain = f"{url.scheme}://{url.netloc}/{bucket}"
    else:
        return address, prefix, None
    moved = "/".join(p for p in (rest.strip("/"), prefix.strip("/")) if p)
    if not rest.strip("/"):
        return (plain if url.path.endswith("/") else address), prefix, None
    note = (
        f"backend_address written as {redact(plain)!r} with object_key_prefix {moved!r}: the "
        "Go tool ignores a path after the bucket (and cannot itself use object_key_prefix)"
    )
    return plain, moved, note
