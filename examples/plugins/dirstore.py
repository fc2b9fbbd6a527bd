#!/usr/bin/env python3
"""dirstore.py: an executable cavorite-py store plugin that keeps objects in a directory.

It speaks version 1 of the plugin protocol (docs/plugins.md) and uses the standard library only:
copy it to start a plugin for storage of your own. Under the directory named by
``backend_address`` (``file:///abs/dir``, an absolute path, or a path relative to the repository
root) it keeps::

    objects/<key>    the object's bytes
    sha256/<key>     the sha256 cavorite measured, recorded as given (a store never hashes)
    tmp/             files being written, renamed into place when complete

A sidecar sha256 is written only once its object is in place and removed before its object
changes, so ``stat`` may report an unknown sha256 but never a wrong one.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

Message = dict[str, Any]  # Python 3.9 or later

PROTOCOL = 1
NAME = "dirstore.py"
VERSION = "1.0"
LIST_CHUNK = 1000
COPY_CHUNK = 1 << 20


class Failure(Exception):
    """An error answer: one of the protocol's codes and a one-line message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def send(message: Message) -> None:
    line = json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n"
    sys.stdout.buffer.write(line.encode("utf-8"))
    sys.stdout.buffer.flush()


class DirStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        for sub in ("objects", "sha256", "tmp"):
            (directory / sub).mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_hello(cls, request: Message) -> DirStore:
        address = request.get("backend_address") or ""
        if address.startswith("file:"):
            address = unquote(urlparse(address).path)
        if not address:
            raise Failure("other", "dirstore needs backend_address: the directory for objects")
        return cls(Path(request.get("root") or ".") / os.path.expanduser(address))

    def _paths(self, key: str) -> tuple[Path, Path]:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise Failure("other", f"refusing unsafe key {key!r}")
        return self.directory.joinpath("objects", *parts), self.directory.joinpath("sha256", *parts)

    def put(self, request: Message, rid: int) -> Message:
        target, sidecar = self._paths(request["key"])
        if not request.get("overwrite") and target.exists():
            raise Failure("exists", f"object {request['key']!r} already exists")
        tmp = self.directory / "tmp" / uuid.uuid4().hex
        try:
            copy_with_progress(Path(request["path"]), tmp, rid)
            target.parent.mkdir(parents=True, exist_ok=True)
            if request.get("overwrite"):
                sidecar.unlink(missing_ok=True)
                os.replace(tmp, target)
            else:
                try:
                    os.link(tmp, target)  # fails if the key exists, even if it just appeared
                except FileExistsError:
                    raise Failure("exists", f"object {request['key']!r} already exists") from None
        finally:
            tmp.unlink(missing_ok=True)
        if request.get("sha256"):
            sidecar.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(request["sha256"] + "\n", encoding="ascii")
            os.replace(tmp, sidecar)
        return {}

    def get(self, request: Message, rid: int) -> Message:
        source, _ = self._paths(request["key"])
        if not source.is_file():
            raise Failure("not_found", f"object {request['key']!r} is not in {self.directory}")
        shutil.copyfile(source, request["path"])
        return {}

    def stat(self, request: Message, rid: int) -> Message:
        target, sidecar = self._paths(request["key"])
        if not target.is_file():
            return {"found": False}
        try:
            sha256 = sidecar.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            sha256 = ""
        valid = len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)
        return {"found": True, **_described(target), "sha256": sha256 if valid else None}

    def list(self, request: Message, rid: int) -> Message:
        prefix = request.get("prefix") or ""
        chunk: list[Message] = []
        for key in self._keys(prefix):
            target, _ = self._paths(key)
            try:
                chunk.append({"key": key, **_described(target)})
            except FileNotFoundError:
                continue  # deleted while listed
            if len(chunk) == LIST_CHUNK:
                send({"id": rid, "ok": True, "objects": chunk, "more": True})
                chunk = []
        return {"objects": chunk, "more": False}

    def _keys(self, prefix: str) -> Iterator[str]:
        objects = self.directory / "objects"
        for dirpath, dirnames, filenames in os.walk(objects):
            base = Path(dirpath).relative_to(objects).as_posix()
            base = "" if base == "." else base + "/"
            dirnames[:] = [d for d in dirnames if _may_hold(base + d + "/", prefix)]
            yield from (base + f for f in filenames if (base + f).startswith(prefix))

    def delete(self, request: Message, rid: int) -> Message:
        target, sidecar = self._paths(request["key"])
        if not target.is_file():
            raise Failure("not_found", f"object {request['key']!r} is not in {self.directory}")
        sidecar.unlink(missing_ok=True)
        target.unlink()
        for path, top in ((target, "objects"), (sidecar, "sha256")):
            _remove_empty_parents(path, self.directory / top)
        return {}


def _described(target: Path) -> Message:
    """An object's size and last-modified time (RFC 3339, UTC): what lets prune judge its age."""
    st = target.stat()
    # timezone.utc: datetime.UTC needs Python 3.11
    modified = datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat()  # noqa: UP017
    return {"size": st.st_size, "modified": modified}


def _may_hold(directory_key: str, prefix: str) -> bool:
    return directory_key.startswith(prefix) or prefix.startswith(directory_key)


def _remove_empty_parents(path: Path, top: Path) -> None:
    parent = path.parent
    while parent != top:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def copy_with_progress(source: Path, target: Path, rid: int) -> None:
    """Copy, reporting progress once per chunk (progress messages also keep a request alive)."""
    with open(source, "rb") as src, open(target, "xb") as dst:
        while chunk := src.read(COPY_CHUNK):
            dst.write(chunk)
            send({"id": rid, "progress": len(chunk)})


def answer(store: DirStore | None, request: Message) -> tuple[DirStore | None, Message]:
    """Handle one request; return the store (set up by hello) and the answer's fields."""
    op = request.get("op")
    if op == "hello":
        store = DirStore.from_hello(request)
        return store, {
            "protocol": PROTOCOL,
            "name": NAME,
            "version": VERSION,
            "capabilities": ["sha256", "progress"],
        }
    if store is None:
        raise Failure("other", f"{op!r} before hello")
    if op not in ("put", "get", "stat", "list", "delete"):
        raise Failure("other", f"unknown op {op!r}")
    return store, getattr(store, op)(request, request["id"])


def main() -> int:
    store: DirStore | None = None
    for line in sys.stdin.buffer:
        request = json.loads(line)
        rid = request.get("id")
        if request.get("op") == "close":
            send({"id": rid, "ok": True})
            return 0
        try:
            store, fields = answer(store, request)
            send({"id": rid, "ok": True, **fields})
        except Failure as exc:
            send({"id": rid, "ok": False, "error": exc.code, "message": str(exc)})
        except PermissionError as exc:
            send({"id": rid, "ok": False, "error": "access_denied", "message": str(exc)})
        except (OSError, KeyError, TypeError) as exc:
            send({"id": rid, "ok": False, "error": "other", "message": repr(exc)})
    return 0  # end of input: cavorite is gone, exit quietly


if __name__ == "__main__":
    sys.exit(main())
