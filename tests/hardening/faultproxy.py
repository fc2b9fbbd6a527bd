"""A loopback HTTP/1.1 proxy that injects network faults between an SDK and an emulator.

It listens on 127.0.0.1 only and forwards each client connection to one upstream connection,
request by request (keep-alive works), so that faults can hit chosen requests::

    with FaultProxy(upstream_port) as proxy:                 # http://127.0.0.1:{proxy.port}
        proxy.add(Fault("reset_request", method="PUT", at=100_000))
        ...
        assert proxy.applied("reset_request") == 1

Faults (each applies to the next ``times`` requests that match ``method`` and the regular
expression ``path`` on the request target, after skipping the first ``skip`` matches):

``reset_request``  forward ``at`` bytes of the request body, then reset the connection (RST)
``reset_response`` forward the response head and ``at`` bytes of its body, then reset
``status``         answer ``status`` (500, 503...) with an S3-style XML error, close
``stall``          take the request and answer nothing for ``seconds``, then close
``truncate``       forward the response head and ``at`` bytes of its body, then close cleanly
``flip``           forward the response with the body byte at ``at`` inverted
``flip_request``   forward the request with the body byte at ``at`` inverted
``slow``           forward the response body 64 KiB at a time, ``seconds`` after each piece

Everything is bounded: sockets time out after ``timeout`` seconds, stalls after ``seconds``,
``close()`` shuts every connection and joins every thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType

_HEAD_LIMIT = 64 * 1024
_PIECE = 64 * 1024
_ACTIONS = {
    "reset_request",
    "reset_response",
    "status",
    "stall",
    "truncate",
    "flip",
    "flip_request",
    "slow",
}
_REASONS = {500: "Internal Server Error", 503: "Service Unavailable", 502: "Bad Gateway"}
_CODES = {500: "InternalError", 503: "SlowDown", 502: "BadGateway"}


@dataclass
class Fault:
    action: str
    method: str | None = None
    path: str | None = None
    times: int = 1
    skip: int = 0
    at: int = 0
    status: int = 503
    seconds: float = 0.0
    applied: int = field(default=0, init=False)
    _seen: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise ValueError(f"unknown fault {self.action!r}")

    def matches(self, method: str, target: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        return self.path is None or re.search(self.path, target) is not None


@dataclass
class Exchange:
    """One request seen by the proxy."""

    method: str
    target: str
    fault: str | None = None
    status: int | None = None


class _Closed(Exception):
    """A peer closed its side, or the proxy is stopping."""


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        data = self.sock.recv(_PIECE)
        if not data:
            raise _Closed
        self.buf += data

    def head(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > _HEAD_LIMIT:
                raise _Closed
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head + b"\r\n\r\n"

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if len(self.buf) > _HEAD_LIMIT:
                raise _Closed
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def some(self, most: int) -> bytes:
        if not self.buf:
            self._fill()
        piece, self.buf = self.buf[:most], self.buf[most:]
        return piece

    def body(self, headers: dict[str, str], until_close: bool = False) -> Iterator[bytes]:
        """The raw bytes of a message body, in pieces, framing included (chunked)."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size_line = self.line()
                yield size_line
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:  # trailers, up to the empty line
                        trailer = self.line()
                        yield trailer
                        if trailer == b"\r\n":
                            return
                left = size + 2
                while left:
                    piece = self.some(min(left, _PIECE))
                    left -= len(piece)
                    yield piece
        elif "content-length" in headers:
            left = int(headers["content-length"])
            while left:
                piece = self.some(min(left, _PIECE))
                left -= len(piece)
                yield piece
        elif until_close:
            while True:
                try:
                    yield self.some(_PIECE)
                except _Closed:
                    return


