"""A conversation with one plugin process: the handshake, then one request at a time.

Every way a plugin can fail the protocol (exiting, hanging past the timeout, sending something
that is not a protocol message, speaking another version) stops the process and leaves the session
failed: that request and every later one raise one ``PluginError`` line that names the plugin and
says what happened. Error responses (``not_found``...) are normal answers and leave it working.

A session is not thread-safe; its owner serialises calls.
"""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import signal
import tempfile
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError, ObjectNotFound, PluginError, StoreError
from ..fsutil import temp_path_for
from ..stores.base import ObjectInfo, Progress, StoreSettings
from . import goplugin, messages
from .child import MAX_LINE, Child, Eof, Overlong
from .messages import ProtocolViolation

T = TypeVar("T")

_STDERR_LINES = 5


def client_name() -> str:
    try:
        return f"cavorite-py {version('cavorite-py')}"
    except PackageNotFoundError:
        return "cavorite-py"


class Session:
    """A started plugin that completed the handshake.

    ``executable`` is the plugin's resolved path; ``timeout`` bounds the wait for each message
    of an answer, ``handshake_timeout`` the wait for the handshake's answer.
    """

    def __init__(
        self, executable: Path, settings: StoreSettings, timeout: float, handshake_timeout: float
    ) -> None:
        self.label = self.name = f"plugin {executable}"
        self._executable = executable
        self.timeout = timeout
        self.failure: str | None = None
        self._ids = itertools.count(1)
        self.tempdir = Path(tempfile.mkdtemp(prefix="cavorite-plugin-"))
        try:
            self._child = Child([str(executable)], settings.root, str(executable))
        except OSError as exc:
            shutil.rmtree(self.tempdir, ignore_errors=True)
            raise ConfigError(cannot_run(executable, exc)) from exc
        try:
            self.hello = self._handshake(settings, handshake_timeout)
        except BaseException:
            self.stop(grace=0.2)
            raise
        self.name = f"plugin {self.hello.name}"

    @property
    def pid(self) -> int:
        return self._child.pid

    def _handshake(self, settings: StoreSettings, timeout: float) -> messages.Hello:
        what = "the handshake"
        fields = messages.hello(settings, client_name())
        [reply] = self._exchange("hello", fields, what, timeout=timeout)
        hello = self._parse(what, messages.parse_hello, reply)
        if hello.protocol != messages.PROTOCOL_VERSION:
            raise self._fatal(
                f"speaks protocol version {hello.protocol}, but {client_name()} speaks version "
                f"{messages.PROTOCOL_VERSION}; use a release of the plugin for protocol version "
                f"{messages.PROTOCOL_VERSION}"
            )
        return hello

    # --- the store operations -------------------------------------------------------------

    def put(
        self, key: str, path: Path, info: ObjectInfo, overwrite: bool, progress: Progress | None
    ) -> None:
        fields = {
            "key": key,
            "path": os.path.abspath(path),
            "size": info.size,
            "sha256": info.sha256,
            "overwrite": overwrite,
        }
        self._exchange("put", fields, f"put {key!r}", progress=progress)

    def get(self, key: str, directory: Path | None = None) -> Path:
        """Have the plugin write ``key`` to a new file: a fresh temporary name (see
        :func:`cavorite_py.fsutil.temp_path_for`) in ``directory``, or in the session's private
        temporary directory."""
        target = temp_path_for((directory or self.tempdir) / "plugin-get")
        try:
            self._exchange("get", {"key": key, "path": str(target)}, f"get {key!r}")
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        if not target.is_file():
            raise self._fatal(f"answered get {key!r} with success but wrote no file at {target}")
        return target

    def stat(self, key: str) -> ObjectInfo | None:
        what = f"stat {key!r}"
        try:
            [reply] = self._exchange("stat", {"key": key}, what)
        except ObjectNotFound:
            return None  # a plugin may answer not_found instead of found: false
        return self._parse(what, messages.parse_stat, reply)

    def list_objects(self, prefix: str) -> list[tuple[str, ObjectInfo | None]]:
        """The keys under ``prefix``, each with its size and times where the plugin told them."""
        what = f"list {prefix!r}"
        listed: list[tuple[str, ObjectInfo | None]] = []
        for reply in self._exchange("list", {"prefix": prefix}, what, many=True):
            chunk, _ = self._parse(what, messages.parse_listing, reply)
            listed.extend(entry for entry in chunk if entry[0].startswith(prefix))
        return listed

    def delete(self, key: str) -> None:
        self._exchange("delete", {"key": key}, f"delete {key!r}")

    def close(self, timeout: float) -> None:
        """Ask the plugin to exit, then make sure it did."""
        try:
            if self.failure is None:
                self._exchange("close", {}, "close", timeout=timeout)
        except PluginError:
            pass  # a plugin that fails to say goodbye is stopped below all the same
        finally:
            self.stop(grace=timeout)

    def stop(self, grace: float) -> None:
        """Stop the process (see :meth:`Child.stop`) and remove the temporary directory."""
        self._child.stop(grace)
        shutil.rmtree(self.tempdir, ignore_errors=True)

    # --- the exchange ---------------------------------------------------------------------

    def _exchange(
        self,
        op: str,
        fields: Mapping[str, Any],
        what: str,
        *,
        timeout: float | None = None,
        progress: Progress | None = None,
        many: bool = False,
    ) -> list[dict[str, Any]]:
        """Send one request and collect its successful answers (several for ``many``, until one
        without ``"more": true``); an error answer raises its ``StoreError`` type."""
        if self.failure is not None:
            raise PluginError(self.failure)
        request_id = next(self._ids)
        try:
            line = messages.encode({"id": request_id, "op": op, **fields})
        except ValueError as exc:
            raise StoreError(f"cannot send {what} to {self.label}: {exc}") from exc
        done = False
        try:
            self._send(line, what)
            replies: list[dict[str, Any]] = []
            while True:
                reply = self._receive(request_id, what, timeout or self.timeout)
                if messages.is_progress(reply):
                    size = self._parse(what, messages.progress_bytes, reply)
                    if progress is not None:
                        progress(size)
                    continue
                if not self._parse(what, messages.is_ok, reply):
                    done = True
                    raise messages.error(reply, self.name)
                replies.append(reply)
                if not (many and reply.get("more") is True):
                    done = True
                    return replies
        except BaseException as exc:
            if not done and self.failure is None:
                self._fatal(f"was stopped: {type(exc).__name__} during {what}")
            raise

    def _send(self, line: bytes, what: str) -> None:
        try:
            self._child.send(line)
        except OSError as exc:
            raise self._crashed(what) from exc

    def _receive(self, request_id: int, what: str, timeout: float) -> dict[str, Any]:
        try:
            line = self._child.receive(timeout)
        except queue.Empty:
            setting = "plugin_handshake_timeout" if what == "the handshake" else "plugin_timeout"
            raise self._fatal(
                f"did not answer {what} within {timeout:g} s and was stopped "
                f"(raise {setting} in .cavorite/config if it needs longer)"
            ) from None
        if isinstance(line, Eof):
            raise self._crashed(what)
        if isinstance(line, Overlong):
            raise self._fatal(f"broke the protocol during {what}: a line over {MAX_LINE} bytes")
        if goplugin.is_handshake(line):
            raise self._go_plugin()
        reply = self._parse(what, messages.decode, line)
        if reply["id"] != request_id:
            raise self._fatal(
                f"broke the protocol during {what}: answered request id {reply['id']!r}, "
                f"expected {request_id}"
            )
        return reply

    def _parse(self, what: str, parse: Callable[[Any], T], value: Any) -> T:
        try:
            return parse(value)
        except ProtocolViolation as exc:
            hint = " (is it a cavorite-py store plugin?)" if what == "the handshake" else ""
            raise self._fatal(f"broke the protocol during {what}: {exc}{hint}") from None

    def _crashed(self, what: str) -> PluginError | ConfigError:
        code = self._child.exit_code(2.0)
        if code is None:
            event = f"closed its output during {what} and was stopped"
        elif code < 0:
            event = f"was killed by {_signal_name(-code)} during {what}"
        else:
            event = f"exited with code {code} during {what}"
        tail = self._child.stderr_tail(_STDERR_LINES)
        if goplugin.refused_to_run(tail):
            return self._go_plugin()
        if tail:
            event += "; its last stderr lines: " + " | ".join(_clip(t) for t in tail)
        return self._fatal(event)

    def _go_plugin(self) -> ConfigError:
        """Stop a Cavorite (Go) plugin, and return the error that says what to do instead."""
        self._fatal("is a Cavorite (Go) plugin")
        return ConfigError(goplugin.unsupported(self._executable))

    def _fatal(self, event: str) -> PluginError:
        """Record the failure, stop the process, and return the error to raise."""
        self.failure = f"{self.label} {event}"
        self.stop(grace=0.2)
        return PluginError(self.failure)


def cannot_run(executable: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError):
        reason = "its interpreter was not found (check its #! line)"
    elif isinstance(exc, PermissionError):
        reason = f"permission denied; make it executable with: chmod +x {executable}"
    return f"cannot run plugin {executable}: {reason}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
