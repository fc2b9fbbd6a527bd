"""Helpers for the plugin tests: small misbehaving plugins written on the fly, and stores over
them with consent given through the environment."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cavorite_py import consent
from cavorite_py.stores.plugin import PluginStore
from tests.fixtures.plugins import open_plugin_store

PY_PLUGIN = """\
#!{python}
import json, os, sys, time
def send(message):
    sys.stdout.write(json.dumps(message) + "\\n")
    sys.stdout.flush()
def ok(rid, **fields):
    send(dict(id=rid, ok=True, **fields))
HELLO = dict(protocol=1, name="fake", capabilities=[])
for line in sys.stdin:
    request = json.loads(line)
    rid, op = request["id"], request["op"]
{body}
    if op == "hello":
        ok(rid, **HELLO)
    elif op == "close":
        ok(rid)
        break
    else:
        ok(rid, found=False, keys=[])
"""

MakePlugin = Callable[..., Path]
OpenStore = Callable[..., PluginStore]


def write_executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def make_plugin(tmp_path: Path) -> MakePlugin:
    """``make_plugin(body)``: a Python plugin that answers every request with success, except
    where ``body`` (statements run for each request, with ``rid``, ``op``, ``request``, ``ok``,
    ``send`` and ``HELLO`` in scope; ``continue`` when handled) does otherwise."""
    counter = iter(range(1000))

    def make(body: str = "", name: str | None = None) -> Path:
        text = PY_PLUGIN.format(python=sys.executable, body=textwrap.indent(body, "    "))
        return write_executable(tmp_path / (name or f"plugin-{next(counter)}.py"), text)

    return make


@pytest.fixture
def open_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, consent_config: Path
) -> Iterator[OpenStore]:
    """``open_store(plugin, **options)``: a PluginStore over ``plugin``, allowed (or the
    program ``allowed``) through the environment, closed after the test."""
    stores: list[PluginStore] = []

    def open_(
        plugin: Path | str, address: str = "objects", allowed: Path | None = None, **options: Any
    ) -> PluginStore:
        monkeypatch.setenv(consent.ENV_VAR, str(allowed or plugin))
        store = open_plugin_store(plugin, address, tmp_path, **options)
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()


def gone(pid: int) -> bool:
    """Whether the process has ended (a zombie left for someone else to reap counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def reaped(pid: int) -> bool:
    """Whether our own child has ended and been waited for: no process, not even a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text()).endswith("\n"):
            return text.strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear within {timeout} s")