def _parse(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def _without_expect(head: bytes) -> bytes:
    lines = head.split(b"\r\n")
    return b"\r\n".join(ln for ln in lines if not ln.lower().startswith(b"expect:"))


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass
class FaultProxy:
    upstream_port: int
    timeout: float = 30.0
    faults: list[Fault] = field(default_factory=list)
    log: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="faultproxy", daemon=True)
        self._acceptor.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ----------------------------------------------------------------- control

    def add(self, fault: Fault) -> Fault:
        """Arm a copy of ``fault`` (counters at zero) and return the copy."""
        fault = dataclasses.replace(fault)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def applied(self, action: str | None = None) -> int:
        with self._lock:
            return sum(1 for x in self.log if x.fault and (action is None or x.fault == action))

    def requests(self, method: str | None = None, path: str | None = None) -> list[Exchange]:
        with self._lock:
            return [
                x
                for x in self.log
                if (method is None or x.method == method)
                and (path is None or re.search(path, x.target))
            ]

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._acceptor.join(10)
        for thread in list(self._threads):
            thread.join(10)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- serving

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _track(self, sock: socket.socket) -> socket.socket:
        sock.settimeout(self.timeout)
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _pick(self, method: str, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.applied < fault.times and fault.matches(method, target):
                    fault._seen += 1
                    if fault._seen > fault.skip:
                        fault.applied += 1
                        return fault
            return None

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        try:
            upstream = self._track(socket.create_connection(("127.0.0.1", self.upstream_port)))
        except OSError:
            client.close()
            return
        reader, up_reader = _Reader(client), _Reader(upstream)
        try:
            while not self._stop.is_set():
                if not self._exchange(client, upstream, reader, up_reader):
                    break
        except (_Closed, OSError, ValueError):
            pass
        finally:
            for sock in (client, upstream):
                sock.close()
                with self._lock:
                    self._sockets.discard(sock)

    def _refuse(
        self,
        client: socket.socket,
        reader: _Reader,
        headers: dict[str, str],
        fault: Fault,
        method: str,
        expects: bool,
    ) -> None:
        """Answer ``fault.status`` without asking the server (after the body unless the client
        waits for a 100 Continue before sending it)."""
        if not expects:
            for _ in reader.body(headers):
                pass
        self._answer(client, fault.status, method)

    def _stall(
        self,
        client: socket.socket,
        reader: _Reader,
        headers: dict[str, str],
        fault: Fault,
        expects: bool,
    ) -> None:
        """Take the whole request, then answer nothing for ``fault.seconds``."""
        if expects:
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        for _ in reader.body(headers):
            pass
        deadline = time.monotonic() + fault.seconds
        while time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.05)

    def _exchange(
        self, client: socket.socket, upstream: socket.socket, reader: _Reader, up: _Reader
    ) -> bool:
        """Relay one request and its response; False when the connection must end."""
        head = reader.head()
        request_line, headers = _parse(head)
        method, target = request_line.split(" ")[:2]
        expects = headers.get("expect", "").lower() == "100-continue"
        fault = self._pick(method, target)
        exchange = Exchange(method, target, fault.action if fault else None)
        with self._lock:
            self.log.append(exchange)
        action = fault.action if fault else None

        if action == "status":
            assert fault is not None
            self._refuse(client, reader, headers, fault, method, expects)
            exchange.status = fault.status
            return False
        if action == "stall":
            assert fault is not None
            self._stall(client, reader, headers, fault, expects)
            return False

        upstream.sendall(_without_expect(head))
        if expects:
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        sent = 0
        for raw in reader.body(headers):
            piece = raw
            if action == "reset_request":
                assert fault is not None
                if sent + len(piece) >= fault.at:
                    upstream.sendall(piece[: fault.at - sent])
                    _reset(client)
                    return False
            elif action == "flip_request":
                assert fault is not None
                piece = _flipped(piece, fault.at - sent)
            upstream.sendall(piece)
            sent += len(piece)
        return self._relay_response(client, up, method, fault, exchange)

    def _relay_response(
        self,
        client: socket.socket,
        up: _Reader,
        method: str,
        fault: Fault | None,
        exchange: Exchange,
    ) -> bool:
        head = up.head()
        status_line, headers = _parse(head)
        status = int(status_line.split(" ")[1])
        exchange.status = status
        client.sendall(head)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return True
        action = fault.action if fault else None
        sent = 0
        closing = "close" in headers.get("connection", "").lower()
        for raw in up.body(headers, until_close=closing):
            piece = raw
            if action in ("reset_response", "truncate"):
                assert fault is not None
                if sent + len(piece) >= fault.at:
                    client.sendall(piece[: fault.at - sent])
                    if action == "reset_response":
                        _reset(client)
                    else:
                        client.shutdown(socket.SHUT_RDWR)
                    return False
            elif action == "flip":
                assert fault is not None
                piece = _flipped(piece, fault.at - sent)
            elif action == "slow":
                assert fault is not None
                if self._stop.wait(fault.seconds):
                    return False
            client.sendall(piece)
            sent += len(piece)
        return not closing

    def _answer(self, client: socket.socket, status: int, method: str) -> None:
        code = _CODES.get(status, "InternalError")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>injected by the fault proxy</Message>"
            "<RequestId>fault</RequestId></Error>"
        ).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            "Content-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        client.sendall(head if method == "HEAD" else head + body)


def _flipped(piece: bytes, offset: int) -> bytes:
    if 0 <= offset < len(piece):
        return piece[:offset] + bytes([piece[offset] ^ 0xFF]) + piece[offset + 1 :]
    return piece
