"""The benchmark's loopback latency proxy: bytes pass both ways unchanged, and it stops by
itself."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

PROXY = Path(__file__).resolve().parents[2] / "benchmarks" / "latency_proxy.py"


def _echo_server() -> tuple[socket.socket, threading.Thread]:
    """A one-connection echo server on 127.0.0.1: answers each chunk with the same bytes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def test_requests_and_answers_pass_unchanged_and_the_proxy_stops_by_itself() -> None:
    server, thread = _echo_server()
    port = server.getsockname()[1]
    command = [sys.executable, str(PROXY), str(port), "--delay-ms", "5", "--lifetime", "2"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proxy:
        assert proxy.stdout is not None
        listening = int(proxy.stdout.readline())
        with socket.create_connection(("127.0.0.1", listening), timeout=5) as client:
            for message in (b"GET / HTTP/1.1\r\n\r\n", b"x" * 300_000):
                client.sendall(message)
                got = b""
                while len(got) < len(message):
                    got += client.recv(65536)
                assert got == message
        try:
            assert proxy.wait(timeout=10) == 0
        except subprocess.TimeoutExpired:
            proxy.kill()
            raise
    server.close()
    thread.join(timeout=5)
